package command

import (
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// testApp is a small command tree shaped like drover's: global flags with
// and without values, a group with a leaf (and an alias), another leaf
// whose arguments may contain "--".
func testApp(got *[]string, flags *map[string]any) *cli.App {
	record := func(c *cli.Context) error {
		*got = c.Args().Slice()
		*flags = map[string]any{
			"compose-file": c.StringSlice("compose-file"), "prune": c.Bool("prune"),
			"timeout": c.Duration("timeout").String(), "tail": c.String("tail"), "follow": c.Bool("follow"),
		}
		return nil
	}
	return &cli.App{
		Name: "drover", Writer: io.Discard, ErrWriter: io.Discard,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "inventory", Aliases: []string{"i"}},
			&cli.IntFlag{Name: "parallel"},
			&cli.BoolFlag{Name: "accept-new-host-keys"},
		},
		Commands: []*cli.Command{
			{Name: "stack", Subcommands: []*cli.Command{{
				Name: "deploy", Aliases: []string{"up"}, Action: record,
				Flags: []cli.Flag{
					&cli.StringSliceFlag{Name: "compose-file", Aliases: []string{"c"}},
					&cli.BoolFlag{Name: "prune"},
					&cli.DurationFlag{Name: "timeout"},
				},
			}}},
			{Name: "logs", Action: record, Flags: []cli.Flag{
				&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}},
				&cli.StringFlag{Name: "tail"},
			}},
		},
	}
}

func TestInterspersed(t *testing.T) {
	cases := []struct{ in, want string }{
		// flags after the positional argument move before it
		{"drover stack deploy demo -c x.yml --prune", "drover stack deploy -c x.yml --prune demo"},
		// values of value flags stay with their flag, in order
		{"drover stack deploy demo --compose-file a.yml -c b.yml --timeout 5m", "drover stack deploy --compose-file a.yml -c b.yml --timeout 5m demo"},
		{"drover stack deploy demo --compose-file=a.yml --prune", "drover stack deploy --compose-file=a.yml --prune demo"},
		// a value that looks like a command or a flag is still a value
		{"drover stack deploy demo -c deploy", "drover stack deploy -c deploy demo"},
		{"drover stack deploy demo -c -", "drover stack deploy -c - demo"},
		// "-" alone is positional
		{"drover stack deploy - --prune", "drover stack deploy --prune -"},
		// an alias of the leaf
		{"drover stack up demo --prune", "drover stack up --prune demo"},
		// "--" ends the flags: what follows stays as it is (how the
		// reordered line parses is checked in TestInterspersedParses)
		{"drover logs -- web --follow", "drover logs -- web --follow"},
		// global flags (and their values) before the command are untouched
		{"drover -i inv.yml --parallel 4 stack deploy demo --prune", "drover -i inv.yml --parallel 4 stack deploy --prune demo"},
		{"drover -i stack --accept-new-host-keys stack deploy demo -c x.yml", "drover -i stack --accept-new-host-keys stack deploy -c x.yml demo"},
		// global flags after the command move to the front
		{"drover stack deploy demo --parallel 4 -c x.yml", "drover --parallel 4 stack deploy -c x.yml demo"},
		{"drover -i a.yml stack deploy demo --accept-new-host-keys", "drover --accept-new-host-keys -i a.yml stack deploy demo"},
		// already in order, unknown commands, nothing to do
		{"drover stack deploy --prune demo", "drover stack deploy --prune demo"},
		{"drover nope x --prune", "drover nope x --prune"},
		{"drover stack", "drover stack"},
		{"drover", "drover"},
	}
	var args []string
	var flags map[string]any
	app := testApp(&args, &flags)
	for _, c := range cases {
		got := strings.Join(interspersed(app, strings.Fields(c.in)), " ")
		if got != c.want {
			t.Errorf("interspersed(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

// The reordered argv parses as intended.
func TestInterspersedParses(t *testing.T) {
	var args []string
	var flags map[string]any
	app := testApp(&args, &flags)
	in := strings.Fields("drover -i inv.yml stack deploy demo -c a.yml --timeout 90s -c b.yml --prune")
	if err := app.Run(interspersed(app, in)); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(args, []string{"demo"}) {
		t.Errorf("args %q", args)
	}
	want := map[string]any{"compose-file": []string{"a.yml", "b.yml"}, "prune": true, "timeout": "1m30s", "tail": "", "follow": false}
	if !reflect.DeepEqual(flags, want) {
		t.Errorf("flags %v, want %v", flags, want)
	}
	// "--" after a positional argument: the flags before it are moved, the
	// "--" still ends the flags, and is not itself an argument.
	in = strings.Fields("drover logs web --tail 5 -- --follow")
	if err := app.Run(interspersed(app, in)); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(args, []string{"web", "--follow"}) || flags["follow"] != false || flags["tail"] != "5" {
		t.Errorf("after --: args %q flags %v", args, flags)
	}
}

// drover's own tree: stack deploy takes -c with a value.
func TestInterspersedRealTree(t *testing.T) {
	app := NewApp(IO{Stdout: io.Discard, Stderr: io.Discard})
	got := interspersed(app, strings.Fields("drover stack deploy demo -c x.yml --prune --timeout 5m"))
	want := strings.Fields("drover stack deploy -c x.yml --prune --timeout 5m demo")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q want %q", got, want)
	}
}
