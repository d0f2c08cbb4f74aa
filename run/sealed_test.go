package run

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/state"
)

// A run through a state.Sealed store keeps environment values sealed at
// rest and plain in the run: the next run reads them back and has nothing
// to do.
func TestExecuteSealsAtRest(t *testing.T) {
	l := newLab(t, 2)
	k, err := state.ParseKey(state.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	d := l.deps()
	d.Store = &state.Sealed{Store: l.store, Key: func(bool) (*state.Key, error) { return k, nil }}
	secret := web(2, imageV1, func(s *cluster.Service) { s.Container.Env = map[string]string{"PASSWORD": "hunter2"} })
	if _, err := Execute(context.Background(), d, Request{Command: "test", Scope: []string{"demo"}, Mutate: deploy(secret)}); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(l.store.Path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(doc), "hunter2") || !strings.Contains(string(doc), "drover-sealed:v1:"+k.ID()) {
		t.Fatalf("the state file does not hold the value sealed:\n%s", doc)
	}
	res, err := Execute(context.Background(), d, Request{Command: "test", Scope: []string{"demo"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed || !res.Plan.Empty() {
		t.Errorf("the second run plans changes (values read back sealed?): %v", res.Plan.Changes())
	}
}
