package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// fastHealth makes the checks quick enough for tests.
var fastHealth = HealthConfig{Interval: Duration(20 * time.Millisecond), Timeout: Duration(200 * time.Millisecond), Fall: 2, Rise: 2}

// echoServer answers each line with "NAME LINE" until closed.
type echoServer struct {
	name string
	ln   net.Listener
	wg   sync.WaitGroup
}

func startEcho(t *testing.T, name, addr string) *echoServer {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{name: name, ln: ln}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewScanner(c)
				for r.Scan() {
					fmt.Fprintf(c, "%s %s\n", name, r.Text())
				}
			}()
		}
	}()
	t.Cleanup(e.stop)
	return e
}

func (e *echoServer) addr() string { return e.ln.Addr().String() }
func (e *echoServer) stop()        { e.ln.Close(); e.wg.Wait() }

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func newTestServer(t *testing.T, hs HealthSource) *Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := NewServer(ctx, zerolog.Nop(), hs)
	t.Cleanup(func() { s.Close(); cancel() })
	return s
}

// conn is a line-oriented client connection through the proxy.
type conn struct {
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &conn{c: c, r: bufio.NewReader(c)}
}

// ask sends one line and returns the answering backend's name.
func (c *conn) ask(t *testing.T, line string) string {
	t.Helper()
	c.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintln(c.c, line); err != nil {
		t.Fatalf("write: %v", err)
	}
	s, err := c.r.ReadString('\n')
	if err != nil {
		t.Fatalf("read answer to %q: %v", line, err)
	}
	name, got, _ := strings.Cut(strings.TrimSpace(s), " ")
	if got != line {
		t.Fatalf("answer %q to %q", s, line)
	}
	return name
}

func askOnce(t *testing.T, addr string) string {
	t.Helper()
	c := dial(t, addr)
	defer c.c.Close()
	return c.ask(t, "ping")
}

// eventually polls cond until it holds; the bound is a safety net for a
// hung test, not a timing assertion.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func tcpRoute(listen string, backends ...string) Route {
	r := Route{Name: "web " + listen, Protocol: TCP, Listen: listen}
	for _, b := range backends {
		r.Backends = append(r.Backends, Backend{Address: b})
	}
	return r
}

func TestTCPBalancesOverAllBackends(t *testing.T) {
	a, b, c := startEcho(t, "a", ""), startEcho(t, "b", ""), startEcho(t, "c", "")
	s := newTestServer(t, nil)
	listen := freeAddr(t)
	if err := s.Apply(Config{Health: fastHealth, Routes: []Route{tcpRoute(listen, a.addr(), b.addr(), c.addr())}}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for i := 0; i < 30; i++ {
		seen[askOnce(t, listen)]++
	}
	for _, n := range []string{"a", "b", "c"} {
		if seen[n] != 10 {
			t.Errorf("backend %s answered %d of 30 (want 10, round robin): %v", n, seen[n], seen)
		}
	}
}

func TestReloadKeepsEstablishedConnections(t *testing.T) {
	a, b := startEcho(t, "a", ""), startEcho(t, "b", "")
	s := newTestServer(t, nil)
	listen, other := freeAddr(t), freeAddr(t)
	if err := s.Apply(Config{Health: fastHealth, Routes: []Route{tcpRoute(listen, a.addr())}}); err != nil {
		t.Fatal(err)
	}
	old := dial(t, listen)
	if got := old.ask(t, "1"); got != "a" {
		t.Fatalf("first answer from %s", got)
	}
	// a leaves the route (it is being drained), b replaces it, and a
	// second route appears.
	if err := s.Apply(Config{Health: fastHealth, Routes: []Route{tcpRoute(listen, b.addr()), tcpRoute(other, a.addr())}}); err != nil {
		t.Fatal(err)
	}
	if got := old.ask(t, "2"); got != "a" {
		t.Errorf("established connection answered by %s after reload, want a (kept)", got)
	}
	if got := askOnce(t, listen); got != "b" {
		t.Errorf("new connection after reload went to %s, want b", got)
	}
	if got := askOnce(t, other); got != "a" {
		t.Errorf("new route answered by %s, want a", got)
	}
	// The route's listener goes; its established connection stays.
	if err := s.Apply(Config{Health: fastHealth, Routes: []Route{tcpRoute(other, a.addr())}}); err != nil {
		t.Fatal(err)
	}
	if got := old.ask(t, "3"); got != "a" {
		t.Errorf("established connection answered by %s after its route was removed", got)
	}
	if c, err := net.DialTimeout("tcp", listen, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts after its route was removed", listen)
	}
}

func TestDeadBackendLeavesRotationAndReturns(t *testing.T) {
	a, b := startEcho(t, "a", ""), startEcho(t, "b", "")
	s := newTestServer(t, nil)
	listen := freeAddr(t)
	if err := s.Apply(Config{Health: fastHealth, Routes: []Route{tcpRoute(listen, a.addr(), b.addr())}}); err != nil {
		t.Fatal(err)
	}
	addrB := b.addr()
	b.stop()
	upOf := func(addr string) bool {
		for _, bs := range s.Status(time.Now()).Routes[0].Backends {
			if bs.Address == addr {
				return bs.Up
			}
		}
		t.Fatalf("%s not in status", addr)
		return false
	}
	eventually(t, "the checker takes b out", func() bool { return !upOf(addrB) })
	for i := 0; i < 10; i++ {
		if got := askOnce(t, listen); got != "a" {
			t.Fatalf("request %d went to %s with b down", i, got)
		}
	}
	startEcho(t, "b2", addrB)
	eventually(t, "b returns when it answers again", func() bool { return upOf(addrB) })
	seen := map[string]bool{}
	for i := 0; i < 4; i++ {
		seen[askOnce(t, listen)] = true
	}
	if !seen["b2"] {
		t.Errorf("b never answered after it came back: %v", seen)
	}
}

func TestFailedDialRetriesAnotherBackend(t *testing.T) {
	a := startEcho(t, "a", "")
	dead := freeAddr(t) // nothing listens there
	s := newTestServer(t, nil)
	listen := freeAddr(t)
	// Slow checks: the failover must come from the dial, not the checker.
	slow := HealthConfig{Interval: Duration(time.Hour), Timeout: Duration(time.Second)}
	if err := s.Apply(Config{Health: slow, Routes: []Route{tcpRoute(listen, dead, a.addr())}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		if got := askOnce(t, listen); got != "a" {
			t.Fatalf("request %d: %s", i, got)
		}
	}
	for _, bs := range s.Status(time.Now()).Routes[0].Backends {
		if bs.Address == dead && bs.Up {
			t.Errorf("dead backend still up after a failed dial: %+v", bs)
		}
	}
}

func TestHalfCloseIsPassedOn(t *testing.T) {
	// A backend that reads to EOF, then answers with the byte count.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for { // the checker connects too
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				n, _ := io.Copy(io.Discard, c)
				fmt.Fprintf(c, "%d", n)
			}()
		}
	}()
	s := newTestServer(t, nil)
	listen := freeAddr(t)
	if err := s.Apply(Config{Health: fastHealth, Routes: []Route{tcpRoute(listen, ln.Addr().String())}}); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	payload := strings.Repeat("x", 1<<20)
	io.WriteString(c, payload)
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != fmt.Sprint(len(payload)) {
		t.Errorf("backend saw %s bytes, want %d", got, len(payload))
	}
}

func startUDPEcho(t *testing.T, name string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo([]byte(name+" "+string(buf[:n])), from)
		}
	}()
	return pc.LocalAddr().String()
}

func TestUDPForwardsAndPinsAFlow(t *testing.T) {
	a, b := startUDPEcho(t, "a"), startUDPEcho(t, "b")
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := pc.LocalAddr().String()
	pc.Close()
	s := newTestServer(t, nil)
	r := Route{Name: "dns", Protocol: UDP, Listen: listen, Backends: []Backend{{Address: a}, {Address: b}}}
	if err := s.Apply(Config{Health: fastHealth, Routes: []Route{r}}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for client := 0; client < 4; client++ {
		c, err := net.Dial("udp", listen)
		if err != nil {
			t.Fatal(err)
		}
		var first string
		for i := 0; i < 3; i++ {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(c, "q%d", i)
			buf := make([]byte, 100)
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("client %d datagram %d: %v", client, i, err)
			}
			name, body, _ := strings.Cut(string(buf[:n]), " ")
			if body != fmt.Sprintf("q%d", i) {
				t.Fatalf("answer %q", buf[:n])
			}
			if i == 0 {
				first = name
			} else if name != first {
				t.Errorf("client %d: flow moved from %s to %s", client, first, name)
			}
		}
		seen[first]++
		c.Close()
	}
	if seen["a"] == 0 || seen["b"] == 0 {
		t.Errorf("flows not balanced over both backends: %v", seen)
	}
}

// fakeHealth is a HealthSource whose answer the test sets.
type fakeHealth struct{ ready atomic.Bool }

func (f *fakeHealth) ContainerReady(context.Context, string) (bool, error) {
	if f.ready.Load() {
		return true, nil
	}
	return false, &NotReadyError{Reason: "container abc: unhealthy"}
}

func TestGateListensOnlyWhileContainerReady(t *testing.T) {
	a := startEcho(t, "a", "")
	hs := &fakeHealth{}
	s := newTestServer(t, hs)
	listen := freeAddr(t)
	r := tcpRoute(listen, a.addr())
	r.Gate = "abc"
	if err := s.Apply(Config{Health: fastHealth, Routes: []Route{r}}); err != nil {
		t.Fatal(err)
	}
	refused := func() bool {
		c, err := net.DialTimeout("tcp", listen, time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	}
	// Not ready yet: give the gate a few checks, it must stay shut.
	eventually(t, "the gate looked at the container", func() bool { return s.Status(time.Now()).Routes[0].Error != "" })
	if !refused() {
		t.Fatal("gate open while the container is unhealthy")
	}
	hs.ready.Store(true)
	eventually(t, "gate opens when healthy", func() bool { return !refused() })
	held := dial(t, listen)
	held.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := held.r.ReadByte(); err != nil || b != gateAck {
		t.Fatalf("gate acknowledgement: %#x %v", b, err)
	}
	if got := held.ask(t, "x"); got != "a" {
		t.Fatalf("through the gate: %s", got)
	}
	hs.ready.Store(false)
	eventually(t, "gate closes when unhealthy", refused)
	if got := held.ask(t, "y"); got != "a" {
		t.Errorf("connection through a closed gate dropped: %s", got)
	}
}

func TestConfigValidation(t *testing.T) {
	cases := map[string]struct {
		json string
		want string // substring of the error, "" for none
	}{
		"ok":          {`{"health":{"interval":"500ms"},"routes":[{"name":"w","protocol":"tcp","listen":"0.0.0.0:80","backends":[{"address":"10.0.0.1:30000"}]}]}`, ""},
		"protocol":    {`{"health":{},"routes":[{"name":"w","protocol":"sctp","listen":"0.0.0.0:80","backends":[]}]}`, `protocol "sctp"`},
		"listen":      {`{"health":{},"routes":[{"name":"w","protocol":"tcp","listen":"example.com:80","backends":[]}]}`, "host must be an IP"},
		"port":        {`{"health":{},"routes":[{"name":"w","protocol":"tcp","listen":"0.0.0.0:0","backends":[]}]}`, "port must be 1-65535"},
		"duplicate":   {`{"health":{},"routes":[{"name":"a","protocol":"tcp","listen":":80","backends":[]},{"name":"b","protocol":"tcp","listen":":80","backends":[]}]}`, "is also routes"},
		"backend":     {`{"health":{},"routes":[{"name":"a","protocol":"tcp","listen":":80","backends":[{"address":"nope"}]}]}`, "backends[0]"},
		"unknown key": {`{"health":{},"routes":[],"admin":":9000"}`, "unknown field"},
		"duration":    {`{"health":{"interval":"soon"},"routes":[]}`, `duration "soon"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.json))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestMarshalIsCanonical(t *testing.T) {
	c1 := Config{Routes: []Route{tcpRoute(":90", "b:1", "a:1"), tcpRoute(":80", "c:1")}}
	c2 := Config{Routes: []Route{tcpRoute(":80", "c:1"), tcpRoute(":90", "a:1", "b:1")}}
	b1, _ := c1.Marshal()
	b2, _ := c2.Marshal()
	if string(b1) != string(b2) {
		t.Errorf("same routes, different bytes:\n%s\n%s", b1, b2)
	}
}

// TestRunReloadsOnRename drives the real loop: a config written next to the
// old one and renamed over it (what drover does over SFTP) is served.
func TestRunReloadsOnRename(t *testing.T) {
	a, b := startEcho(t, "a", ""), startEcho(t, "b", "")
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	listen := freeAddr(t)
	write := func(c Config) {
		bs, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		tmp := path + ".new"
		if err := os.WriteFile(tmp, bs, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write(Config{Health: fastHealth, Routes: []Route{tcpRoute(listen, a.addr())}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	status := filepath.Join(dir, "status.json")
	go func() {
		done <- Run(ctx, Options{Config: path, Status: status, Poll: 20 * time.Millisecond, Log: zerolog.Nop(), Version: "test"})
	}()
	defer func() { cancel(); <-done }()
	eventually(t, "first config served", func() bool {
		c, err := net.Dial("tcp", listen)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	held := dial(t, listen)
	if got := held.ask(t, "1"); got != "a" {
		t.Fatalf("got %s", got)
	}
	os.WriteFile(path+".bad", []byte("{not json"), 0o600)
	os.Rename(path+".bad", path)
	time.Sleep(100 * time.Millisecond) // a few polls: the bad file is refused
	if got := askOnce(t, listen); got != "a" {
		t.Fatalf("a bad config changed the routes: %s", got)
	}
	write(Config{Health: fastHealth, Routes: []Route{tcpRoute(listen, b.addr())}})
	eventually(t, "second config served", func() bool { return askOnce(t, listen) == "b" })
	if got := held.ask(t, "2"); got != "a" {
		t.Errorf("established connection moved or dropped on reload: %s", got)
	}
	eventually(t, "status written", func() bool {
		bs, err := os.ReadFile(status)
		return err == nil && strings.Contains(string(bs), b.addr())
	})
	if fi, err := os.Stat(status); err == nil && fi.Mode().Perm() != 0o600 {
		t.Errorf("status file mode %v, want 0600", fi.Mode().Perm())
	}
}

// TestGateHandshakeFailsOver: two hosts' gates behind one ingress route;
// the replica behind one is dead (its gate is still open: its docker check
// has not noticed yet). The gate accepts and closes without its
// acknowledgement, so the ingress proxy tries the other gate: no client
// sees a failure.
func TestGateHandshakeFailsOver(t *testing.T) {
	a := startEcho(t, "a", "")
	dead := freeAddr(t)
	hs := &fakeHealth{}
	hs.ready.Store(true)
	gates := newTestServer(t, hs)
	gateA, gateB := freeAddr(t), freeAddr(t)
	ga, gb := tcpRoute(gateA, a.addr()), tcpRoute(gateB, dead)
	ga.Gate, gb.Gate = "ca", "cb"
	slow := HealthConfig{Interval: Duration(time.Hour), Timeout: Duration(time.Second)}
	if err := gates.Apply(Config{Health: slow, Routes: []Route{ga, gb}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both gates open", func() bool {
		for _, g := range []string{gateA, gateB} {
			c, err := net.Dial("tcp", g)
			if err != nil {
				return false
			}
			c.Close()
		}
		return true
	})
	ingress := newTestServer(t, nil)
	listen := freeAddr(t)
	r := Route{Name: "web", Protocol: TCP, Listen: listen, Backends: []Backend{{Address: gateA, Gated: true}, {Address: gateB, Gated: true}}}
	if err := ingress.Apply(Config{Health: slow, Routes: []Route{r}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		if got := askOnce(t, listen); got != "a" {
			t.Fatalf("request %d: %s", i, got)
		}
	}
	for _, b := range ingress.Status(time.Now()).Routes[0].Backends {
		if b.Address == gateB && b.Up {
			t.Errorf("gate with a dead replica still up: %+v", b)
		}
	}
}

// TestLocalGateShortCircuit: an ingress backend that is this proxy's own
// gate is reached straight (no second hop), and only while the gate is
// open: closed, the other backend serves.
func TestLocalGateShortCircuit(t *testing.T) {
	a, b := startEcho(t, "a", ""), startEcho(t, "b", "")
	hs := &fakeHealth{}
	hs.ready.Store(true)
	s := newTestServer(t, hs)
	gateAddr, listen := freeAddr(t), freeAddr(t)
	g := tcpRoute(gateAddr, a.addr())
	g.Gate = "ca"
	in := Route{Name: "web", Protocol: TCP, Listen: listen, Backends: []Backend{{Address: gateAddr, Gated: true}, {Address: b.addr()}}}
	slow := HealthConfig{Interval: Duration(20 * time.Millisecond), Timeout: Duration(time.Second), Fall: 1000, Rise: 1}
	if err := s.Apply(Config{Health: slow, Routes: []Route{g, in}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "gate open", func() bool { ok, _ := s.listeners["tcp "+gateAddr].open(); return ok })
	seen := map[string]int{}
	for i := 0; i < 10; i++ {
		seen[askOnce(t, listen)]++
	}
	if seen["a"] != 5 || seen["b"] != 5 {
		t.Errorf("with the local gate open: %v, want a and b 5 each", seen)
	}
	hs.ready.Store(false)
	eventually(t, "gate closed", func() bool { ok, _ := s.listeners["tcp "+gateAddr].open(); return !ok })
	for i := 0; i < 6; i++ {
		if got := askOnce(t, listen); got != "b" {
			t.Fatalf("request %d through a closed local gate went to %s", i, got)
		}
	}
}

// flakyHealth answers ready, then only with transport errors.
type flakyHealth struct{ calls atomic.Int64 }

func (f *flakyHealth) ContainerReady(context.Context, string) (bool, error) {
	if f.calls.Add(1) == 1 {
		return true, nil
	}
	return false, context.DeadlineExceeded
}

// TestGateKeepsStateWhenDockerIsSilent: an engine that does not answer is
// no news; only docker's own "not ready" closes a gate.
func TestGateKeepsStateWhenDockerIsSilent(t *testing.T) {
	a := startEcho(t, "a", "")
	hs := &flakyHealth{}
	s := newTestServer(t, hs)
	listen := freeAddr(t)
	r := tcpRoute(listen, a.addr())
	r.Gate = "abc"
	if err := s.Apply(Config{Health: fastHealth, Routes: []Route{r}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a few silent checks", func() bool { return hs.calls.Load() > 5 })
	if ok, msg := s.Status(time.Now()).Routes[0].Open, s.Status(time.Now()).Routes[0].Error; !ok {
		t.Errorf("gate closed on a silent engine (%s)", msg)
	}
}

// TestRunAppliesAWrittenFileAtOnce: with a poll of an hour, a file written
// in place (as docker's archive upload does) is still applied: the
// directory's events trigger the reload.
func TestRunAppliesAWrittenFileAtOnce(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("file events are read on Linux only")
	}
	a, b := startEcho(t, "a", ""), startEcho(t, "b", "")
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	listen := freeAddr(t)
	write := func(c Config) {
		bs, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, bs, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(Config{Health: fastHealth, Routes: []Route{tcpRoute(listen, a.addr())}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: path, Poll: time.Hour, Log: zerolog.Nop(), Version: "test"})
	}()
	defer func() { cancel(); <-done }()
	eventually(t, "first config served", func() bool {
		c, err := net.Dial("tcp", listen)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	if got := askOnce(t, listen); got != "a" {
		t.Fatalf("got %s", got)
	}
	write(Config{Health: fastHealth, Routes: []Route{tcpRoute(listen, b.addr())}})
	eventually(t, "the written config served before the next poll", func() bool { return askOnce(t, listen) == "b" })
}

// freeUDPAddr is a loopback UDP address nothing listens on.
func freeUDPAddr(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().String()
}

// askUDP sends one datagram on a new flow and returns the answering
// backend's name ("" when none answered in time).
func askUDP(t *testing.T, listen string) string {
	t.Helper()
	c, err := net.Dial("udp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	fmt.Fprint(c, "q")
	buf := make([]byte, 100)
	n, err := c.Read(buf)
	if err != nil {
		return ""
	}
	name, _, _ := strings.Cut(string(buf[:n]), " ")
	return name
}

// TestUDPGateTakesABackendOut: a UDP replica behind a gate leaves the
// other proxies' rotation when docker says its container is not ready
// (the closed gate's port is unreachable, and the empty-datagram check
// fails), and comes back when it is ready again.
func TestUDPGateTakesABackendOut(t *testing.T) {
	a, b := startUDPEcho(t, "a"), startUDPEcho(t, "b")
	hs := &fakeHealth{}
	hs.ready.Store(true)
	gates := newTestServer(t, hs)
	gateA, gateB := freeUDPAddr(t), freeUDPAddr(t)
	ga := Route{Name: "dns gate a", Protocol: UDP, Listen: gateA, Gate: "ca", Backends: []Backend{{Address: a}}}
	gb := Route{Name: "dns gate b", Protocol: UDP, Listen: gateB, Gate: "cb", Backends: []Backend{{Address: b}}}
	if err := gates.Apply(Config{Health: fastHealth, Routes: []Route{ga}}); err != nil {
		t.Fatal(err)
	}
	// Gate b is another host's, with its own docker.
	hsB := &fakeHealth{}
	hsB.ready.Store(true)
	gatesB := newTestServer(t, hsB)
	if err := gatesB.Apply(Config{Health: fastHealth, Routes: []Route{gb}}); err != nil {
		t.Fatal(err)
	}
	ingress := newTestServer(t, nil)
	listen := freeUDPAddr(t)
	r := Route{Name: "dns", Protocol: UDP, Listen: listen, Backends: []Backend{{Address: gateA, Gated: true}, {Address: gateB, Gated: true}}}
	if err := ingress.Apply(Config{Health: fastHealth, Routes: []Route{r}}); err != nil {
		t.Fatal(err)
	}
	both := func() bool {
		seen := map[string]bool{}
		for i := 0; i < 8; i++ {
			seen[askUDP(t, listen)] = true
		}
		return seen["a"] && seen["b"]
	}
	eventually(t, "both UDP replicas answer", both)
	hsB.ready.Store(false)
	eventually(t, "b's backend out of the ingress proxy", func() bool {
		for _, rs := range ingress.Status(time.Now()).Routes {
			for _, bs := range rs.Backends {
				if bs.Address == gateB {
					return !bs.Up
				}
			}
		}
		return false
	})
	for i := 0; i < 10; i++ {
		if got := askUDP(t, listen); got != "a" {
			t.Fatalf("flow %d: answered by %q with b not ready", i, got)
		}
	}
	hsB.ready.Store(true)
	eventually(t, "b back in rotation", both)
}
