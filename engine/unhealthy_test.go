package engine

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/drover-sh/drover/cluster"
)

// parseInspect maps an array of inspect documents onto replicas, as
// observe does with each GET /containers/{id}/json.
func parseInspect(host string, data []byte) ([]cluster.Replica, error) {
	var list []container.InspectResponse
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, err
	}
	out := make([]cluster.Replica, len(list))
	for i, c := range list {
		out[i] = replicaOf(host, c)
	}
	return out, nil
}

// inspectJSON is the engine's inspect document of one container with the given
// health status, failing streak and check log (start times and exit codes).
func inspectJSON(status string, streak int, interval time.Duration, started time.Time, log []time.Time, codes []int) string {
	entries := make([]string, len(log))
	for i, t := range log {
		entries[i] = fmt.Sprintf(`{"Start":%q,"End":%q,"ExitCode":%d,"Output":""}`,
			t.Format(time.RFC3339Nano), t.Add(10*time.Millisecond).Format(time.RFC3339Nano), codes[i])
	}
	return fmt.Sprintf(`[{"Id":"abc","Name":"/s_web.1.x","Created":%q,"Image":"sha256:1",
		"Config":{"Image":"app:v1","Labels":{"drover.cluster":"lab","drover.service":"s_web","drover.slot":"1"},"Healthcheck":{"Test":["CMD","/app","-check"],"Interval":%d}},
		"State":{"Status":"running","StartedAt":%q,"Health":{"Status":%q,"FailingStreak":%d,"Log":[%s]}},
		"HostConfig":{"RestartPolicy":{"Name":"always"}}}]`,
		started.Format(time.RFC3339Nano), int64(interval), started.Format(time.RFC3339Nano), status, streak, strings.Join(entries, ","))
}

func TestUnhealthySince(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	every := func(start time.Time, n int, step time.Duration) []time.Time {
		out := make([]time.Time, n)
		for i := range out {
			out[i] = start.Add(time.Duration(i) * step)
		}
		return out
	}
	fail5 := []int{1, 1, 1, 1, 1}
	cases := []struct {
		name    string
		status  string
		streak  int
		log     []time.Time
		codes   []int
		started time.Time
		want    time.Time
	}{
		// The log holds the whole run of failures: its first failure.
		{"run within the log", "unhealthy", 3, every(t0, 5, time.Second), []int{0, 0, 1, 1, 1}, t0.Add(-time.Hour), t0.Add(2 * time.Second)},
		// 60 failures at 1 s: the log's five are the last; the run began
		// 55 checks before the oldest logged one.
		{"run longer than the log", "unhealthy", 60, every(t0, 5, 1010*time.Millisecond), fail5, t0.Add(-time.Hour), t0.Add(-55 * 1010 * time.Millisecond)},
		// Never before the container started.
		{"clamped to the start", "unhealthy", 1000, every(t0, 5, time.Second), fail5, t0.Add(-10 * time.Second), t0.Add(-10 * time.Second)},
		// One logged check: the configured interval spaces the rest.
		{"single check, configured interval", "unhealthy", 4, every(t0, 1, 0), []int{1}, t0.Add(-time.Hour), t0.Add(-3 * 2 * time.Second)},
		{"healthy", "healthy", 0, every(t0, 5, time.Second), []int{0, 0, 0, 0, 0}, t0, time.Time{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := inspectJSON(c.status, c.streak, 2*time.Second, c.started, c.log, c.codes)
			rs, err := parseInspect("h1", []byte(data))
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != 1 {
				t.Fatalf("%d replicas", len(rs))
			}
			if got := rs[0].UnhealthySince; !got.Equal(c.want) {
				t.Errorf("UnhealthySince = %v, want %v", got, c.want)
			}
		})
	}
}

func TestLastFailedCheck(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	data := strings.Replace(inspectJSON("unhealthy", 3, time.Second, t0, []time.Time{t0, t0.Add(time.Second)}, []int{0, 1}),
		`"ExitCode":1,"Output":""`, `"ExitCode":1,"Output":"health: GET http://127.0.0.1:8080/health: 503\nmore"`, 1)
	rs, err := parseInspect("h1", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rs[0].HealthOutput, "health: GET http://127.0.0.1:8080/health: 503"; got != want {
		t.Errorf("HealthOutput %q, want %q", got, want)
	}
	healthy, _ := parseInspect("h1", []byte(inspectJSON("healthy", 0, time.Second, t0, []time.Time{t0}, []int{0})))
	if healthy[0].HealthOutput != "" {
		t.Errorf("healthy replica has HealthOutput %q", healthy[0].HealthOutput)
	}
}
