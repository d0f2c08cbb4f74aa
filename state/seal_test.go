package state

import (
	"errors"
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
	// Sealing twice does not double-seal.
	again, _ := SealEnv(sealed, k)
	if err := OpenEnv(again, k); err != nil {
		t.Fatal(err)
	}
	if got := again.Stacks["st"].Services["db"].Previous[0].Spec.Container.Env["PASSWORD"]; got != "hunter2" {
		t.Errorf("opened value %q", got)
	}
	if again.Stacks["st"].Services["db"].Previous[0].Spec.Container.Hash() != hash {
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
