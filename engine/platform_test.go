package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/ssh"
)

func TestParseImageFacts(t *testing.T) {
	cases := []struct {
		name, out string
		want      ImageFacts
	}{
		{"engine 20.10, no variant", `{"Id":"sha256:73a3","RepoTags":["drover-test/app:v1"],"Os":"linux","Architecture":"amd64","Size":4215630}`,
			ImageFacts{ID: "sha256:73a3", Platform: cluster.Platform{OS: "linux", Arch: "amd64"}, Size: 4215630}},
		{"arm v7", `{"Id":"sha256:aa","Os":"linux","Architecture":"arm","Variant":"v7","Size":1}`,
			ImageFacts{ID: "sha256:aa", Platform: cluster.Platform{OS: "linux", Arch: "arm", Variant: "v7"}, Size: 1}},
		{"arm64 v8 normalised", `{"Id":"sha256:bb","Os":"linux","Architecture":"arm64","Variant":"v8","Size":2}`,
			ImageFacts{ID: "sha256:bb", Platform: cluster.Platform{OS: "linux", Arch: "arm64"}, Size: 2}},
	}
	for _, c := range cases {
		got, err := ParseImageFacts([]byte(c.out + "\n"))
		if err != nil || got != c.want {
			t.Errorf("%s: got %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
	if _, err := ParseImageFacts([]byte("Template parsing error")); err == nil {
		t.Error("garbage parsed")
	}
}

func TestGoVariant(t *testing.T) {
	for in, want := range map[string]string{"armv7l": "v7", "armv6l": "v6", "aarch64": "", "x86_64": ""} {
		if got := GoVariant(in); got != want {
			t.Errorf("GoVariant(%s) = %q, want %q", in, got, want)
		}
	}
}

// inspectRunner answers `docker image inspect --format {{json .}} REF...`
// as docker does: one line per image found, in the order asked, and exit 1
// naming the ones missing.
type inspectRunner struct {
	images map[string]string // ref → JSON line
	calls  int
}

func (r *inspectRunner) Run(_ context.Context, cmd ssh.Cmd) (ssh.Result, error) {
	r.calls++
	var out, errOut strings.Builder
	for _, ref := range cmd.Args[5:] { // docker image inspect --format {{json .}}
		if j, ok := r.images[ref]; ok {
			out.WriteString(j + "\n")
		} else {
			errOut.WriteString("Error: No such image: " + ref + "\n")
		}
	}
	if errOut.Len() > 0 {
		return ssh.Result{Stdout: []byte(out.String())}, &ssh.ExitError{Host: "h1", Args: cmd.Args[:3], Code: 1, Stderr: errOut.String()}
	}
	return ssh.Result{Stdout: []byte(out.String())}, nil
}

func TestImagesFacts(t *testing.T) {
	r := &inspectRunner{images: map[string]string{
		"a:v1": `{"Id":"sha256:aa","Os":"linux","Architecture":"amd64","Size":1}`,
		"b:v1": `{"Id":"sha256:bb","Os":"linux","Architecture":"arm64","Variant":"v8","Size":2}`,
	}}
	e := &Engine{Host: "h1", R: r}
	got, err := e.ImagesFacts(context.Background(), []string{"a:v1", "b:v1"})
	if err != nil || r.calls != 1 || got["a:v1"].ID != "sha256:aa" || got["b:v1"].Platform.String() != "linux/arm64" {
		t.Fatalf("all present: %+v, %v after %d calls", got, err, r.calls)
	}
	// One gone since the observation: the lines no longer say which is
	// which, so each is asked alone.
	r.calls = 0
	got, err = e.ImagesFacts(context.Background(), []string{"gone:v1", "b:v1"})
	if err != nil || len(got) != 1 || got["b:v1"].ID != "sha256:bb" || r.calls != 3 {
		t.Fatalf("one missing: %+v, %v after %d calls", got, err, r.calls)
	}
}
