package command

import (
	"testing"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
	"github.com/drover-sh/drover/imagebuild"
	"github.com/drover-sh/drover/state"
)

func builtService(gen int, id string) (*cluster.Service, state.GenerationMeta) {
	svc := &cluster.Service{Stack: "s", Name: "web", Generation: gen, Container: cluster.ContainerSpec{Image: imagebuild.Ref("s_web", id)}}
	return svc, state.GenerationMeta{Generation: gen, Build: &state.BuildRecord{Image: svc.Container.Image, ID: id}}
}

// TestPruneKeeps: the current generation's build, the keep-1 before it
// and the rollback target stay; older builds and those of services the
// state no longer has go.
func TestPruneKeeps(t *testing.T) {
	sv := &state.Service{}
	for gen, id := range []string{"sha256:111111111111a", "sha256:222222222222b", "sha256:333333333333c", "sha256:444444444444d"} {
		spec, meta := builtService(gen+1, id)
		sv.Push(spec, meta)
	}
	s := state.New("c")
	s.Stacks["s"] = &state.Stack{Name: "s", Services: map[string]*state.Service{"web": sv}}
	images := []engine.LabelledImage{
		{ID: "sha256:111111111111a", Labels: map[string]string{imagebuild.LabelService: "s_web"}},
		{ID: "sha256:222222222222b", Labels: map[string]string{imagebuild.LabelService: "s_web"}},
		{ID: "sha256:333333333333c", Labels: map[string]string{imagebuild.LabelService: "s_web"}},
		{ID: "sha256:444444444444d", Labels: map[string]string{imagebuild.LabelService: "s_web"}},
		{ID: "sha256:555555555555e", Labels: map[string]string{imagebuild.LabelService: "gone_api"}},
		{ID: "sha256:666666666666f", Labels: map[string]string{}},
	}
	ids := func(ims []engine.LabelledImage) []string {
		var out []string
		for _, im := range ims {
			out = append(out, im.ID[7:8])
		}
		return out
	}
	for _, tc := range []struct {
		keep int
		want string
	}{
		{1, "125"}, // the current (4) and its rollback target (3) stay
		{2, "125"},
		{3, "15"},
		{9, "5"},
	} {
		got := ""
		for _, id := range ids(pruneCandidates(images, keptBuilds(s, tc.keep))) {
			got += id
		}
		if got != tc.want {
			t.Errorf("keep %d: prune %s, want %s", tc.keep, got, tc.want)
		}
	}
}

// TestRecordBuild: a new build is recorded with the generation it made;
// an unchanged one leaves the state as it was.
func TestRecordBuild(t *testing.T) {
	spec, _ := builtService(1, "sha256:aaaaaaaaaaaa1")
	sv := &state.Service{}
	sv.Push(spec, state.GenerationMeta{Generation: 1})
	s := state.New("c")
	s.Stacks["s"] = &state.Stack{Name: "s", Services: map[string]*state.Service{"web": sv}}
	d := &deployBuild{stack: &cluster.Stack{Name: "s"}, results: []imagebuild.Result{{Service: "s_web", Image: spec.Container.Image, ID: "sha256:aaaaaaaaaaaa1", On: "h1"}}}
	d.record(s)
	b := sv.Meta.Build
	if b == nil || b.ID != "sha256:aaaaaaaaaaaa1" || b.On != "h1" {
		t.Fatalf("recorded %+v", b)
	}
	d.record(s)
	if sv.Meta.Build != b {
		t.Error("an unchanged build was recorded again")
	}
	d.results[0].Image = "s_web:other"
	d.results[0].ID = "sha256:other"
	d.record(s)
	if sv.Meta.Build != b {
		t.Error("a build of another image than the current generation's was recorded")
	}
}
