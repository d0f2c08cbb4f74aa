package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A model-based test of the managers protocol. A seeded scheduler drives
// several clients doing read-modify-write cycles, without the lock (locks
// can be lost, and the rule must hold on its own), over the fake managers,
// interleaving their calls with manager crashes and recoveries, partitions
// (a client reaches only some managers) and writes that fail midway (they
// reach only some of the managers). Each version written is recorded with
// the version it was built on. The invariant, checked after every
// successful Read and Write: every write that returned success is the
// version returned, or an ancestor of it. So no acknowledged write is ever
// lost, and none is ever reordered behind a version not built on it.
//
// Each Read and Write is one step of the schedule: the model interleaves
// operations, not the per-manager requests inside one Write. Two Writes that
// overlap in time are kept apart by the lock (see the residual races in
// managers.go), which is not what this test is about.
//
// DROVER_MODEL_SCHEDULES sets the number of schedules per cluster size
// (default 500); DROVER_MODEL_SEED the first seed. A failure prints the
// seed and the trace of its schedule.

type modelVersion struct {
	parent string // digest of the version it was built on, "" for the first
	serial int64
	by     string
}

type modelClient struct {
	name   string
	m      *Managers
	view   map[string]bool // managers this client reaches
	failTo map[string]bool // state writes to these fail (a write dies midway)
	base   *State          // what the client last read or wrote; nil: must read
	none   bool            // it read "no state" (provably)
	seq    int
}

type modelRun struct {
	t        testing.TB
	rng      *rand.Rand
	c        *fakeCluster
	clients  []*modelClient
	versions map[string]modelVersion
	acked    []string // versions whose Write returned success, in order
	trace    []string
	steps    int
}

type modelRules struct {
	name      string
	rule      func(m *Managers) func([]outcome[stateCopy]) (*stateCopy, error) // nil: pickState
	baseCheck bool
}

func newModelRun(t testing.TB, seed uint64, managers, clients int, rules modelRules) *modelRun {
	names := make([]string, managers)
	for i := range names {
		names[i] = fmt.Sprintf("m%d", i+1)
	}
	r := &modelRun{t: t, rng: rand.New(rand.NewPCG(seed, 0x5eed)), c: newFakeCluster(names...), versions: map[string]modelVersion{}}
	for i := range clients {
		cl := &modelClient{name: fmt.Sprintf("c%d", i+1), view: map[string]bool{}, failTo: map[string]bool{}}
		for _, n := range names {
			cl.view[n] = true
		}
		m := &Managers{Hosts: names, Dir: testDir, TTL: time.Minute, Open: r.opener(cl)}
		if rules.rule != nil {
			m.selectRule = rules.rule(m)
		}
		m.skipBaseCheck = !rules.baseCheck
		cl.m = m
		r.clients = append(r.clients, cl)
	}
	return r
}

// modelFS is a client's connection to a manager: state writes may fail.
type modelFS struct {
	RemoteFS
	host string
	cl   *modelClient
}

func (f modelFS) WriteFileAtomic(ctx context.Context, name string, rd io.Reader, mode os.FileMode) error {
	if f.cl.failTo[f.host] && path.Base(name) == managersStateFile {
		return &hostErr{f.host, errors.New("connection lost mid-write")}
	}
	return f.RemoteFS.WriteFileAtomic(ctx, name, rd, mode)
}

func (r *modelRun) opener(cl *modelClient) func(ctx context.Context, host string) (RemoteFS, error) {
	return func(ctx context.Context, host string) (RemoteFS, error) {
		if !cl.view[host] {
			return nil, &hostErr{host, errRefused}
		}
		fs, err := r.c.open(ctx, host)
		if err != nil {
			return nil, err
		}
		return modelFS{fs, host, cl}, nil
	}
}

func versionDigest(s *State) string {
	data, err := Marshal(s)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

// descends reports whether v is w or built on w.
func (r *modelRun) descends(v, w string) bool {
	for v != "" {
		if v == w {
			return true
		}
		v = r.versions[v].parent
	}
	return false
}

func (r *modelRun) logf(format string, args ...any) {
	r.trace = append(r.trace, fmt.Sprintf("%3d ", r.steps)+fmt.Sprintf(format, args...))
}

// violation returns the acknowledged write that v does not descend from.
func (r *modelRun) violation(v string) (string, bool) {
	for _, w := range r.acked {
		if !r.descends(v, w) {
			return w, true
		}
	}
	return "", false
}

func (r *modelRun) describe(d string) string {
	v := r.versions[d]
	return fmt.Sprintf("%s (serial %d by %s)", d[:8], v.serial, v.by)
}

// errViolation is a broken invariant, with the trace.
type errViolation struct{ msg string }

func (e *errViolation) Error() string { return e.msg }

func (r *modelRun) fail(format string, args ...any) error {
	return &errViolation{fmt.Sprintf(format, args...) + "\ntrace:\n" + strings.Join(r.trace, "\n")}
}

func (r *modelRun) randomSubset(p float64) map[string]bool {
	out := map[string]bool{}
	for _, n := range r.c.names {
		if r.rng.Float64() < p {
			out[n] = true
		}
	}
	return out
}

// randomHosts returns n managers chosen at random.
func (r *modelRun) randomHosts(n int) map[string]bool {
	out := map[string]bool{}
	for _, i := range r.rng.Perm(len(r.c.names))[:n] {
		out[r.c.names[i]] = true
	}
	return out
}

func setString(set map[string]bool) string {
	var out []string
	for k, v := range set {
		if v {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return "{" + strings.Join(out, ",") + "}"
}

func (r *modelRun) read(ctx context.Context, cl *modelClient) error {
	s, err := cl.m.Read(ctx)
	switch {
	case errors.Is(err, ErrNoState):
		r.logf("%s read: no state", cl.name)
		if len(r.acked) > 0 {
			return r.fail("%s read provably no state, but %s was committed", cl.name, r.describe(r.acked[0]))
		}
		cl.base, cl.none = nil, true
	case err != nil:
		r.logf("%s read: %v", cl.name, firstLine(err))
		cl.base, cl.none = nil, false
	default:
		d := versionDigest(s)
		r.logf("%s read %s", cl.name, r.describe(d))
		if w, bad := r.violation(d); bad {
			return r.fail("%s read %s, which loses committed %s", cl.name, r.describe(d), r.describe(w))
		}
		cl.base, cl.none = s, false
	}
	return nil
}

func (r *modelRun) write(ctx context.Context, cl *modelClient) error {
	var next *State
	parent := ""
	switch {
	case cl.base != nil:
		parent = versionDigest(cl.base)
		data, _ := Marshal(cl.base)
		next = new(State)
		if err := json.Unmarshal(data, next); err != nil {
			return err
		}
		next.Serial++
	case cl.none:
		next = New("lab")
		next.Lineage = "model"
		next.Serial = 1
	default:
		return nil
	}
	cl.seq++
	// One history entry, unique to this version, keeps the documents small.
	next.History = []Run{{Serial: next.Serial, User: cl.name, Command: strconv.Itoa(cl.seq)}}
	cl.failTo = map[string]bool{}
	if r.rng.IntN(3) == 0 {
		cl.failTo = r.randomHosts(r.rng.IntN(len(r.c.names)))
	}
	err := cl.m.Write(ctx, next)
	// Write sets Ancestors: the digest is of the version as written.
	d := versionDigest(next)
	r.versions[d] = modelVersion{parent: parent, serial: next.Serial, by: cl.name}
	if err != nil {
		r.logf("%s write %s on %s (failing %s): %v", cl.name, r.describe(d), parentName(parent), setString(cl.failTo), firstLine(err))
		cl.failTo = map[string]bool{}
		if r.rng.IntN(2) == 0 {
			cl.base, cl.none = nil, false // gives up; the next cycle reads again
		}
		return nil
	}
	r.logf("%s write %s on %s: committed", cl.name, r.describe(d), parentName(parent))
	cl.failTo = map[string]bool{}
	if w, bad := r.violation(d); bad {
		return r.fail("%s committed %s, which is not built on committed %s", cl.name, r.describe(d), r.describe(w))
	}
	r.acked = append(r.acked, d)
	cl.base, cl.none = next, false
	return nil
}

func parentName(d string) string {
	if d == "" {
		return "nothing"
	}
	return d[:8]
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexAny(s, ";("); i > 0 {
		s = s[:i]
	}
	return s
}

// run plays one schedule of steps.
func (r *modelRun) run(steps int) error {
	ctx := context.Background()
	for r.steps = 0; r.steps < steps; r.steps++ {
		cl := r.clients[r.rng.IntN(len(r.clients))]
		switch k := r.rng.IntN(10); {
		case k == 0: // a manager crashes or comes back
			h := r.c.host(r.c.names[r.rng.IntN(len(r.c.names))])
			h.mu.Lock()
			down := h.down != nil
			h.mu.Unlock()
			if down {
				h.setDown(nil)
				r.logf("%s up", h.name)
			} else {
				h.setDown(errRefused)
				r.logf("%s down", h.name)
			}
		case k == 1: // a client's partition changes
			switch r.rng.IntN(3) {
			case 0:
				cl.view = r.randomSubset(1)
			case 1:
				cl.view = r.randomSubset(0.7)
			default: // a bare majority: where quorums overlap least
				cl.view = r.randomHosts(len(r.c.names)/2 + 1)
			}
			r.logf("%s sees %s", cl.name, setString(cl.view))
		case k < 6:
			if err := r.read(ctx, cl); err != nil {
				return err
			}
		default:
			if cl.base == nil && !cl.none {
				if err := r.read(ctx, cl); err != nil {
					return err
				}
				continue
			}
			if err := r.write(ctx, cl); err != nil {
				return err
			}
		}
	}
	// Heal everything: a reader that sees all managers must find every
	// committed write.
	for _, h := range r.c.hosts {
		h.setDown(nil)
	}
	final := r.clients[0]
	for _, n := range r.c.names {
		final.view[n] = true
	}
	r.logf("all healed")
	return r.read(ctx, final)
}

func modelSchedules(t testing.TB, def int) (int, uint64) {
	n, seed := def, uint64(1)
	if testing.Short() {
		n = def / 5
	}
	if v := os.Getenv("DROVER_MODEL_SCHEDULES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatalf("DROVER_MODEL_SCHEDULES: %v", err)
		}
	}
	if v := os.Getenv("DROVER_MODEL_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("DROVER_MODEL_SEED: %v", err)
		}
	}
	return n, seed
}

// explore runs schedules until one breaks the invariant, and returns it.
func explore(t testing.TB, managers, schedules int, seed uint64, rules modelRules) (int, error) {
	for i := range schedules {
		r := newModelRun(t, seed+uint64(i), managers, 3, rules)
		if err := r.run(40); err != nil {
			return i, fmt.Errorf("seed %d (%d managers, %s): %w", seed+uint64(i), managers, rules.name, err)
		}
	}
	return schedules, nil
}

var currentRules = modelRules{name: "current rules", baseCheck: true}

func TestManagersModel(t *testing.T) {
	schedules, seed := modelSchedules(t, 500)
	for _, managers := range []int{3, 5} {
		t.Run(fmt.Sprintf("%d managers", managers), func(t *testing.T) {
			start := time.Now()
			if _, err := explore(t, managers, schedules, seed, currentRules); err != nil {
				t.Fatal(err)
			}
			el := time.Since(start)
			t.Logf("%d schedules of 40 steps in %s (%.0f schedules/s)", schedules, el.Round(time.Millisecond), float64(schedules)/el.Seconds())
		})
	}
}

// TestManagersModelCatchesOldRules shows the checker can fail: the rules
// before this change (most holders among the answers wins; Write does not
// check what it builds on) lose committed writes, and so do the simpler
// fixes.
func TestManagersModelCatchesOldRules(t *testing.T) {
	schedules, seed := modelSchedules(t, 600)
	schedules = max(schedules, 600) // what finding each takes from seed 1
	for _, rules := range []modelRules{
		{name: "most holders, no base check", rule: mostHolders},
		{name: "most holders, with base check", rule: mostHolders, baseCheck: true},
		{name: "only candidate at the top serial, with base check", rule: topCandidate, baseCheck: true},
		{name: "current selection, no base check"},
	} {
		t.Run(rules.name, func(t *testing.T) {
			found := false
			for _, managers := range []int{5, 3} {
				i, err := explore(t, managers, schedules, seed, rules)
				var v *errViolation
				if errors.As(err, &v) {
					found = true
					t.Logf("%d managers: violation after %d schedules: %s", managers, i+1, firstTraceLines(err.Error(), 1))
					break
				} else if err != nil {
					t.Fatal(err)
				}
			}
			if !found {
				t.Fatalf("%d schedules found no lost write under %s", schedules, rules.name)
			}
		})
	}
}

func firstTraceLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

func BenchmarkManagersModelSchedule(b *testing.B) {
	for _, managers := range []int{3, 5} {
		b.Run(fmt.Sprintf("%d managers", managers), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				r := newModelRun(b, uint64(i), managers, 3, currentRules)
				if err := r.run(40); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// mostHolders is the selection rule this package had before: the top
// serial among the answers and, among different copies of it, the one most
// managers that answered hold.
func mostHolders(*Managers) func([]outcome[stateCopy]) (*stateCopy, error) {
	return func(res []outcome[stateCopy]) (*stateCopy, error) {
		versions, holders, byNorm := topCopies(res)
		if len(versions) == 0 {
			return nil, nil
		}
		if len(versions) > 1 && len(holders[versions[0]]) == len(holders[versions[1]]) {
			return nil, errors.New("tie")
		}
		return byNorm[versions[0]], nil
	}
}

// topCandidate is "the only candidate at the top serial, else the one a
// majority of all the managers hold".
func topCandidate(m *Managers) func([]outcome[stateCopy]) (*stateCopy, error) {
	return func(res []outcome[stateCopy]) (*stateCopy, error) {
		versions, holders, byNorm := topCopies(res)
		switch {
		case len(versions) == 0:
			return nil, nil
		case len(versions) == 1 || len(holders[versions[0]]) >= m.quorum():
			return byNorm[versions[0]], nil
		}
		return nil, errors.New("conflict")
	}
}

// topCopies groups the copies of the top serial by content, most holders
// first.
func topCopies(res []outcome[stateCopy]) ([]string, map[string][]string, map[string]*stateCopy) {
	var best *stateCopy
	for i := range res {
		c := &res[i].Val
		if res[i].Err != nil || !c.present {
			continue
		}
		if best == nil || c.st.Serial > best.st.Serial {
			best = c
		}
	}
	var versions []string
	holders := map[string][]string{}
	byNorm := map[string]*stateCopy{}
	if best == nil {
		return nil, holders, byNorm
	}
	for i := range res {
		c := &res[i].Val
		if res[i].Err != nil || !c.present || c.st.Serial != best.st.Serial {
			continue
		}
		if _, ok := holders[c.norm]; !ok {
			versions = append(versions, c.norm)
			byNorm[c.norm] = c
		}
		holders[c.norm] = append(holders[c.norm], res[i].Host)
	}
	sort.SliceStable(versions, func(i, j int) bool { return len(holders[versions[i]]) > len(holders[versions[j]]) })
	return versions, holders, byNorm
}
