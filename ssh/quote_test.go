package ssh

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"":                "''",
		"docker":          "docker",
		"--format=json":   "--format=json",
		"/var/lib/x.yml":  "/var/lib/x.yml",
		"user@host:22,b":  "user@host:22,b",
		"a b":             "'a b'",
		"it's":            `'it'\''s'`,
		"$(id)":           "'$(id)'",
		"FOO=bar":         "'FOO=bar'",
		"=ls":             "'=ls'",
		"if":              "'if'",
		"~":               "'~'",
		"{{json .}}":      "'{{json .}}'",
		"line1\nline2":    "'line1\nline2'",
		"-n":              "-n",
		"a=b=c/../d%20+x": "'a=b=c/../d%20+x'",
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
	if got := Join([]string{"docker", "run", "--name", "my app", ""}); got != "docker run --name 'my app' ''" {
		t.Errorf("Join = %s", got)
	}
}

// shellPrint has /bin/sh print each word of line, NUL-terminated.
func shellPrint(t *testing.T, words string) []byte {
	t.Helper()
	out, err := exec.Command("/bin/sh", "-c", `printf '%s\0' `+words).Output()
	if err != nil {
		t.Fatalf("sh -c failed for %q: %v", words, err)
	}
	return out
}

// FuzzQuote proves that /bin/sh turns Quote(s) back into exactly s: no
// input can end the quoting, expand, or split into several words.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"plain", "a b", "'", "''"} {
		f.Add(s) // more seeds in testdata/fuzz/FuzzQuote
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.IndexByte(s, 0) >= 0 {
			return // outside Quote's domain: NUL cannot be part of an argv
		}
		if got, want := shellPrint(t, Quote(s)), s+"\x00"; string(got) != want {
			t.Fatalf("sh printed %q for Quote(%q) = %s", got, s, Quote(s))
		}
	})
}

// FuzzJoin checks that two joined arguments stay two arguments.
func FuzzJoin(f *testing.F) {
	f.Add("a", "b")
	f.Add("' ;", "$(id) `id`")
	f.Add("", "\n")
	f.Add("FOO=1", "\\'\"")
	f.Fuzz(func(t *testing.T, a, b string) {
		if strings.IndexByte(a+b, 0) >= 0 {
			return // outside Quote's domain: NUL cannot be part of an argv
		}
		want := []byte(a + "\x00" + b + "\x00")
		if got := shellPrint(t, Join([]string{a, b})); !bytes.Equal(got, want) {
			t.Fatalf("sh printed %q for Join(%q, %q)", got, a, b)
		}
	})
}

// TestJoinCommandPosition checks words that a shell would treat specially
// as the first word of a command: they must still run as commands.
func TestJoinCommandPosition(t *testing.T) {
	bin := t.TempDir()
	for _, name := range []string{"if", "FOO=bar", "time", "=ls", "done"} {
		script := "#!/bin/sh\nprintf 'ran %s' \"$1\"\n"
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("/bin/sh", "-c", Join([]string{name, "arg"}))
		cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin"}
		out, err := cmd.CombinedOutput()
		if err != nil || string(out) != "ran arg" {
			t.Errorf("Join(%q, arg) = %s: got %q, %v", name, Join([]string{name, "arg"}), out, err)
		}
	}
}
