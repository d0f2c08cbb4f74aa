package state

import (
	"reflect"
	"testing"
)

// FuzzStateDocument: a state file that Decode and Validate accept is one
// every accessor commands use works on without panicking; it renders and
// reads back as a state that is still valid; sealing and opening its
// environment gives back the same values. Seeds in testdata/fuzz are real
// state files and the documents of the unit tests.
func FuzzStateDocument(f *testing.F) {
	f.Add([]byte(validDoc))
	f.Add([]byte(`{"format":1,"lineage":"l","stacks":{"a":null}}`))
	f.Add([]byte(`{"format":1,"lineage":"l","stacks":{"a":{"name":"a","services":{"s":{"current":null}}}}}`))
	f.Add([]byte(`{"format":1,"lineage":"l","serial":1} {}`))
	key, err := ParseKey("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Decode(data)
		if err != nil {
			return
		}
		if err := s.Validate(""); err != nil {
			return
		}
		// What commands call on a state they read.
		s.StackNames()
		for _, svc := range s.Services() {
			if _, _, ok := s.FindService(svc.FullName()); !ok {
				t.Fatalf("FindService(%q) does not find a service Services listed", svc.FullName())
			}
		}
		s.Specs()
		for _, st := range s.Stacks {
			for _, sv := range st.Services {
				sv.NextGeneration()
				sv.RollbackTarget(0)
				for _, g := range sv.Previous {
					sv.RollbackTarget(g.Spec.Generation)
				}
			}
		}
		if OpenEnv(s, key) != nil {
			return // sealed with another key, or not openable: refused
		}
		doc, err := Marshal(s)
		if err != nil {
			t.Fatalf("Marshal of a valid state: %v", err)
		}
		sealed, err := SealEnv(s, key)
		if err != nil {
			t.Fatalf("SealEnv: %v", err)
		}
		raw, _ := Marshal(sealed)
		back, err := Decode(raw)
		if err != nil {
			t.Fatalf("a rendered state does not decode: %v", err)
		}
		if err := back.Validate(""); err != nil {
			t.Fatalf("a rendered valid state is not valid: %v", err)
		}
		if err := OpenEnv(back, key); err != nil {
			t.Fatalf("values sealed with the key do not open: %v", err)
		}
		if again, _ := Marshal(back); string(again) != string(doc) {
			t.Fatalf("seal/open changed the state:\n%s\n%s", doc, again)
		}
		// Rolling back and pushing mutate; do it last, on the copy.
		for _, st := range back.Stacks {
			for _, sv := range st.Services {
				if sv.RollbackTo(0, "rolled back") == nil && sv.Current == nil {
					t.Fatal("rollback left no current spec")
				}
				cur := sv.Current
				sv.Push(cur, GenerationMeta{Generation: sv.NextGeneration()})
				if !reflect.DeepEqual(sv.Current, cur) {
					t.Fatal("push did not make the spec current")
				}
			}
		}
	})
}
