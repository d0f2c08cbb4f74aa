package ssh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover-sh/drover/ssh/sshtest"
)

func TestPoolDialsOncePerHost(t *testing.T) {
	env := newTestEnv(t)
	cfgs := map[string]Config{}
	var servers []*sshtest.Server
	for i := range 3 {
		srv, cfg := env.server(t, fmt.Sprintf("h%d", i), echoHandler)
		cfgs[cfg.Name] = cfg
		servers = append(servers, srv)
	}
	var resolves atomic.Int64
	p := NewPool(func(name string) (Config, error) {
		resolves.Add(1)
		return cfgs[name], nil
	}, PoolOptions{})
	defer p.Close()

	var wg sync.WaitGroup
	clients := make([][]*Client, 3)
	var mu sync.Mutex
	for range 20 {
		for i := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := p.Client(t.Context(), fmt.Sprintf("h%d", i))
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := c.Run(t.Context(), Cmd{Args: []string{"x"}}); err != nil {
					t.Error(err)
				}
				mu.Lock()
				clients[i] = append(clients[i], c)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	for i, srv := range servers {
		if srv.Handshakes() != 1 {
			t.Errorf("h%d: %d handshakes, want 1", i, srv.Handshakes())
		}
		for _, c := range clients[i] {
			if c != clients[i][0] {
				t.Errorf("h%d: callers got different clients", i)
			}
		}
	}
	if resolves.Load() != 3 {
		t.Errorf("%d resolves, want 3", resolves.Load())
	}
}

func TestPoolRemembersFailure(t *testing.T) {
	env := newTestEnv(t)
	srv := sshtest.NewServer(t, nil)
	cfg := env.config(t, "down", srv)
	cfg.Port = closedPort(t)
	var resolves atomic.Int64
	p := NewPool(func(string) (Config, error) { resolves.Add(1); return cfg, nil }, PoolOptions{})
	defer p.Close()

	_, err1 := p.Client(t.Context(), "down")
	_, err2 := p.Client(t.Context(), "down")
	if err1 == nil || err1 != err2 || resolves.Load() != 1 {
		t.Fatalf("errors %v / %v after %d resolves", err1, err2, resolves.Load())
	}

	p2 := NewPool(func(string) (Config, error) { return Config{}, errors.New("not in inventory") }, PoolOptions{})
	defer p2.Close()
	if _, err := p2.Client(t.Context(), "ghost"); err == nil || err.Error() != "ssh ghost: not in inventory" {
		t.Fatalf("got %v", err)
	}
}

func TestForEachIsolatesFailures(t *testing.T) {
	env := newTestEnv(t)
	cfgs := map[string]Config{}
	names := []string{"a", "b", "down", "c", "d"}
	for _, n := range names {
		_, cfg := env.server(t, n, echoHandler)
		cfgs[n] = cfg
	}
	down := cfgs["down"]
	down.Port = closedPort(t)
	cfgs["down"] = down

	p := NewPool(func(n string) (Config, error) { return cfgs[n], nil }, PoolOptions{})
	defer p.Close()
	var ran sync.Map
	err := p.ForEach(t.Context(), names, 2, func(ctx context.Context, name string, c *Client) error {
		if name == "d" {
			return errors.New("app check failed")
		}
		_, err := c.Run(ctx, Cmd{Args: []string{"x"}})
		ran.Store(name, true)
		return err
	})
	for _, n := range []string{"a", "b", "c"} {
		if _, ok := ran.Load(n); !ok {
			t.Errorf("%s did not run", n)
		}
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok || len(joined.Unwrap()) != 2 {
		t.Fatalf("want two joined errors, got %v", err)
	}
	errs := joined.Unwrap()
	var he *HostError
	if !errors.As(errs[0], &he) || he.Host != "down" || Reason(errs[0]) != "connection refused" {
		t.Errorf("first error %v", errs[0])
	}
	if errs[1].Error() != "d: app check failed" {
		t.Errorf("second error %q", errs[1])
	}
	if msg := errs[0].Error(); msg[:8] != "ssh down" {
		t.Errorf("host named twice? %q", msg)
	}
}

// TestForEachDeadHostDoesNotDelayOthers: with a hung host in the list,
// the others finish long before its ConnectTimeout.
func TestForEachDeadHostDoesNotDelayOthers(t *testing.T) {
	env := newTestEnv(t)
	hung := sshtest.NewServer(t, nil) // only lends its client key
	cfgs := map[string]Config{}
	for _, n := range []string{"a", "b", "c"} {
		_, cfg := env.server(t, n, echoHandler)
		cfgs[n] = cfg
	}
	blackhole := env.config(t, "hung", hung)
	blackhole.Port = silentListener(t)
	blackhole.ConnectTimeout = 2 * time.Second
	cfgs["hung"] = blackhole

	p := NewPool(func(n string) (Config, error) { return cfgs[n], nil }, PoolOptions{})
	defer p.Close()
	var fast atomic.Int64
	start := time.Now()
	err := p.ForEach(t.Context(), []string{"hung", "a", "b", "c"}, 2, func(ctx context.Context, name string, c *Client) error {
		if time.Since(start) < time.Second {
			fast.Add(1)
		}
		return nil
	})
	if fast.Load() != 3 {
		t.Errorf("%d healthy hosts finished within 1s, want 3", fast.Load())
	}
	if Reason(err) != "timeout" {
		t.Errorf("Reason = %q (%v)", Reason(err), err)
	}
}

func TestPoolClose(t *testing.T) {
	env := newTestEnv(t)
	_, cfg := env.server(t, "h", echoHandler)
	p := NewPool(func(string) (Config, error) { return cfg, nil }, PoolOptions{})
	c, err := p.Client(t.Context(), "h")
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	if _, err := c.Run(t.Context(), Cmd{Args: []string{"x"}}); err == nil {
		t.Error("client still usable after pool close")
	}
	if _, err := p.Client(t.Context(), "h"); !errors.Is(err, ErrPoolClosed) {
		t.Errorf("got %v", err)
	}
}

// TestPoolCloseCancelsHungDial: Close does not wait out the ConnectTimeout
// of a dial stuck in the handshake behind a jump host.
func TestPoolCloseCancelsHungDial(t *testing.T) {
	env := newTestEnv(t)
	key := sshtest.NewKey(t)
	jump, _ := env.server(t, "j1", nil, sshtest.WithClientKey(key))
	hung := sshtest.NewServer(t, nil, sshtest.WithClientKey(key))
	cfg := env.config(t, "hung", hung)
	cfg.Port = silentListener(t)
	cfg.Jumps = []Endpoint{{Host: jump.Host, Port: jump.Port}}
	cfg.ConnectTimeout = time.Minute

	p := NewPool(func(string) (Config, error) { return cfg, nil }, PoolOptions{})
	dialErr := make(chan error, 1)
	go func() {
		_, err := p.Client(context.Background(), "hung")
		dialErr <- err
	}()
	waitFor(t, func() bool { return jump.Handshakes() == 1 })
	time.Sleep(50 * time.Millisecond) // into the target's handshake

	start := time.Now()
	p.Close()
	if d := time.Since(start); d > closeWait+time.Second {
		t.Fatalf("Close took %v", d)
	}
	select {
	case err := <-dialErr:
		if err == nil {
			t.Fatal("dial of a black hole succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Client still waiting after Close")
	}
}

// silentListener accepts TCP connections and never answers.
func silentListener(t *testing.T) int {
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}
