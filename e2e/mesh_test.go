//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The routing mesh (docs/networking.md): every node answers on an ingress
// port and balances over every replica on every node.

const meshPort = "18188"

func meshStack(t *testing.T, image string, replicas int, extra string) string {
	return writeStack(t, fmt.Sprintf(`services:
  web:
    image: %s
    ports: ["%s:8080"]
    stop_grace_period: 5s
    deploy:
      replicas: %d
      update_config: {parallelism: 2, order: start-first, monitor: 1s}
%s`, image, meshPort, replicas, extra))
}

// meshGet asks host's mesh port once, on a new connection, and returns the
// hostname of the replica that answered.
func meshGet(client *http.Client, addr string) (string, error) {
	resp, err := client.Get("http://" + addr + ":" + meshPort + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var v struct{ Hostname string }
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return "", err
	}
	return v.Hostname, nil
}

func newClient() *http.Client {
	return &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
}

func hostAddrs(t *testing.T) []string {
	l := lab(t)
	var out []string
	for _, h := range l.Hosts {
		out = append(out, h.Addr)
	}
	return out
}

// proxyRunning lists the hosts whose drover-proxy container runs.
func proxyRunning(t *testing.T) []string {
	var out []string
	for _, h := range lab(t).Hosts {
		if s, err := hostDockerErr(t, h.Name, "inspect", "--format", "{{.State.Status}}", "drover-proxy"); err == nil && strings.TrimSpace(s) == "running" {
			out = append(out, h.Name)
		}
	}
	return out
}

// load is a bounded load generator: workers each send one request at a
// time, on a new connection, round robin over the hosts, until stopped.
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
	stop       chan struct{}
	wg         sync.WaitGroup
}

func startLoad(addrs []string, workers int) *load {
	l := &load{stop: make(chan struct{})}
	for w := 0; w < workers; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			c := newClient()
			for i := w; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				addr := addrs[i%len(addrs)]
				if _, err := meshGet(c, addr); err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					if len(l.errs) < 10 {
						l.errs = append(l.errs, time.Now().Format("15:04:05.000")+" "+addr+": "+err.Error())
					}
					l.mu.Unlock()
				} else {
					l.ok.Add(1)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	return l
}

func (l *load) end() (ok, failed int64, errs []string) {
	close(l.stop)
	l.wg.Wait()
	return l.ok.Load(), l.failed.Load(), l.errs
}

// TestMeshIngress: 5 replicas behind one ingress port on 3 hosts; every
// host answers and every replica serves; the proxy listens only where it
// should; stack rm takes the port and the proxies away.
func TestMeshIngress(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	const stack = "e2emesh"
	cleanupStack(t, inv, stack)
	began := time.Now()
	mustDrover(t, inv, "stack", "deploy", "-c", meshStack(t, "drover-test/app:nohc", 5, ""), stack)
	t.Logf("first deploy with the proxy install: %s", time.Since(began).Round(time.Millisecond))
	if got := proxyRunning(t); len(got) != 3 {
		t.Fatalf("proxy runs on %v, want every host", got)
	}
	c := newClient()
	seen := map[string]int{}
	for i := 0; i < 100; i++ {
		for _, a := range hostAddrs(t) {
			name, err := meshGet(c, a)
			if err != nil {
				t.Fatalf("request %d to %s: %v", i, a, err)
			}
			seen[name]++
		}
	}
	if len(seen) != 5 {
		t.Errorf("300 requests answered by %d replicas, want all 5: %v", len(seen), seen)
	}
	for name, n := range seen {
		if n < 20 {
			t.Errorf("replica %s answered %d of 300", name, n)
		}
	}

	// ingress ls: every host routes the port over the 5 replicas, all up.
	out := mustDrover(t, inv, "ingress", "ls", "--output", "json")
	var rows []struct {
		Host, Route, Listen, Backend, Replica string
		Up                                    bool
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("ingress ls: %v\n%s", err, out)
	}
	perHost := map[string]int{}
	for _, r := range rows {
		if r.Listen == "0.0.0.0:"+meshPort {
			perHost[r.Host]++
			if !r.Up {
				t.Errorf("ingress ls: %s on %s down", r.Backend, r.Host)
			}
		}
	}
	for _, h := range lab(t).Hosts {
		if perHost[h.Name] != 5 {
			t.Errorf("ingress ls: %s routes %d backends, want 5\n%s", h.Name, perHost[h.Name], out)
		}
	}
	table, _, _ := runDrover(t, inv, "ingress", "ls")
	t.Logf("drover ingress ls:\n%s", table)

	// Security: the proxy listens on the ingress port, its host's cluster
	// address and the service addresses only; replicas bind the loopback
	// only.
	for _, h := range lab(t).Hosts {
		ss := labCmd(t, "exec", h.Name, "ss", "-Htlnp")
		for _, line := range strings.Split(ss, "\n") {
			f := strings.Fields(line)
			if len(f) < 4 {
				continue
			}
			local := f[3]
			switch {
			case strings.Contains(line, `"drover"`):
				// The ingress port, the gates on the cluster address, the
				// service addresses (discovery): nothing else.
				if local != "*:"+meshPort && !strings.HasPrefix(local, h.Addr+":") && !strings.HasPrefix(local, "198.18.") {
					t.Errorf("%s: the proxy listens on %s", h.Name, local)
				}
			case strings.Contains(line, "docker-proxy"):
				if !strings.HasPrefix(local, "127.0.0.1:") {
					t.Errorf("%s: a replica port is bound on %s, want the loopback", h.Name, local)
				}
			}
		}
		mode := labCmd(t, "exec", h.Name, "stat", "-c", "%a %U", "/var/lib/drover/mesh", "/var/lib/drover/mesh/config.json")
		if strings.TrimSpace(mode) != "700 root\n600 root" && strings.Join(strings.Fields(mode), " ") != "700 root 600 root" {
			t.Errorf("%s: mesh files: %q, want root-only", h.Name, mode)
		}
		mem := hostDocker(t, h.Name, "stats", "--no-stream", "--format", "{{.MemUsage}}", "drover-proxy")
		t.Logf("%s: proxy memory %s", h.Name, strings.TrimSpace(mem))
	}

	// reconcile restores a stopped proxy, a removed one and a changed
	// configuration.
	hostDocker(t, "h2", "stop", "drover-proxy")
	hostDocker(t, "h3", "rm", "-f", "drover-proxy")
	labCmd(t, "exec", "h1", "sh", "-c", `echo '{"health":{},"routes":[]}' > /var/lib/drover/mesh/config.json`)
	mustDrover(t, inv, "reconcile")
	if got := proxyRunning(t); len(got) != 3 {
		t.Errorf("after reconcile the proxy runs on %v, want every host", got)
	}
	for _, a := range hostAddrs(t) {
		waitFor(t, 5*time.Second, a+" answers after reconcile (the proxy polls its file every 250ms)", func() bool {
			_, err := meshGet(c, a)
			return err == nil
		})
	}

	mustDrover(t, inv, "stack", "rm", stack)
	for _, a := range hostAddrs(t) {
		if _, err := meshGet(c, a); err == nil {
			t.Errorf("%s:%s still answers after stack rm", a, meshPort)
		}
	}
	if got := proxyRunning(t); len(got) != 0 {
		t.Errorf("proxy still runs on %v after the last route went", got)
	}
}

// proxyStatus is what one host's proxy last wrote about its backends:
// backend address → up, for the ingress routes.
func proxyStatus(t *testing.T, host string) map[string]bool {
	out, err := labCmdErr(t, "exec", host, "cat", "/var/lib/drover/mesh/status.json")
	if err != nil {
		return nil
	}
	var st struct {
		Routes []struct {
			Gate     string
			Backends []struct {
				Address string
				Replica string
				Up      bool
			}
		}
	}
	if json.Unmarshal([]byte(out), &st) != nil {
		return nil
	}
	m := map[string]bool{}
	for _, r := range st.Routes {
		if r.Gate != "" {
			continue
		}
		for _, b := range r.Backends {
			m[b.Replica] = b.Up
		}
	}
	return m
}

// waitOutEverywhere waits until every host's proxy has the replica (name
// prefix "stack_web.N.") out of rotation and returns how long that took.
func waitOutEverywhere(t *testing.T, prefix string, since time.Time) time.Duration {
	t.Helper()
	waitFor(t, 30*time.Second, prefix+" out of every proxy", func() bool {
		for _, h := range lab(t).Hosts {
			st := proxyStatus(t, h.Name)
			found := false
			for rep, up := range st {
				if strings.HasPrefix(rep, prefix) {
					found = true
					if up {
						return false
					}
				}
			}
			if !found && st == nil {
				return false
			}
		}
		return true
	})
	return time.Since(since)
}

// TestMeshActiveHealth: a killed replica and an unhealthy one leave every
// proxy with no drover run, and no request fails meanwhile; reconcile
// replaces the dead one and the new one serves.
func TestMeshActiveHealth(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	const stack = "e2emeshhc"
	cleanupStack(t, inv, stack)
	mustDrover(t, inv, "stack", "deploy", "-c", meshStack(t, "drover-test/app:v1", 3, ""), stack)
	waitAllHealthy(t, stack, 3)
	cs := running(stackContainers(t, stack))
	if len(cs) != 3 {
		t.Fatalf("%d running", len(cs))
	}
	victim := cs[0]
	l := startLoad(hostAddrs(t), 3)
	killed := time.Now()
	hostDocker(t, victim.Host, "kill", victim.ID)
	took := waitOutEverywhere(t, victim.Name, killed)
	ok, failed, errs := l.end()
	t.Logf("docker kill %s on %s: out of all 3 proxies after %s (status files polled); %d requests ok, %d failed meanwhile %v", victim.Name, victim.Host, took.Round(10*time.Millisecond), ok, failed, errs)
	// A request in flight on the killed replica is lost (one per worker
	// at most); any other would be one sent to it after it died.
	if failed > 3 {
		t.Errorf("%d requests failed after a replica was killed (3 workers): %v", failed, errs)
	}
	l = startLoad(hostAddrs(t), 3)
	time.Sleep(time.Second)
	ok, failed, errs = l.end()
	if failed > 0 || ok == 0 {
		t.Errorf("with the dead replica out: %d ok, %d failed %v", ok, failed, errs)
	}

	// Unhealthy by its docker healthcheck: its host's gate closes, and the
	// other hosts' proxies, which only see TCP, take it out.
	sick := cs[1]
	hostDocker(t, sick.Host, "exec", sick.ID, "/app", "-touch", "/tmp/unhealthy")
	var unhealthyAt time.Time
	waitFor(t, 30*time.Second, sick.Name+" unhealthy by docker", func() bool {
		s, _ := hostDockerErr(t, sick.Host, "inspect", "--format", "{{.State.Health.Status}}", sick.ID)
		if strings.TrimSpace(s) == "unhealthy" {
			unhealthyAt = time.Now()
			return true
		}
		return false
	})
	took = waitOutEverywhere(t, sick.Name, unhealthyAt)
	t.Logf("%s unhealthy (docker): out of all 3 proxies %s later", sick.Name, took.Round(10*time.Millisecond))
	c := newClient()
	sickHost := sick.ID // docker ps IDs are the 12-digit hostnames
	for i := 0; i < 30; i++ {
		name, err := meshGet(c, hostAddrs(t)[i%3])
		if err != nil {
			t.Fatalf("request %d with one replica dead and one unhealthy: %v", i, err)
		}
		if name == sickHost {
			t.Fatalf("request %d answered by the unhealthy replica", i)
		}
	}
	hostDocker(t, sick.Host, "exec", sick.ID, "/app", "-rm", "/tmp/unhealthy")

	// reconcile replaces the killed replica; the new one serves.
	mustDrover(t, inv, "reconcile")
	waitAllHealthy(t, stack, 3)
	seen := map[string]bool{}
	waitFor(t, 20*time.Second, "all 3 replicas serve again", func() bool {
		for i := 0; i < 9; i++ {
			if name, err := meshGet(c, hostAddrs(t)[i%3]); err == nil {
				seen[name] = true
			}
		}
		n := 0
		for _, r := range running(stackContainers(t, stack)) {
			if seen[r.ID[:12]] {
				n++
			}
		}
		return n == 3
	})
}

// TestMeshZeroDowntime: a rolling update of 5 replicas, then the drain of
// a host with replicas, both under continuous load through all 3 hosts:
// no request fails. Each replica leaves every proxy and drains before it
// is stopped; start-first works although the port is published.
func TestMeshZeroDowntime(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	const stack = "e2emeshzd"
	cleanupStack(t, inv, stack)
	mustDrover(t, inv, "stack", "deploy", "-c", meshStack(t, "drover-test/app:v1", 5, ""), stack)
	waitAllHealthy(t, stack, 5)

	l := startLoad(hostAddrs(t), 6)
	began := time.Now()
	_, stderr, code := runDrover(t, inv, "stack", "deploy", "-c", meshStack(t, "drover-test/app:v2", 5, ""), stack)
	took := time.Since(began)
	time.Sleep(500 * time.Millisecond)
	ok, failed, errs := l.end()
	t.Logf("rolling update of 5 replicas (start-first, 2 at a time) under load: %s, %d requests ok, %d failed %v", took.Round(100*time.Millisecond), ok, failed, errs)
	if code != 0 {
		t.Fatalf("update: exit %d\n%s", code, stderr)
	}
	if strings.Contains(stderr, "replacing stop-first") {
		t.Errorf("start-first refused for an ingress port:\n%s", stderr)
	}
	if failed > 0 {
		t.Errorf("%d requests failed during the rolling update: %v", failed, errs)
	}
	c := newClient()
	for i := 0; i < 6; i++ {
		resp, err := c.Get("http://" + hostAddrs(t)[i%3] + ":" + meshPort + "/")
		if err != nil {
			t.Fatal(err)
		}
		var v struct{ Version string }
		json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if v.Version != "v2" {
			t.Errorf("after the update a request got version %q", v.Version)
		}
	}

	// Drain the host with the most replicas.
	counts := perHost(running(stackContainers(t, stack)), stack+"_web")
	drained := "h1"
	for h, n := range counts {
		if n > counts[drained] {
			drained = h
		}
	}
	t.Cleanup(func() { runDrover(t, inv, "node", "update", "--availability", "active", drained) })
	l = startLoad(hostAddrs(t), 6)
	began = time.Now()
	_, stderr, code = runDrover(t, inv, "node", "update", "--availability", "drain", drained)
	took = time.Since(began)
	time.Sleep(500 * time.Millisecond)
	ok, failed, errs = l.end()
	t.Logf("drain of %s (%d replicas) under load: %s, %d requests ok, %d failed %v", drained, counts[drained], took.Round(100*time.Millisecond), ok, failed, errs)
	if code != 0 {
		t.Fatalf("drain: exit %d\n%s", code, stderr)
	}
	if failed > 0 {
		t.Errorf("%d requests failed during the drain: %v", failed, errs)
	}
	if n := perHost(running(stackContainers(t, stack)), stack+"_web")[drained]; n != 0 {
		t.Errorf("%d replicas left on drained %s", n, drained)
	}
}

// TestMeshHostCrash: a host crashes (every process killed, the replicas'
// addresses refuse); the other hosts' proxies stop sending to its replicas
// with no drover run. Reported: how long that took and how many requests
// failed meanwhile (those in flight on the crashed host's replicas).
func TestMeshHostCrash(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	const stack = "e2emeshcrash"
	cleanupStack(t, inv, stack)
	mustDrover(t, inv, "stack", "deploy", "-c", meshStack(t, "drover-test/app:nohc", 3, ""), stack)
	crashed := "h3"
	var alive []string
	for _, h := range lab(t).Hosts {
		if h.Name != crashed {
			alive = append(alive, h.Addr)
		}
	}
	t.Cleanup(func() {
		labCmdErr(t, "start", crashed)
		runDrover(t, inv, "reconcile")
	})
	l := startLoad(alive, 4)
	time.Sleep(300 * time.Millisecond)
	at := time.Now()
	labCmd(t, "stop", crashed)
	var out time.Duration
	waitFor(t, 30*time.Second, "the crashed host's replicas out of the other proxies", func() bool {
		for _, h := range lab(t).Hosts {
			if h.Name == crashed {
				continue
			}
			for rep, up := range proxyStatus(t, h.Name) {
				if strings.HasSuffix(rep, "@"+crashed) && up {
					return false
				}
			}
		}
		out = time.Since(at)
		return true
	})
	time.Sleep(time.Second)
	ok, failed, errs := l.end()
	t.Logf("lab stop %s: its replicas out of the other proxies after %s (status files polled); %d requests ok, %d failed %v", crashed, out.Round(10*time.Millisecond), ok, failed, errs)
	if failed > 4 {
		t.Errorf("%d requests failed: more than the 4 workers' in-flight ones", failed)
	}
}

// TestMeshDiscovery: a web on h1 and h3 reaches a db pinned to h2 by its
// short and its full name (a virtual address its host's proxy serves);
// after the db is replaced by a new container, the same web containers
// still reach it.
func TestMeshDiscovery(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	const stack = "e2edisc"
	cleanupStack(t, inv, stack)
	file := writeStack(t, `services:
  web:
    image: drover-test/app:nohc
    deploy:
      replicas: 2
      placement: {constraints: ["node.hostname != h2"], max_replicas_per_node: 1}
  db:
    image: drover-test/app:nohc
    environment: {VERSION: db1}
    ports: ["8080"]
    deploy:
      placement: {constraints: ["node.hostname == h2"]}
`)
	mustDrover(t, inv, "stack", "deploy", "-c", file, stack)
	webs := running(stackContainers(t, stack))
	var callers []container
	for _, c := range webs {
		if c.Service == stack+"_web" {
			callers = append(callers, c)
		}
	}
	if len(callers) != 2 {
		t.Fatalf("%d web replicas", len(callers))
	}
	since := time.Now()
	reach := func(what string) {
		t.Helper()
		for _, c := range callers {
			for _, name := range []string{"db", stack + "_db"} {
				url := "http://" + name + ":8080/"
				var out string
				var err error
				// Within the bound below (1 s), with the same 5 s allowed.
				start := time.Now()
				for time.Since(start) < 5*time.Second {
					if out, err = hostDockerErr(t, c.Host, "exec", c.ID, "/app", "-check", url); err == nil {
						break
					}
					time.Sleep(300 * time.Millisecond)
				}
				if err == nil && time.Since(start) > time.Second {
					t.Logf("%s: web on %s reached %s after %s", what, c.Host, url, time.Since(start).Round(time.Millisecond))
				}
				if err != nil {
					t.Errorf("%s: web on %s cannot reach %s: %v %s", what, c.Host, url, err, out)
				}
				if err != nil || time.Since(start) > time.Second {
					proxyLogs(t, since, c.Host, "h2")
				}
			}
		}
	}
	reach("after deploy")
	hosts := hostDocker(t, callers[0].Host, "inspect", "--format", "{{.HostConfig.ExtraHosts}}", callers[0].ID)
	if !strings.Contains(hosts, "db:198.18.") || !strings.Contains(hosts, stack+"_db:198.18.") {
		t.Errorf("web's hosts entries: %s", hosts)
	}
	t.Logf("web on %s: hosts entries %s", callers[0].Host, strings.TrimSpace(hosts))

	// The bound (docs/networking.md, discovery): a new replica is reachable
	// by name from every host within 1 s of docker reporting it ready. A
	// caller on h1 probes db while the update replaces it (stop-first: the
	// old one is gone before the new one starts, so any answer after the
	// new one's start is the new one). The test allows 5 s (a loaded
	// 2-core CI machine) and logs what it saw; before the mesh learnt a
	// new replica once ready it took the monitor window too (~6 s).
	before := running(stackContainers(t, stack))
	since = time.Now()
	updated := make(chan int, 1)
	go func() {
		_, _, code := runDrover(t, inv, "service", "update", "--force", stack+"_db")
		updated <- code
	}()
	type probe struct {
		at time.Time // when the answer was in
		ok bool
	}
	var probes []probe
	code := -1
	for done := false; !done; {
		_, err := hostDockerErr(t, callers[0].Host, "exec", callers[0].ID, "/app", "-check", "http://db:8080/")
		probes = append(probes, probe{time.Now(), err == nil})
		select {
		case code = <-updated:
			done = true
		default:
		}
	}
	if code != 0 {
		t.Fatalf("service update --force: exit %d", code)
	}
	after := running(stackContainers(t, stack))
	var newDB container
	for _, a := range after {
		if a.Service == stack+"_db" {
			newDB = a
		}
	}
	startedAt, err := time.Parse(time.RFC3339Nano, hostDocker(t, newDB.Host, "inspect", "--format", "{{.State.StartedAt}}", newDB.ID))
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	var reached time.Time
	for _, p := range probes {
		if !p.ok {
			failed++
		} else if p.at.After(startedAt) && reached.IsZero() {
			reached = p.at
		}
	}
	switch {
	case reached.IsZero():
		t.Errorf("web on %s never reached db by name while the update ran (%d probes, %d failed)", callers[0].Host, len(probes), failed)
		proxyLogs(t, since, callers[0].Host, newDB.Host)
	case reached.Sub(startedAt) > 5*time.Second:
		t.Errorf("web on %s reached the new db %s after it started (allowed: 5 s)", callers[0].Host, reached.Sub(startedAt).Round(time.Millisecond))
		proxyLogs(t, since, callers[0].Host, newDB.Host)
	default:
		t.Logf("web on %s reached the new db by name %s after it started (%d probes, %d failed during the update)", callers[0].Host, reached.Sub(startedAt).Round(time.Millisecond), len(probes), failed)
	}
	for _, c := range before {
		if c.Service == stack+"_db" {
			for _, a := range after {
				if a.ID == c.ID {
					t.Fatalf("db not replaced")
				}
			}
		}
	}
	reach("after the db was replaced")

	// The proxy made the services' addresses local itself (no ip command
	// over SSH) and makes them local again when the route goes.
	const vipRoute = "local 198.18.0.0/16 dev lo"
	for _, h := range []string{"h1", "h2", "h3"} {
		if out := labCmd(t, "exec", h, "ip", "route", "show", "table", "local"); !strings.Contains(out, vipRoute) {
			t.Errorf("%s: no %q in the local table:\n%s", h, vipRoute, out)
		}
	}
	labCmd(t, "exec", callers[0].Host, "ip", "route", "del", "local", "198.18.0.0/16", "dev", "lo", "table", "local")
	gone := time.Now()
	waitFor(t, 10*time.Second, "the proxy puts the route of the services' addresses back", func() bool {
		return strings.Contains(labCmd(t, "exec", callers[0].Host, "ip", "route", "show", "table", "local"), vipRoute)
	})
	t.Logf("%s: the route was back after %s", callers[0].Host, time.Since(gone).Round(100*time.Millisecond))
	reach("after the route was put back")
	for _, c := range callers {
		found := false
		for _, a := range after {
			found = found || a.ID == c.ID
		}
		if !found {
			t.Errorf("web %s was touched", c.Name)
		}
	}
}

// proxyLogs logs what the hosts' proxies said since then (docker's
// timestamps): what a slow or failed reach looked like from inside.
func proxyLogs(t *testing.T, since time.Time, hosts ...string) {
	t.Helper()
	for _, h := range hosts {
		// The proxy logs to stderr.
		out, err := exec.Command("docker", "-H", lab(t).Host(t, h).DockerHost(), "logs", "--timestamps", "--since", since.UTC().Format(time.RFC3339Nano), "drover-proxy").CombinedOutput()
		t.Logf("drover-proxy on %s since %s (%v):\n%s", h, since.UTC().Format("15:04:05.000"), err, out)
	}
}

// TestMeshUDP: a UDP ingress port answers on a node with no replica and
// balances new flows over the replicas of the other hosts (through their
// UDP gates); a replica whose container dies leaves every proxy with no
// drover run (its gate closes; the others' empty-datagram check fails) and
// no new flow goes to it.
func TestMeshUDP(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	const stack = "e2emeshudp"
	cleanupStack(t, inv, stack)
	file := writeStack(t, `services:
  dns:
    image: drover-test/app:nohc
    environment: {UDP_PORT: "9053"}
    ports: ["18153:9053/udp"]
    deploy:
      replicas: 2
      placement: {constraints: ["node.hostname != h1"], max_replicas_per_node: 1}
`)
	mustDrover(t, inv, "stack", "deploy", "-c", file, stack)
	cs := running(stackContainers(t, stack))
	if len(cs) != 2 {
		t.Fatalf("%d replicas running", len(cs))
	}
	addr := net.JoinHostPort(lab(t).Host(t, "h1").Addr, "18153")
	// ask sends one datagram on a new flow and returns who answered (the
	// replica's hostname, its short container ID), "" for no answer.
	ask := func() string {
		c, err := net.Dial("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		fmt.Fprint(c, "q")
		buf := make([]byte, 200)
		n, err := c.Read(buf)
		if err != nil {
			return ""
		}
		name, _, _ := strings.Cut(string(buf[:n]), " ")
		return name
	}
	short := func(c container) string { return c.ID[:12] }
	waitFor(t, 15*time.Second, "both UDP replicas answer through h1", func() bool {
		seen := map[string]bool{}
		for i := 0; i < 8; i++ {
			seen[ask()] = true
		}
		return seen[short(cs[0])] && seen[short(cs[1])]
	})
	victim, other := cs[0], cs[1]
	killed := time.Now()
	hostDocker(t, victim.Host, "kill", victim.ID)
	took := waitOutEverywhere(t, victim.Name, killed)
	answers := map[string]int{}
	for i := 0; i < 20; i++ {
		answers[ask()]++
	}
	t.Logf("docker kill %s on %s: out of all 3 proxies after %s (status files polled); 20 new flows then: %v", victim.Name, victim.Host, took.Round(10*time.Millisecond), answers)
	if answers[short(other)] != 20 {
		t.Errorf("20 new flows after %s died: answered %v, want all by %s", victim.Name, answers, short(other))
	}
}
