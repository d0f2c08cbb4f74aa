package command

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/planner"
	"github.com/drover-sh/drover/state"
)

// A plan file carries the specs apply starts containers from, their
// environment values sealed with the state key as in the state file:
// the file never holds one in clear text, and apply gets them back.
func TestPlanFileSealsEnv(t *testing.T) {
	const secret = "pl4n-s3cr3t-t0ken"
	key, err := state.ParseKey(state.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	cur := &cluster.Service{Stack: "s", Name: "web", Generation: 2, Mode: cluster.Replicated, Replicas: 1,
		Container: cluster.ContainerSpec{Image: "web:2", Env: map[string]string{"TOKEN": secret}}}
	prev := &cluster.Service{Stack: "s", Name: "web", Generation: 1, Mode: cluster.Replicated, Replicas: 1,
		Container: cluster.ContainerSpec{Image: "web:1", Env: map[string]string{"TOKEN": "old-" + secret}}}
	st := &state.Stack{Name: "s", Services: map[string]*state.Service{"web": {Current: cur, Meta: state.GenerationMeta{Generation: 2, Parent: 1}, Previous: []state.Generation{{Spec: prev}}}}}
	plan := &planner.Plan{Actions: []planner.Action{{Kind: planner.Create, Service: "s_web", Stack: "s", Slot: "1", Host: "h1",
		Generation: 2, SpecHash: cur.Container.Hash(), Reason: "new replica"}}}
	sealed, err := sealStack(st, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "p.json")
	sp := &savedPlan{Format: planFileFormat, Cluster: "c", Stack: "s", Files: []fileDigest{{Path: "/c.yml", SHA256: strings.Repeat("ab", 32)}},
		Observed: "fp", Summary: "stack s: changed web", Desired: sealed, Plan: plan}
	if err := writePlanFile(path, sp); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), secret) {
		t.Fatalf("the plan file holds an environment value in clear text:\n%s", b)
	}
	if !strings.Contains(string(b), "drover-sealed:v1:"+key.ID()) {
		t.Fatalf("the plan file holds no sealed value:\n%s", b)
	}
	if st.Services["web"].Current.Container.Env["TOKEN"] != secret {
		t.Fatal("sealing changed the plan's own spec")
	}
	got, err := parsePlanFile(path, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := openStack(got.Desired, key); err != nil {
		t.Fatal(err)
	}
	if err := attachSpecs(got.Plan, got.Desired); err != nil {
		t.Fatal(err)
	}
	if v := got.Plan.Services["s_web"].Container.Env["TOKEN"]; v != secret {
		t.Fatalf("apply's spec has TOKEN %q", v)
	}
	if v := got.Plan.Previous["s_web"].Container.Env["TOKEN"]; v != "old-"+secret {
		t.Fatalf("apply's previous generation has TOKEN %q", v)
	}
	// Another key does not open it.
	other, _ := state.ParseKey(state.GenerateKey())
	again, _ := parsePlanFile(path, b)
	if err := openStack(again.Desired, other); err == nil {
		t.Fatal("another key opened the plan file")
	}
	// A spec that is not the one the plan was made with is refused.
	again, _ = parsePlanFile(path, b)
	openStack(again.Desired, key)
	again.Desired.Services["web"].Current.Container.Image = "web:3"
	if err := attachSpecs(again.Plan, again.Desired); err == nil || !strings.Contains(err.Error(), "is not the desired spec") {
		t.Fatalf("edited spec: %v", err)
	}
}
