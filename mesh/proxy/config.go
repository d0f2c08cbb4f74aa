package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"time"
)

// Protocol is a route's transport.
type Protocol string

const (
	TCP Protocol = "tcp"
	UDP Protocol = "udp"
)

// Config is the proxy's whole configuration, one JSON document.
type Config struct {
	// Version is the drover version that rendered the file (informational:
	// drover replaces the proxy image when its own version differs).
	Version string       `json:"version,omitempty"`
	Health  HealthConfig `json:"health"`
	Routes  []Route      `json:"routes"`
}

// HealthConfig tunes the active checks. Zero values take the defaults.
type HealthConfig struct {
	Interval Duration `json:"interval,omitempty"`
	Timeout  Duration `json:"timeout,omitempty"`
	Fall     int      `json:"fall,omitempty"`
	Rise     int      `json:"rise,omitempty"`
}

// Defaults: a dead backend (connection refused) is out after two checks,
// under a second; one that does not answer at all (host down) after two
// timeouts, under 1.5 s.
const (
	DefaultInterval = 400 * time.Millisecond
	DefaultTimeout  = 500 * time.Millisecond
	DefaultFall     = 2
	DefaultRise     = 2
)

// withDefaults fills the zero fields.
func (h HealthConfig) withDefaults() HealthConfig {
	if h.Interval <= 0 {
		h.Interval = Duration(DefaultInterval)
	}
	if h.Timeout <= 0 {
		h.Timeout = Duration(DefaultTimeout)
	}
	if h.Fall <= 0 {
		h.Fall = DefaultFall
	}
	if h.Rise <= 0 {
		h.Rise = DefaultRise
	}
	return h
}

// Route is one listening address and the backends behind it.
type Route struct {
	// Name says what the route is for (e.g. "shop_web 8088/tcp"); logs only.
	Name     string    `json:"name"`
	Protocol Protocol  `json:"protocol"`
	Listen   string    `json:"listen"`
	Backends []Backend `json:"backends"`
	// Gate, when set, names the local container (docker id) the route
	// fronts: the listener is open only while docker says the container is
	// healthy (or running, when it has no healthcheck), and each accepted
	// connection is acknowledged (see Backend.Gated) once the replica took
	// it.
	Gate string `json:"gate,omitempty"`
}

// Backend is one replica's address, reachable from this host.
type Backend struct {
	Address string `json:"address"`
	// Replica names the replica (e.g. "shop_web.3@h2"); logs and status only.
	Replica string `json:"replica,omitempty"`
	// Gated says the address is a gate (another host's proxy): a
	// connection counts only once the gate wrote its one-byte
	// acknowledgement, sent when it reached the replica. A gate that
	// cannot reach it closes instead, and the next backend is tried.
	Gated bool `json:"gated,omitempty"`
}

// gateAck is the byte a gate writes once it holds a connection to its
// replica.
const gateAck = 0x06

// key identifies a listener: a reload keeps it when the key is unchanged.
func (r Route) key() string { return string(r.Protocol) + " " + r.Listen }

// Duration is a time.Duration written as "500ms" in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string like \"500ms\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// ConfigError is a configuration the proxy refuses; the old one stays.
type ConfigError struct {
	Path string
	Err  error
}

func (e *ConfigError) Error() string { return fmt.Sprintf("proxy config %s: %v", e.Path, e.Err) }
func (e *ConfigError) Unwrap() error { return e.Err }

// LoadConfig reads and validates the file at path.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, &ConfigError{Path: path, Err: err}
	}
	c, err := ParseConfig(b)
	if err != nil {
		return Config{}, &ConfigError{Path: path, Err: err}
	}
	return c, nil
}

// ParseConfig decodes and validates one document. Unknown fields are
// refused: a drover newer than the proxy must replace the proxy, not be
// half understood by it.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate checks every route; all problems are joined.
func (c Config) Validate() error {
	var errs []error
	seen := map[string]string{}
	for i, r := range c.Routes {
		where := fmt.Sprintf("routes[%d] (%s)", i, r.Name)
		if r.Protocol != TCP && r.Protocol != UDP {
			errs = append(errs, fmt.Errorf("%s: protocol %q: want tcp or udp", where, r.Protocol))
		}
		if err := checkHostPort(r.Listen); err != nil {
			errs = append(errs, fmt.Errorf("%s: listen: %w", where, err))
		}
		if other, dup := seen[r.key()]; dup {
			errs = append(errs, fmt.Errorf("%s: listen %s %s is also routes %s", where, r.Protocol, r.Listen, other))
		}
		seen[r.key()] = where
		for j, b := range r.Backends {
			if err := checkHostPort(b.Address); err != nil {
				errs = append(errs, fmt.Errorf("%s: backends[%d]: %w", where, j, err))
			}
		}
	}
	return errors.Join(errs...)
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if host != "" && net.ParseIP(host) == nil {
		return fmt.Errorf("%q: host must be an IP address", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port must be 1-65535", s)
	}
	return nil
}

// Marshal renders c canonically (routes sorted by listener, backends by
// address) so that the same routes give the same bytes: drover compares
// the file it would write with the one on the host.
func (c Config) Marshal() ([]byte, error) {
	c.Routes = append([]Route(nil), c.Routes...)
	for i := range c.Routes {
		bs := append([]Backend(nil), c.Routes[i].Backends...)
		sort.Slice(bs, func(a, b int) bool { return bs[a].Address < bs[b].Address })
		c.Routes[i].Backends = bs
	}
	sort.Slice(c.Routes, func(a, b int) bool { return c.Routes[a].key() < c.Routes[b].key() })
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
