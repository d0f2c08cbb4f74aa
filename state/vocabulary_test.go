package state

import (
	"bytes"
	"flag"
	"os"
	"testing"
	"time"

	"github.com/drover-sh/drover/cluster"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestRolloutVocabularyGolden keeps the state file's spellings of the
// rollout vocabulary (order, failure_action, update.state) byte-identical:
// testdata/rollout-vocabulary.json was written by the drover that spelled
// them as string literals (only "format" moved since, 1 → 2, with configs
// and secrets), and a state file must decode and encode back to exactly
// those bytes.
func TestRolloutVocabularyGolden(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	s := &State{Format: Format, Lineage: "0123456789abcdef", Serial: 7, Cluster: "lab", Stacks: map[string]*Stack{}}
	st := &Stack{Name: "demo", Services: map[string]*Service{}}
	s.Stacks["demo"] = st
	for i, c := range []struct {
		name   string
		order  cluster.UpdateOrder
		action cluster.FailureAction
		state  cluster.UpdateState
	}{
		{"a", cluster.StopFirst, cluster.FailurePause, cluster.UpdateCompleted},
		{"b", cluster.StartFirst, cluster.FailureContinue, cluster.UpdatePaused},
		{"c", cluster.StopFirst, cluster.FailureRollback, cluster.UpdateRollbackCompleted},
		{"d", cluster.StartFirst, cluster.FailurePause, cluster.UpdateFailed},
	} {
		svc := &cluster.Service{Stack: "demo", Name: c.name, Generation: i + 1, Mode: cluster.Replicated, Replicas: 1,
			Container: cluster.ContainerSpec{Image: "web:v1"},
			Update:    cluster.UpdatePolicy{Parallelism: 1, Order: c.order, Monitor: time.Second, FailureAction: c.action},
			Rollback:  cluster.DefaultRollbackPolicy()}
		st.Services[c.name] = &Service{Current: svc, Update: &UpdateStatus{State: c.state, Reason: "r", Started: at, Ended: at},
			Meta: GenerationMeta{Generation: i + 1, Time: at, By: "u@m", Result: string(c.state)}}
	}
	got, err := Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/rollout-vocabulary.json"
	if *updateGolden {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("state file spelling changed (-update rewrites %s):\n%s", golden, got)
	}
	back, err := Decode(want)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Marshal(back)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, want) {
		t.Errorf("decode → encode of %s is not byte-identical:\n%s", golden, again)
	}
	if got := back.Stacks["demo"].Services["c"].Update.State; got != cluster.UpdateRollbackCompleted || got.Display() != "rollback completed" {
		t.Errorf("update state %q (display %q)", got, got.Display())
	}
}
