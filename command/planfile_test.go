package command

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// TestPlanFileCarriesSecrets: a plan made with a new secret content
// carries that version (sealed, never in clear) and the config's, so
// apply can put them in the store the plan's specs point at.
func TestPlanFileCarriesSecrets(t *testing.T) {
	const secret, config = "n3w-s3cr3t-c0ntent", "config-body"
	key, err := state.ParseKey(state.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	s := state.New("c")
	sid, _, err := s.PutContent(cluster.KindSecret, "s_pw", []byte(secret), key, now)
	if err != nil {
		t.Fatal(err)
	}
	cid, _, err := s.PutContent(cluster.KindConfig, "s_conf", []byte(config), key, now)
	if err != nil {
		t.Fatal(err)
	}
	s.PutContent(cluster.KindSecret, "unused", []byte("not-mounted"), key, now)
	cur := &cluster.Service{Stack: "s", Name: "web", Generation: 1, Mode: cluster.Replicated, Replicas: 1,
		Container: cluster.ContainerSpec{Image: "web:1", Files: []cluster.FileMount{
			{Kind: cluster.KindSecret, Name: "s_pw", Version: sid, Target: "/run/secrets/pw", Mode: 0o444},
			{Kind: cluster.KindConfig, Name: "s_conf", Version: cid, Target: "/conf", Mode: 0o444},
		}}}
	st := &state.Stack{Name: "s", Services: map[string]*state.Service{"web": {Current: cur, Meta: state.GenerationMeta{Generation: 1}}}}
	plan := &planner.Plan{Actions: []planner.Action{{Kind: planner.Create, Service: "s_web", Stack: "s", Slot: "1", Host: "h1",
		Generation: 1, SpecHash: cur.Container.Hash(), Reason: "new replica"}}}
	sp := &savedPlan{Format: planFileFormat, Cluster: "c", Stack: "s", Files: []fileDigest{{Path: "/c.yml", SHA256: strings.Repeat("ab", 32)}},
		Observed: "fp", Summary: "stack s: added web", Desired: st, Plan: plan}
	sp.Configs, sp.Secrets = planObjects(s, st)
	if len(sp.Secrets) != 1 || sp.Secrets["s_pw"] == nil || len(sp.Configs) != 1 {
		t.Fatalf("the plan carries secrets %v and configs %v, want s_pw and s_conf only", sp.Secrets, sp.Configs)
	}
	if err := sealPlan(sp, key); err != nil {
		t.Fatal(err)
	}
	if string(s.Secrets["s_pw"].Versions[0].Data) != secret {
		t.Fatal("sealing the plan changed the run's own state")
	}
	path := filepath.Join(t.TempDir(), "p.json")
	if err := writePlanFile(path, sp); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), secret) || strings.Contains(string(b), base64.StdEncoding.EncodeToString([]byte(secret))) {
		t.Fatalf("the plan file holds the secret in clear:\n%s", b)
	}
	got, err := parsePlanFile(path, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := state.OpenEnv(got.values(), key); err != nil {
		t.Fatal(err)
	}
	v, ok := got.Secrets["s_pw"].Version(sid)
	if !ok || string(v.Data) != secret {
		t.Fatalf("the plan's secret version %s: found %v", sid, ok)
	}
	if cv, ok := got.Configs["s_conf"].Version(cid); !ok || string(cv.Data) != config {
		t.Fatalf("the plan's config version %s: %v", cid, ok)
	}
	other, _ := state.ParseKey(state.GenerateKey())
	again, _ := parsePlanFile(path, b)
	if err := state.OpenEnv(again.values(), other); err == nil {
		t.Fatal("another key opened the plan's secret")
	}
}
