package ssh

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/drover-sh/drover/ssh/sshtest"
)

func TestZZTiming(t *testing.T) {
	env := newTestEnv(t)
	key := sshtest.NewKey(t)
	cfgs := map[string]Config{}
	var names []string
	for i := 0; i < 200; i++ {
		_, cfg := env.server(t, "n", func(cmd string, _ io.Reader, stdout, _ io.Writer) int { io.WriteString(stdout, "x"); return 0 }, sshtest.WithClientKey(key))
		n := fmt.Sprint(i)
		cfg.Name = n
		cfgs[n] = cfg
		names = append(names, n)
	}
	for it := 0; it < 3; it++ {
		var mu sync.Mutex
		var dials []time.Duration
		p := NewPool(func(n string) (Config, error) { return cfgs[n], nil }, PoolOptions{})
		t0 := time.Now()
		p.ForEach(context.Background(), names, 32, func(ctx context.Context, n string, c *Client) error {
			_, err := c.Run(ctx, Cmd{Args: []string{"x"}})
			return err
		})
		t1 := time.Now()
		p.Close()
		t2 := time.Now()
		_ = mu
		sort.Slice(dials, func(i, j int) bool { return dials[i] < dials[j] })
		t.Logf("foreach %v close %v", t1.Sub(t0), t2.Sub(t1))
	}
}
