package command

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
	"github.com/drover-sh/drover/engine/enginetest"
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

// fakeStore is an image store (the local engine's) with images and the
// refs whose removal fails.
type fakeStore struct {
	images  []engine.LabelledImage
	fail    map[string]error
	removed []string
}

func (f *fakeStore) ImagesLabelled(_ context.Context, label, value string) ([]engine.LabelledImage, error) {
	var out []engine.LabelledImage
	for _, im := range f.images {
		if im.Labels[label] == value {
			out = append(out, im)
		}
	}
	return out, nil
}

func (f *fakeStore) RemoveImage(_ context.Context, ref string) error {
	if err := f.fail[ref]; err != nil {
		return err
	}
	f.removed = append(f.removed, ref)
	return nil
}

// TestPruneStore: on a host's engine (the fake, through the Engine API)
// and on the local engine, only this cluster's built images no kept build
// is are removed, each tag of them; one in use stays, reported so; a
// dry run removes nothing.
func TestPruneStore(t *testing.T) {
	c := enginetest.NewCluster(1)
	defer c.Close()
	h := c.Host("h1")
	mine := map[string]string{imagebuild.LabelCluster: "test", imagebuild.LabelService: "s_web"}
	oldID := h.AddLabelledImage("s_web:old", mine)
	curID := h.AddLabelledImage("s_web:cur", mine)
	h.AddLabelledImage("s_web:theirs", map[string]string{imagebuild.LabelCluster: "other", imagebuild.LabelService: "s_web"})
	h.AddImage("plain:1")
	kept := map[string]map[string]bool{"s_web": {curID: true}}
	ctx := context.Background()
	var rows []pruneRow
	add := func(r pruneRow) { rows = append(rows, r) }

	pruneStore(ctx, "h1", c.Engine("h1"), "test", kept, true, add)
	if len(rows) != 1 || rows[0].Image != "s_web:old" || rows[0].Result != pruneWould || len(h.Images()) != 4 {
		t.Fatalf("dry run: %+v, images %v", rows, h.Images())
	}
	rows = nil
	pruneStore(ctx, "h1", c.Engine("h1"), "test", kept, false, add)
	if len(rows) != 1 || rows[0].Result != pruneRemoved || rows[0].ID != oldID {
		t.Errorf("prune: %+v", rows)
	}
	if _, ok := h.Images()["s_web:old"]; ok || len(h.Images()) != 3 {
		t.Errorf("after prune the host has %v", h.Images())
	}
	if !strings.Contains(strings.Join(h.Requests(), "\n"), "DELETE /images/s_web:old") {
		t.Errorf("requests %v", h.Requests())
	}
	h.AddLabelledImage("s_web:old", mine)
	h.FailNextWith("DELETE /images/s_web:old", 409, `conflict: unable to remove repository reference "s_web:old" (must force) - container 0123 is using its referenced image 0456`)
	rows = nil
	pruneStore(ctx, "h1", c.Engine("h1"), "test", kept, false, add)
	if len(rows) != 1 || rows[0].Result != pruneInUse {
		t.Errorf("in use on the host: %+v", rows)
	}

	local := &fakeStore{
		images: []engine.LabelledImage{
			{ID: "sha256:1", Tags: []string{"s_web:1", "s_web:one"}, Labels: mine},
			{ID: "sha256:2", Tags: []string{"s_web:2"}, Labels: mine},
			{ID: "sha256:3", Labels: mine}, // untagged: removed by ID
			{ID: curID, Tags: []string{"s_web:cur"}, Labels: mine},
		},
		fail: map[string]error{"s_web:2": fmt.Errorf("s_web:2: %w", imagebuild.ErrImageInUse)},
	}
	rows = nil
	pruneStore(ctx, localEngineRow, local, "test", kept, false, add)
	got := map[string]pruneResult{}
	for _, r := range rows {
		got[r.Image] = r.Result
		if r.Host != "local engine" {
			t.Errorf("row %+v: host", r)
		}
	}
	if len(got) != 4 || got["s_web:1"] != pruneRemoved || got["s_web:one"] != pruneRemoved || got["s_web:2"] != pruneInUse || got["sha256:3"] != pruneRemoved {
		t.Errorf("local engine: %v", got)
	}
}

// TestMultiPlatformBuildKept: a multi-platform build is recorded with
// its variants, and prune keeps every variant of kept generations and
// removes those of older ones.
func TestMultiPlatformBuildKept(t *testing.T) {
	vs := []imagebuild.Variant{{Platform: "linux/386", ID: "sha256:bbbbbbbbbbbb1", Image: "s_web:bbbbbbbbbbbb"}, {Platform: "linux/amd64", ID: "sha256:aaaaaaaaaaaa1", Image: "s_web:aaaaaaaaaaaa"}}
	set := imagebuild.SetID(vs)
	old, oldMeta := builtService(1, "sha256:cccccccccccc1")
	sv := &state.Service{}
	sv.Push(old, oldMeta)
	spec, _ := builtService(2, set)
	sv.Push(spec, state.GenerationMeta{Generation: 2, Parent: 1})
	s := state.New("c")
	s.Stacks["s"] = &state.Stack{Name: "s", Services: map[string]*state.Service{"web": sv}}
	d := &deployBuild{stack: &cluster.Stack{Name: "s"}, results: []imagebuild.Result{{Service: "s_web", Image: spec.Container.Image, ID: set, Variants: vs}}}
	d.record(s)
	b := sv.Meta.Build
	if b == nil || b.ID != set || len(b.Variants) != 2 || b.Variants["linux/386"] != "sha256:bbbbbbbbbbbb1" || b.Variants["linux/amd64"] != "sha256:aaaaaaaaaaaa1" {
		t.Fatalf("recorded %+v", b)
	}
	if ps := d.platforms()[spec.Container.Image]; len(ps) != 2 || ps[0].Arch != "386" || ps[1].Arch != "amd64" {
		t.Errorf("placement sees %v", ps)
	}
	images := []engine.LabelledImage{
		{ID: "sha256:aaaaaaaaaaaa1", Labels: map[string]string{imagebuild.LabelService: "s_web"}},
		// The 386 variant is a platform-corrected copy of 000…: that stays.
		{ID: "sha256:bbbbbbbbbbbb1", Labels: map[string]string{imagebuild.LabelService: "s_web", imagebuild.LabelPlatformOf: "sha256:000000000000b"}},
		{ID: "sha256:000000000000b", Labels: map[string]string{imagebuild.LabelService: "s_web"}},
		{ID: "sha256:cccccccccccc1", Labels: map[string]string{imagebuild.LabelService: "s_web"}},
	}
	if got := pruneCandidates(images, keptBuilds(s, 1)); len(got) != 0 {
		t.Errorf("keep 1 (the rollback target stays): prune %v", got)
	}
	// A third generation: the multi-platform one is the rollback target
	// and stays, the first goes.
	third, meta := builtService(3, "sha256:dddddddddddd1")
	meta.Parent = 2
	sv.Push(third, meta)
	got := pruneCandidates(append(images, engine.LabelledImage{ID: "sha256:dddddddddddd1", Labels: map[string]string{imagebuild.LabelService: "s_web"}}), keptBuilds(s, 1))
	if len(got) != 1 || got[0].ID != "sha256:cccccccccccc1" {
		t.Errorf("keep 1 after a third generation: prune %v", got)
	}
}

// TestPlanKeepsVariants: a saved plan records a multi-platform build's
// variants, and applying it ships them as variants.
func TestPlanKeepsVariants(t *testing.T) {
	vs := []imagebuild.Variant{{Platform: "linux/386", ID: "sha256:b", Image: "s_web:b"}, {Platform: "linux/amd64", ID: "sha256:a", Image: "s_web:a"}}
	d := &deployBuild{results: []imagebuild.Result{{Service: "s_web", Image: "s_web:set", ID: imagebuild.SetID(vs), Variants: vs},
		{Service: "s_api", Image: "s_api:1", ID: "sha256:1", Variants: vs[1:]}}}
	saved := d.saved()
	if len(saved[0].Variants) != 2 || len(saved[1].Variants) != 0 {
		t.Fatalf("saved %+v", saved)
	}
	back := planDeployBuild(nil, &savedPlan{Stack: "s", Builds: saved})
	if !back.results[0].Multi() || back.results[0].Variants[1].Image != "s_web:a" || back.results[1].Multi() {
		t.Errorf("from the plan %+v", back.results)
	}
}
