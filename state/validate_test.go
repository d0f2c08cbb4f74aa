package state

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const validDoc = `{"format":1,"lineage":"l","serial":3,"cluster":"c","stacks":{"shop":{"name":"shop","services":{"web":{
 "current":{"stack":"shop","name":"web","generation":2,"mode":"replicated","replicas":2,"container":{"image":"a:2"}},
 "previous":[{"spec":{"stack":"shop","name":"web","generation":1,"container":{"image":"a:1"}},"meta":{"generation":1}}],
 "meta":{"generation":2,"parent":1}}}}},"history":[]}`

// TestValidateMalformed: valid JSON that is not a usable state is refused,
// naming the place inside the document.
func TestValidateMalformed(t *testing.T) {
	cases := []struct {
		name, old, new, want string
	}{
		{"null stack", `"shop":{"name":"shop",`, `"shop":null,"x":{"name":"x",`, `stacks["shop"]: null`},
		{"null service", `"web":{`, `"web":null,"w2":{`, `stacks["shop"].services["web"]: null`},
		{"null current", `"current":{"stack":"shop","name":"web","generation":2,"mode":"replicated","replicas":2,"container":{"image":"a:2"}}`, `"current":null`, `stacks["shop"].services["web"].current: null`},
		{"missing current", `"current":{"stack":"shop","name":"web","generation":2,"mode":"replicated","replicas":2,"container":{"image":"a:2"}},`, ``, `stacks["shop"].services["web"].current: null`},
		{"null previous spec", `"spec":{"stack":"shop","name":"web","generation":1,"container":{"image":"a:1"}}`, `"spec":null`, `stacks["shop"].services["web"].previous[0].spec: null`},
		{"stack name", `{"name":"shop",`, `{"name":"other",`, `stacks["shop"].name: "other", the key says "shop"`},
		{"service name", `"stack":"shop","name":"web","generation":2`, `"stack":"shop","name":"api","generation":2`, `stacks["shop"].services["web"].current.name: "api"`},
		{"negative replicas", `"replicas":2`, `"replicas":-1`, `stacks["shop"].services["web"].current.replicas: -1 is negative`},
		{"bad mode", `"mode":"replicated"`, `"mode":"sometimes"`, `current.mode: "sometimes"`},
		{"duplicate generation", `"generation":1,"container"`, `"generation":2,"container"`, `previous[0].spec.generation: 2 appears twice`},
		{"negative serial", `"serial":3`, `"serial":-3`, `serial: -3 is negative`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := strings.Replace(validDoc, c.old, c.new, 1)
			if doc == validDoc {
				t.Fatal("the case changes nothing")
			}
			s, err := Decode([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			err = s.Validate("c")
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate: %v, want an ErrMalformed containing %q", err, c.want)
			}
			var me *MalformedError
			if !errors.As(err, &me) {
				t.Errorf("%T is not a *MalformedError", err)
			}
		})
	}
	s, err := Decode([]byte(validDoc))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate("c"); err != nil {
		t.Fatalf("the valid document: %v", err)
	}
}

// TestValidateNullMaps: null maps are empty ones after Validate, so that
// commands can add to them.
func TestValidateNullMaps(t *testing.T) {
	s, err := Decode([]byte(`{"format":1,"lineage":"l","serial":1,"stacks":{"a":{"name":"a","services":null}},"nodes":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(""); err != nil {
		t.Fatal(err)
	}
	s.Stacks["a"].Services["x"] = &Service{}
	s.Nodes["h"] = NodeSettings{}
}

func TestDecodeRefusesTrailingData(t *testing.T) {
	for _, tail := range []string{"{}", "garbage", `{"format":1}`, "]", "\x00"} {
		if _, err := Decode([]byte(validDoc + "\n" + tail)); !errors.Is(err, ErrTrailingData) {
			t.Errorf("%q after the document: %v", tail, err)
		}
	}
	if _, err := Decode([]byte(validDoc + "\n \t\n")); err != nil {
		t.Errorf("white space after the document: %v", err)
	}
	p := filepath.Join(t.TempDir(), "s.json")
	os.WriteFile(p, []byte(validDoc+"}"), 0o600)
	_, err := (&Local{Path: p}).Read(context.Background())
	if !errors.Is(err, ErrTrailingData) || !strings.Contains(err.Error(), p) {
		t.Errorf("local read of a file with trailing data: %v", err)
	}
}
