package cluster

import (
	"time"

	"gopkg.in/yaml.v3"
)

// Floors for the inventory's timing keys. A lock TTL is renewed every third
// of itself over SSH or a local flock: below a few seconds a run loses its
// own lock to a slow renewal (and at nanoseconds the renewal ticker cannot
// even be made). A connect timeout shorter than one TCP+SSH handshake on a
// LAN fails every host; a command timeout under a second fails healthy
// hosts under load.
const (
	MinLockTTL        = 10 * time.Second
	MinConnectTimeout = 100 * time.Millisecond
	// MinCommandTimeout bounds read_timeout, change_timeout and
	// transfer_timeout: one docker command over SSH takes tens of
	// milliseconds on a quiet host and seconds on a loaded one.
	MinCommandTimeout = time.Second
)

// durationAtLeast parses a duration and refuses one below min, naming the
// key and its place in the file.
func (p *invParser) durationAtLeast(v *yaml.Node, where string, min time.Duration) (time.Duration, error) {
	d, err := p.duration(v, where)
	if err != nil {
		return 0, err
	}
	if d < min {
		return 0, p.errf(v, "%s %q: must be at least %s", where, v.Value, min)
	}
	return d, nil
}
