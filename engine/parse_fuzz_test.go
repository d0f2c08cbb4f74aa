package engine

import (
	"errors"
	"testing"
)

// The parsers of docker's output meet whatever a host prints: another
// docker version, a wrapper script, a truncated stream. They may refuse it,
// never panic. Seeds in testdata/fuzz are real outputs of the lab's docker
// (observe script, docker inspect, docker info) plus edge cases.

func FuzzParseObservation(f *testing.F) {
	f.Add([]byte("##info\n{\"ServerVersion\":\"27.0\"}\n##containers\n[]\n##networks\nbridge\n##volumes\n##images\na:1 sha256:1\n"))
	f.Add([]byte("##containers\n##info\n"))
	f.Add([]byte("#"))
	f.Fuzz(func(t *testing.T, out []byte) {
		obs, err := parseObservation("h1", out, "")
		if err != nil {
			return
		}
		if obs.Images == nil {
			t.Fatal("nil image map")
		}
		for _, r := range obs.Replicas {
			if r.Host != "h1" {
				t.Fatalf("replica %s on host %q", r.ID, r.Host)
			}
		}
	})
}

func FuzzParseInspect(f *testing.F) {
	f.Add([]byte("[]"))
	f.Add([]byte(`[{"Id":"x","Name":"/a","State":{"Health":{"Status":"unhealthy","Log":[{"ExitCode":1}]}},"HostConfig":{"PidsLimit":-1}}]`))
	f.Add([]byte(`[null]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := ParseInspect("h1", data)
		if err != nil {
			return
		}
		for _, r := range rs {
			if r.Host != "h1" {
				t.Fatalf("replica %s on host %q", r.ID, r.Host)
			}
		}
	})
}

func FuzzParseInfo(f *testing.F) {
	f.Add([]byte(`{"ServerVersion":"27.1.1","OSType":"linux","Architecture":"x86_64","NCPU":2,"MemTotal":1000,"Name":"h1"}`))
	f.Add([]byte(`{"ServerErrors":["Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"]}`))
	f.Add([]byte("WARNING: bridge-nf-call-iptables is disabled\n{\"ServerVersion\":\"1\"}\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, out []byte) {
		facts, err := parseInfo(out, "permission denied while trying to connect to the Docker daemon socket")
		if err != nil {
			var he *HostError
			if errors.As(err, &he) && he.Reason == "" {
				t.Fatalf("host error without a reason: %v", err)
			}
			return
		}
		if facts.EngineVersion == "" {
			t.Fatal("accepted without an engine version")
		}
	})
}
