package state

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/drover-sh/drover/cluster"
)

func TestSealEnv(t *testing.T) {
	k, err := ParseKey(GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	s := New("c")
	svc := &cluster.Service{Stack: "st", Name: "db", Container: cluster.ContainerSpec{Image: "pg", Env: map[string]string{"PASSWORD": "hunter2", "EMPTY": ""}}}
	hash := svc.Container.Hash()
	sv := &Service{}
	sv.Push(svc, GenerationMeta{Generation: 1})
	sv.Push(&cluster.Service{Stack: "st", Name: "db", Generation: 2, Container: cluster.ContainerSpec{Image: "pg", Env: map[string]string{"PASSWORD": "old-secret"}}}, GenerationMeta{Generation: 2})
	s.Stacks["st"] = &Stack{Name: "st", Services: map[string]*Service{"db": sv}}

	sealed, err := SealEnv(s, k)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := Marshal(sealed)
	for _, secret := range []string{"hunter2", "old-secret"} {
		if strings.Contains(string(doc), secret) {
			t.Errorf("sealed state holds %q in clear text", secret)
		}
	}
	if !HasSealed(sealed) || HasSealed(s) {
		t.Errorf("SealEnv changed its input or sealed nothing")
	}
	opened, _ := clone(sealed)
	if err := OpenEnv(opened, k); err != nil {
		t.Fatal(err)
	}
	if got := opened.Stacks["st"].Services["db"].Previous[0].Spec.Container.Env["PASSWORD"]; got != "hunter2" {
		t.Errorf("opened value %q", got)
	}
	if opened.Stacks["st"].Services["db"].Previous[0].Spec.Container.Hash() != hash {
		t.Errorf("spec hash changed through seal/open")
	}
	// Another key, or none, cannot open it — and says which key it needs.
	other, _ := ParseKey(GenerateKey())
	sealed2, _ := SealEnv(s, k)
	err = OpenEnv(sealed2, other)
	if !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), k.ID()) || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("open with another key: %v", err)
	}
	if err := OpenEnv(sealed2, nil); !errors.Is(err, ErrWrongKey) {
		t.Errorf("open without a key: %v", err)
	}
	// Plain values from an older state pass through.
	plain := New("c")
	plain.Stacks["st"] = &Stack{Name: "st", Services: map[string]*Service{"db": {Current: &cluster.Service{Container: cluster.ContainerSpec{Env: map[string]string{"A": "b"}}}}}}
	if err := OpenEnv(plain, nil); err != nil || plain.Stacks["st"].Services["db"].Current.Container.Env["A"] != "b" {
		t.Errorf("plain state: %v", err)
	}
	if _, err := ParseKey("c2hvcnQ="); err == nil {
		t.Error("short key accepted")
	}
}

// TestSealLookalikePlainValues: plain values that begin with the seal
// prefix, even complete sealed values of this key or another, come back
// exactly as they were.
func TestSealLookalikePlainValues(t *testing.T) {
	k, _ := ParseKey(GenerateKey())
	other, _ := ParseKey(GenerateKey())
	values := []string{
		sealPrefix,
		sealPrefix + "x",
		sealPrefix + "not-a-sealed-value",
		sealPrefix + "0d9e80f8:qkByMH5oENUcupByyidCj9uCIZvvy9sHdivZUGbVflKGxg",
		k.seal("inner"),
		other.seal("inner"),
		"plain",
		"",
	}
	s := New("c")
	env := map[string]string{}
	for i, v := range values {
		env[fmt.Sprint("V", i)] = v
	}
	s.Stacks["st"] = &Stack{Name: "st", Services: map[string]*Service{"db": {Current: &cluster.Service{Stack: "st", Name: "db", Container: cluster.ContainerSpec{Env: env}}}}}
	sealed, err := SealEnv(s, k)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := Marshal(sealed)
	back, err := Decode(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := OpenEnv(back, k); err != nil {
		t.Fatalf("open: %v", err)
	}
	got := back.Stacks["st"].Services["db"].Current.Container.Env
	for i, v := range values {
		if got[fmt.Sprint("V", i)] != v {
			t.Errorf("V%d: %q came back as %q", i, v, got[fmt.Sprint("V", i)])
		}
	}
	for name, v := range sealed.Stacks["st"].Services["db"].Current.Container.Env {
		if _, _, ok := sealedParts(v); !ok {
			t.Errorf("%s stored as %q: not sealed", name, v)
		}
	}
}

// TestSealReadsFilesOfTheFormerFormat: testdata/sealed-v1-before-2026-12.json
// was written by the drover before every value was sealed (it left values
// that already began with the prefix as they were). Its sealed values open
// and its look-alike plain value reads as itself.
func TestSealReadsFilesOfTheFormerFormat(t *testing.T) {
	b, err := os.ReadFile("testdata/sealed-v1-before-2026-12.json")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate("golden"); err != nil {
		t.Fatal(err)
	}
	k, err := ParseKey("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	if err != nil {
		t.Fatal(err)
	}
	if !HasSealed(s) {
		t.Fatal("HasSealed: false")
	}
	if err := OpenEnv(s, k); err != nil {
		t.Fatal(err)
	}
	sv := s.Stacks["st"].Services["db"]
	want := map[string]string{"PASSWORD": "hunter2", "EMPTY": "", "LOOKALIKE": "drover-sealed:v1:not-a-sealed-value"}
	if !reflect.DeepEqual(sv.Current.Container.Env, want) {
		t.Errorf("current env %q, want %q", sv.Current.Container.Env, want)
	}
	if got := sv.Previous[0].Spec.Container.Env["PASSWORD"]; got != "old-secret" {
		t.Errorf("previous PASSWORD %q", got)
	}
}
