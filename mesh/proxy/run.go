package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// Options are `drover proxy`'s flags.
type Options struct {
	Config string        // the configuration file
	Status string        // where the status is written ("" for none)
	Poll   time.Duration // how often the file is looked at
	Docker string        // the engine socket, for gates
	Log    zerolog.Logger
	// Version is the binary's version, written in the status.
	Version string
	// LocalRange, when set, is made local on the host at start and
	// again every RouteEvery (a host whose routes were flushed gets it
	// back): the services' virtual addresses.
	LocalRange string
	RouteEvery time.Duration
}

// DefaultRouteEvery is how often the local range is made local again.
const DefaultRouteEvery = 2 * time.Second

// Run serves the configuration file until ctx ends, re-reading it when its
// content changes (drover renames a new file over it) or on SIGHUP. A file
// that does not parse is logged and the routes being served stay.
func Run(ctx context.Context, o Options) error {
	if o.Poll <= 0 {
		o.Poll = 500 * time.Millisecond
	}
	if o.RouteEvery <= 0 {
		o.RouteEvery = DefaultRouteEvery
	}
	var hs HealthSource
	if o.Docker != "" {
		hs = NewDockerHealth(o.Docker)
	}
	var lr *LocalRange
	if o.LocalRange != "" {
		r, err := ParseLocalRange(o.LocalRange)
		if err != nil {
			return err
		}
		lr = &r
	}
	// Before the first load: listeners on the range need it.
	var routeErr string
	first := true
	ensureRoute := func() {
		if lr == nil {
			return
		}
		msg := ""
		if err := lr.Ensure(); err != nil {
			msg = err.Error()
		}
		if msg != routeErr || first {
			first = false
			if msg != "" {
				o.Log.Error().Str("range", lr.String()).Msg(msg + " (names of services do not resolve from this host's containers)")
			} else {
				o.Log.Info().Str("range", lr.String()).Msg("local route set")
			}
		}
		routeErr = msg
	}
	ensureRoute()
	// Root-only: docker created the directory 0755 for its bind mount.
	os.Chmod(filepath.Dir(o.Config), 0o700)
	s := NewServer(ctx, o.Log, hs)
	defer s.Close()
	changed := make(chan struct{}, 1)
	s.onChange = func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	var current []byte
	load := func() {
		b, err := os.ReadFile(o.Config)
		if err != nil {
			if current != nil || !os.IsNotExist(err) {
				o.Log.Error().Err(err).Msg("read config")
			}
			return
		}
		if bytes.Equal(b, current) {
			return
		}
		c, err := ParseConfig(b)
		if err != nil {
			o.Log.Error().Err(&ConfigError{Path: o.Config, Err: err}).Msg("config refused, the routes being served stay")
			current = b
			return
		}
		err = s.Apply(c)
		current = b
		if err != nil {
			o.Log.Error().Err(err).Msg("config applied in part")
			current = nil // retry the binds at the next poll
		} else {
			o.Log.Info().Int("routes", len(c.Routes)).Msg("config applied")
		}
		s.onChange()
	}
	// The file's events make a new configuration apply at once; the poll
	// stays for what they miss.
	written := watchFile(ctx, o.Config)
	load()
	t := time.NewTicker(o.Poll)
	defer t.Stop()
	statusEvery := time.NewTicker(5 * time.Second)
	defer statusEvery.Stop()
	routeEvery := time.NewTicker(o.RouteEvery)
	defer routeEvery.Stop()
	status := func() { writeStatus(o, s, routeErr) }
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			load()
		case <-written:
			load()
		case <-t.C:
			load()
		case <-routeEvery.C:
			before := routeErr
			ensureRoute()
			if routeErr != before {
				status()
			}
		case <-changed:
			status()
		case <-statusEvery.C:
			status()
		}
	}
}

// writeStatus replaces the status file atomically (root-only, like the
// config).
func writeStatus(o Options, s *Server, routeErr string) {
	if o.Status == "" {
		return
	}
	st := s.Status(time.Now())
	st.Version = o.Version
	st.LocalRange, st.LocalRangeError = o.LocalRange, routeErr
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return
	}
	tmp := filepath.Join(filepath.Dir(o.Status), "."+filepath.Base(o.Status)+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		o.Log.Error().Err(err).Msg("write status")
		return
	}
	if err := os.Rename(tmp, o.Status); err != nil {
		o.Log.Error().Err(err).Msg("write status")
	}
}
