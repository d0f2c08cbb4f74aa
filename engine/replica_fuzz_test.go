package engine

import (
	"encoding/json"
	"testing"

	"github.com/docker/docker/api/types/container"
)

// An engine's inspect document may lack any part (another engine
// version, a container half created): mapping it onto a replica never
// panics and keeps the host.
func FuzzReplicaOf(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"Id":"x","Name":"/a","State":{"Health":{"Status":"unhealthy","FailingStreak":9,"Log":[null,{"ExitCode":1}]}},"HostConfig":{"PidsLimit":-1}}`))
	f.Add([]byte(`{"Config":{"Labels":null,"Healthcheck":{"Interval":-1}},"State":{"Health":{"Status":"unhealthy","FailingStreak":3,"Log":[{"Start":"2026-12-01T12:00:00Z","ExitCode":1}]}}}`))
	f.Add([]byte(`{"HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":"8080"}],"bad":null},"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c container.InspectResponse
		if json.Unmarshal(data, &c) != nil {
			return
		}
		if r := replicaOf("h1", c); r.Host != "h1" || r.Runtime.RestartPolicy == "" {
			t.Fatalf("replica %+v", r)
		}
	})
}
