package state

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-sh/drover/cluster"
)

// TestSealedStore: the decorator writes sealed documents and reads plain
// ones; the backend behind it only ever sees sealed values.
func TestSealedStore(t *testing.T) {
	ctx := context.Background()
	k, _ := ParseKey(GenerateKey())
	path := filepath.Join(t.TempDir(), "state.json")
	var creates []bool
	st := &Sealed{Store: &Local{Path: path}, Key: func(create bool) (*Key, error) {
		creates = append(creates, create)
		return k, nil
	}}
	s := New("c")
	svc := &cluster.Service{Stack: "st", Name: "db", Container: cluster.ContainerSpec{Image: "pg", Env: map[string]string{"PASSWORD": "hunter2"}}}
	sv := &Service{}
	sv.Push(svc, GenerationMeta{Generation: 1})
	s.Stacks["st"] = &Stack{Name: "st", Services: map[string]*Service{"db": sv}}
	s.Serial = 1
	if err := st.Write(ctx, s); err != nil {
		t.Fatal(err)
	}
	if got := s.Stacks["st"].Services["db"].Current.Container.Env["PASSWORD"]; got != "hunter2" {
		t.Errorf("Write changed its input's value to %q", got)
	}
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(doc), "hunter2") || !strings.Contains(string(doc), sealPrefix+k.ID()) {
		t.Errorf("the backend got clear text:\n%s", doc)
	}
	raw, err := st.Raw().Read(ctx)
	if err != nil || !HasSealed(raw) {
		t.Fatalf("raw read: %v (sealed: %v)", err, raw != nil && HasSealed(raw))
	}
	got, err := st.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v := got.Stacks["st"].Services["db"].Current.Container.Env["PASSWORD"]; v != "hunter2" {
		t.Errorf("read back %q", v)
	}
	if len(creates) != 2 || !creates[0] || creates[1] {
		t.Errorf("key asked with create %v: want true for the write, false for the read", creates)
	}
	// Local has no ForceWrite: the decorator says so rather than writing.
	if ok, err := st.ForceWrite(ctx, got); ok || err != nil {
		t.Errorf("ForceWrite on a local backend: %v, %v", ok, err)
	}

	// Another machine's key cannot open it, and the error unwraps.
	other, _ := ParseKey(GenerateKey())
	wrong := &Sealed{Store: &Local{Path: path}, Key: func(bool) (*Key, error) { return other, nil }}
	if _, err := wrong.Read(ctx); !errors.Is(err, ErrWrongKey) || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("read with another key: %v", err)
	}
	keyErr := errors.New("no key file")
	broken := &Sealed{Store: &Local{Path: path}, Key: func(bool) (*Key, error) { return nil, keyErr }}
	if _, err := broken.Read(ctx); !errors.Is(err, keyErr) {
		t.Errorf("a key that cannot be found: %v", err)
	}
	if err := broken.Write(ctx, got); !errors.Is(err, keyErr) {
		t.Errorf("write without a key: %v", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(doc) {
		t.Errorf("a write without a key changed the file")
	}
}
