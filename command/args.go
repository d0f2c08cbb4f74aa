package command

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed moves a leaf command's flags that follow its positional
// arguments in front of them, so `drover stack deploy demo -c x.yml
// --prune` works as it does with the docker CLI. urfave/cli v2 stops
// parsing flags at the first positional argument; everything after "--"
// is left alone.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	rest := args[1:]
	// Global flags come first; copy them (and their values) through.
	cmds := app.Commands
	flags := app.Flags
	i := 0
	for i < len(rest) {
		a := rest[i]
		if strings.HasPrefix(a, "-") && a != "-" && a != "--" {
			out = append(out, a)
			if takesValue(flags, a) && !strings.Contains(a, "=") && i+1 < len(rest) {
				out = append(out, rest[i+1])
				i++
			}
			i++
			continue
		}
		cmd := findCommand(cmds, a)
		if cmd == nil {
			break
		}
		out = append(out, a)
		i++
		if len(cmd.Subcommands) > 0 {
			cmds, flags = cmd.Subcommands, cmd.Flags
			continue
		}
		// A leaf: reorder what follows. Global flags given after the
		// command (drover reconcile --log-format json) go to the front.
		var gl, fl, pos []string
		for j := i; j < len(rest); j++ {
			b := rest[j]
			if b == "--" {
				// urfave drops a "--" only ahead of every positional.
				fl = append(fl, "--")
				pos = append(pos, rest[j+1:]...)
				break
			}
			if strings.HasPrefix(b, "-") && b != "-" {
				if !hasFlag(cmd.Flags, b) && hasFlag(app.Flags, b) {
					gl = append(gl, b)
					if takesValue(app.Flags, b) && !strings.Contains(b, "=") && j+1 < len(rest) {
						gl = append(gl, rest[j+1])
						j++
					}
					continue
				}
				fl = append(fl, b)
				if takesValue(cmd.Flags, b) && !strings.Contains(b, "=") && j+1 < len(rest) {
					fl = append(fl, rest[j+1])
					j++
				}
				continue
			}
			pos = append(pos, b)
		}
		out = append(append([]string{out[0]}, gl...), out[1:]...)
		return append(append(out, fl...), pos...)
	}
	return append(out, rest[i:]...)
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.Name == name {
			return c
		}
		for _, a := range c.Aliases {
			if a == name {
				return c
			}
		}
	}
	return nil
}

// takesValue reports whether the flag named by arg ("-c", "--timeout")
// expects a value.
func takesValue(flags []cli.Flag, arg string) bool {
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				if d, ok := f.(cli.DocGenerationFlag); ok {
					return d.TakesValue()
				}
				return false
			}
		}
	}
	return false
}

// hasFlag reports whether arg ("-c", "--timeout=5s") names one of flags.
func hasFlag(flags []cli.Flag, arg string) bool {
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}
