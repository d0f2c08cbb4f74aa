package command

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// runMain runs drover in-process with args and returns stdout, stderr and
// the exit code.
func runMain(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := map[string]string{"HOME": t.TempDir(), "NO_COLOR": "1"}
	code := Main(context.Background(), append([]string{"drover"}, args...), IO{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut,
		Environ: func(k string) string { return env[k] },
	})
	return out.String(), errOut.String(), code
}

// golden compares got with testdata/NAME, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./command/ -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test ./command/ -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestHelp keeps the help of every command in golden files: flags, their
// defaults and usage lines are the interface users read.
func TestHelp(t *testing.T) {
	var walk func(prefix []string, cmds []*cli.Command)
	seen := 0
	walk = func(prefix []string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Hidden || c.Name == "help" {
				continue
			}
			path := append(append([]string{}, prefix...), c.Name)
			seen++
			t.Run(strings.Join(path, "_"), func(t *testing.T) {
				out, errOut, code := runMain(t, append(path, "--help")...)
				if code != 0 {
					t.Fatalf("drover %s --help: exit %d\n%s", strings.Join(path, " "), code, errOut)
				}
				golden(t, filepath.Join("help", strings.Join(path, "_")+".txt"), out)
			})
			walk(path, c.Subcommands)
		}
	}
	walk(nil, NewApp(IO{}).Commands)
	if seen < 30 {
		t.Errorf("only %d commands walked", seen)
	}
	out, _, code := runMain(t, "--help")
	if code != 0 {
		t.Fatalf("drover --help: exit %d", code)
	}
	golden(t, "help/drover.txt", out)
}

func TestCompletion(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		out, errOut, code := runMain(t, "completion", sh)
		if code != 0 || !strings.Contains(out, "drover") {
			t.Errorf("completion %s: exit %d\n%s%s", sh, code, out, errOut)
		}
	}
	if _, _, code := runMain(t, "completion", "tcsh"); code == 0 {
		t.Errorf("completion tcsh: exit 0, want an error")
	}
	// The scripts ask drover for candidates. (urfave/cli reads os.Args to
	// complete subcommands, so the test sets it as the shell would.)
	args := []string{"stack", "--generate-bash-completion"}
	saved := os.Args
	os.Args = append([]string{"drover"}, args...)
	defer func() { os.Args = saved }()
	out, _, _ := runMain(t, args...)
	for _, want := range []string{"deploy", "ps", "rm"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("candidates after `stack` lack %q:\n%s", want, out)
		}
	}
}

func TestVersion(t *testing.T) {
	out, _, code := runMain(t, "version")
	if code != 0 || !strings.HasPrefix(out, "drover "+Version+" (commit ") || !strings.Contains(out, "go1.") {
		t.Errorf("version: exit %d, %q", code, out)
	}
}
