package enginetest

import (
	"archive/tar"
	"bytes"
	"strings"
	"testing"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
)

func tarOf(t *testing.T, files map[string]string) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, name := range sortedNames(files) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg})
		tw.Write([]byte(files[name]))
	}
	tw.Close()
	return &b
}

// A build through drover's client: the same inputs give the same ID, the
// image is listed by its labels (untagged until tagged), its last tag
// cannot go while a container uses it, and a context without its
// Dockerfile fails as the classic builder does.
func TestBuildTagRemove(t *testing.T) {
	_, h, e := oneHost(t)
	files := map[string]string{"Dockerfile": "FROM scratch\n", "app": "v1"}
	o := engine.BuildOptions{Dockerfile: "Dockerfile", Labels: map[string]string{"drover.cluster": "test", "k": "v"}}
	id, err := e.Build(ctx, tarOf(t, files), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := e.Build(ctx, tarOf(t, files), o, nil); again != id {
		t.Errorf("an unchanged build gave %s, then %s", id, again)
	}
	files["app"] = "v2"
	if other, _ := e.Build(ctx, tarOf(t, files), o, nil); other == id {
		t.Error("a changed file gave the same ID")
	}
	if b := h.Builds(); len(b) != 3 || b[0].ContextBytes == 0 || b[0].Labels["k"] != "v" || strings.Join(b[0].Files, ",") != "Dockerfile,app" {
		t.Errorf("builds %+v", b)
	}
	list, err := e.ImagesWithLabels(ctx, map[string]string{"drover.cluster": "test", "k": "v"})
	if err != nil || len(list) != 2 || len(list[0].Tags)+len(list[1].Tags) != 0 {
		t.Fatalf("labelled images %+v, %v", list, err)
	}
	if none, _ := e.ImagesWithLabels(ctx, map[string]string{"drover.cluster": "test", "k": "other"}); len(none) != 0 {
		t.Errorf("a label filter that matches nothing listed %+v", none)
	}
	if err := e.Tag(ctx, id, "s_web:one"); err != nil {
		t.Fatal(err)
	}
	if err := e.Tag(ctx, id, "s_web:two"); err != nil {
		t.Fatal(err)
	}
	if _, err := create(e, "web.1", &cluster.ContainerSpec{Image: "s_web:one"}); err != nil {
		t.Fatal(err)
	}
	if err := e.RemoveImage(ctx, "s_web:two"); err != nil {
		t.Errorf("a tag of an image with another: %v", err)
	}
	if err := e.RemoveImage(ctx, "s_web:one"); !engine.IsConflict(err) {
		t.Errorf("the last tag of an image in use: %v, want a conflict", err)
	}
	if _, err := e.Build(ctx, tarOf(t, map[string]string{"app": "x"}), o, nil); err == nil || !strings.Contains(err.Error(), "Cannot locate specified Dockerfile") {
		t.Errorf("no Dockerfile: %v", err)
	}
}
