package planner

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/cluster"
)

var specHash = regexp.MustCompile(`"spec": "[0-9a-f]+"`)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./planner/ -run %s -update)", err, t.Name())
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file (rerun with -update if intended):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// rollout is a small deployment touching every kind of action.
func rollout() Input {
	net := func(s *cluster.Service) {
		s.Container.Networks = []cluster.NetworkAttachment{{Name: "demo_default"}}
	}
	webV1 := svc("demo", "web", 3, image("web:v1"), net, func(s *cluster.Service) {
		s.Container.Env = map[string]string{"TOKEN": "s3cr3t"}
	})
	web := svc("demo", "web", 3, image("web:v2"), gen(4), net, publish(8080), func(s *cluster.Service) {
		s.Container.Env = map[string]string{"TOKEN": "n3w-s3cr3t", "DEBUG": "1"}
		s.Update = cluster.UpdatePolicy{Parallelism: 2, Order: "start-first", Delay: time.Second, Monitor: 5 * time.Second, FailureAction: "rollback", MaxFailureRatio: 0.5}
	})
	api := svc("demo", "api", 1, gen(2), net, func(s *cluster.Service) { s.DependsOn = []string{"db"} })
	db := svc("demo", "db", 1, net, func(s *cluster.Service) {
		s.Container.Mounts = []cluster.Mount{{Type: "volume", Source: "demo_data", Target: "/var/lib/db"}}
	})
	old := svc("demo", "old", 1)
	return Input{
		Services: []*cluster.Service{web, api, db},
		Specs:    map[string]cluster.ContainerSpec{webV1.Container.Hash(): webV1.Container},
		Observed: []cluster.HostObservation{
			host("h1", networks("demo_default"), runs(rep(web, "1", "a1", outdated(webV1)), rep(old, "1", "o1"))),
			host("h2", avail(cluster.Drain), networks("demo_default"), runs(rep(web, "2", "b1"))),
			host("h3", networks("demo_default"), runs(rep(api, "1", "c1", exited(1)))),
			host("h4", down),
			host("h5"),
		},
	}
}

func TestRenderGolden(t *testing.T) {
	in := rollout()
	p := mustCompute(t, in)
	golden(t, "rollout.txt", []byte(p.String()))
	js, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	// Spec hashes change whenever ContainerSpec gains a field: keep them out
	// of the golden file.
	js = specHash.ReplaceAll(js, []byte(`"spec": "HASH"`))
	golden(t, "rollout.json", append(js, '\n'))
	// The plan carries the specs apply starts containers from, but its
	// JSON (--output json, plan files) never their environment values.
	if p.Services["demo_web"] == nil || p.Services["demo_web"].Container.Env["TOKEN"] != "n3w-s3cr3t" {
		t.Errorf("the plan does not carry demo_web's spec: %+v", p.Services)
	}
	if strings.Contains(string(js), "s3cr3t") {
		t.Errorf("the plan's JSON holds an environment value:\n%s", js)
	}
	// Once applied, nothing is left to do.
	golden(t, "converged.txt", []byte(mustCompute(t, apply(in, p)).String()))
}
