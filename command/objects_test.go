package command

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/state"
)

func objectKey(t *testing.T) *state.Key {
	t.Helper()
	k, err := state.ParseKey(state.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func stackWithFiles(refs []cluster.ObjectRef, files ...cluster.FileMount) *cluster.Stack {
	return &cluster.Stack{Name: "st", Objects: refs, Services: map[string]*cluster.Service{
		"web": {Stack: "st", Name: "web", Container: cluster.ContainerSpec{Image: "x", Files: files}},
	}}
}

func TestResolveObjects(t *testing.T) {
	k := objectKey(t)
	now := time.Now().UTC()
	s := state.New("c")
	ext, _, _ := s.PutContent(cluster.KindConfig, "shared", []byte("made by hand"), k, now)
	st := stackWithFiles([]cluster.ObjectRef{
		{Kind: cluster.KindSecret, Name: "st_db", Data: []byte("pw"), Origin: "file ./db.txt"},
		{Kind: cluster.KindConfig, Name: "shared", External: true},
	},
		cluster.FileMount{Kind: cluster.KindSecret, Name: "st_db", Target: "/run/secrets/db", Mode: 0o444},
		cluster.FileMount{Kind: cluster.KindConfig, Name: "shared", Target: "/shared", Mode: 0o444},
	)
	if err := resolveObjects(s, st, k, now); err != nil {
		t.Fatal(err)
	}
	files := st.Services["web"].Container.Files
	db, _ := s.Object(cluster.KindSecret, "st_db")
	if files[0].Version != db.Current().ID || files[1].Version != ext || db.Stack != "st" {
		t.Errorf("files %+v, store %+v", files, db)
	}
	hash := st.Services["web"].Container.Hash()

	// The same content resolves to the same versions: same spec hash.
	again := stackWithFiles(st.Objects, cluster.FileMount{Kind: cluster.KindSecret, Name: "st_db", Target: "/run/secrets/db", Mode: 0o444},
		cluster.FileMount{Kind: cluster.KindConfig, Name: "shared", Target: "/shared", Mode: 0o444})
	resolveObjects(s, again, k, now)
	if again.Services["web"].Container.Hash() != hash {
		t.Error("an unchanged secret changed the spec")
	}
	// New content: a new version, a new spec.
	st.Objects[0].Data = []byte("pw2")
	changed := stackWithFiles(st.Objects, cluster.FileMount{Kind: cluster.KindSecret, Name: "st_db", Target: "/run/secrets/db", Mode: 0o444},
		cluster.FileMount{Kind: cluster.KindConfig, Name: "shared", Target: "/shared", Mode: 0o444})
	resolveObjects(s, changed, k, now)
	if changed.Services["web"].Container.Hash() == hash || len(db.Versions) != 2 {
		t.Error("a changed secret left the spec as it was")
	}
}

func TestResolveObjectsRefusals(t *testing.T) {
	k := objectKey(t)
	now := time.Now().UTC()
	s := state.New("c")
	s.PutContent(cluster.KindSecret, "by-hand", []byte("x"), k, now)
	err := resolveObjects(s, stackWithFiles([]cluster.ObjectRef{{Kind: cluster.KindSecret, Name: "nowhere", External: true}}), k, now)
	if !errors.Is(err, state.ErrNoObject) || !strings.Contains(err.Error(), "secret nowhere is external") || !strings.Contains(err.Error(), "drover secret create nowhere") {
		t.Errorf("missing external: %v", err)
	}
	err = resolveObjects(s, stackWithFiles([]cluster.ObjectRef{{Kind: cluster.KindSecret, Name: "by-hand", Data: []byte("pw"), Origin: "file ./x"}}), k, now)
	if err == nil || !strings.Contains(err.Error(), "declare it external") {
		t.Errorf("a file secret over a created one: %v", err)
	}
	if got := string(mustObject(t, s, "by-hand").Current().Data); got != "x" {
		t.Errorf("the refused deploy changed the created secret to %q", got)
	}
}

func mustObject(t *testing.T, s *state.State, name string) *state.Object {
	t.Helper()
	o, err := s.Object(cluster.KindSecret, name)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestRollObject(t *testing.T) {
	k := objectKey(t)
	s := state.New("c")
	v1, _, _ := s.PutContent(cluster.KindSecret, "db", []byte("1"), k, time.Now())
	mount := cluster.FileMount{Kind: cluster.KindSecret, Name: "db", Version: v1, Target: "/run/secrets/db", Mode: 0o444}
	sv := &state.Service{}
	sv.Push(&cluster.Service{Stack: "st", Name: "web", Generation: 1, Container: cluster.ContainerSpec{Image: "x", Files: []cluster.FileMount{mount}}}, state.GenerationMeta{Generation: 1})
	other := &state.Service{}
	other.Push(&cluster.Service{Stack: "st", Name: "worker", Generation: 1, Container: cluster.ContainerSpec{Image: "x"}}, state.GenerationMeta{Generation: 1})
	s.Stacks["st"] = &state.Stack{Name: "st", Services: map[string]*state.Service{"web": sv, "worker": other}}

	v2, _, _ := s.PutContent(cluster.KindSecret, "db", []byte("2"), k, time.Now())
	got := rollObject(s, cluster.KindSecret, "db", v2, "secret update db f")
	if len(got) != 1 || got[0] != "st_web" {
		t.Fatalf("rolled %v", got)
	}
	if sv.Current.Generation != 2 || sv.Current.Container.Files[0].Version != v2 || sv.Previous[0].Spec.Container.Files[0].Version != v1 {
		t.Errorf("generations: current %+v, previous %+v", sv.Current.Container.Files, sv.Previous[0].Spec.Container.Files)
	}
	if other.Current.Generation != 1 {
		t.Error("a service without the secret got a new generation")
	}
	if again := rollObject(s, cluster.KindSecret, "db", v2, "x"); len(again) != 0 {
		t.Errorf("rolling the same version again: %v", again)
	}
}
