package run

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/drover-sh/drover/planner"
	"github.com/drover-sh/drover/reconcile"
	"github.com/drover-sh/drover/state"
)

// fakeFiles records when the run delivers and prunes.
type fakeFiles struct {
	mu        sync.Mutex
	calls     []string
	deliverTo []string
	fail      error
	// created counts the containers on the hosts when Deliver ran.
	created int
	l       *lab
}

func (f *fakeFiles) Deliver(_ context.Context, _ *reconcile.World, p *planner.Plan, _ reconcile.Desired, _ *state.State) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "deliver")
	f.created = f.l.running("demo_web")
	return f.deliverTo, f.fail
}

func (f *fakeFiles) Prune(_ context.Context, _ *reconcile.World, hosts []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "prune "+strings.Join(hosts, ","))
}

func TestExecuteDeliversFilesBeforeChanges(t *testing.T) {
	l := newLab(t, 2)
	files := &fakeFiles{l: l, deliverTo: []string{"h1", "h2"}}
	d := l.deps()
	d.Files = files
	if _, err := Execute(context.Background(), d, Request{Command: "test", Mutate: deploy(web(2, imageV1))}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(files.calls, ";") != "deliver;prune h1,h2" || files.created != 0 {
		t.Fatalf("calls %q, %d replicas already there at delivery", files.calls, files.created)
	}
	// A converged run checks the files, and prunes nothing.
	files.calls = nil
	if _, err := Execute(context.Background(), d, Request{Command: "test"}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(files.calls, ";") != "deliver" {
		t.Fatalf("no-op run: calls %q", files.calls)
	}
	// A failed delivery changes nothing.
	files.calls, files.fail = nil, errors.New("h2: delivering configs and secrets: secret db: permission denied")
	serial := l.read().Serial
	_, err := Execute(context.Background(), d, Request{Command: "test", Mutate: deploy(web(2, imageV2))})
	if err == nil || !strings.HasPrefix(err.Error(), "nothing was changed: h2: delivering") {
		t.Fatalf("error %v", err)
	}
	if l.read().Serial != serial || l.running("demo_web") != 2 {
		t.Error("a failed delivery changed the state or the hosts")
	}
}
