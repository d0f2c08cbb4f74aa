package reconcile

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
)

// Fingerprint sums up what a plan is computed from on the hosts: which
// hosts are up, each container of the cluster there (by ID, whether it
// runs, whether it is unhealthy) and the networks and volumes there. A
// saved plan is carried out only on a cluster with the same fingerprint:
// anything else could need other steps. Health that moves on by itself
// (starting → healthy) does not count; the plan would not change for it.
func (w *World) Fingerprint() string {
	var lines []string
	for _, h := range w.Hosts {
		if !h.Node.Ready {
			lines = append(lines, "host "+h.Node.Name+" down")
			continue
		}
		lines = append(lines, "host "+h.Node.Name+" up")
		for _, r := range h.Replicas {
			l := "container " + h.Node.Name + " " + r.ID
			if r.Running() {
				l += " running"
			}
			if r.Health == "unhealthy" {
				l += " unhealthy"
			}
			lines = append(lines, l)
		}
		for _, n := range h.Networks {
			lines = append(lines, "network "+h.Node.Name+" "+n)
		}
		for _, v := range h.Volumes {
			lines = append(lines, "volume "+h.Node.Name+" "+v)
		}
	}
	sort.Strings(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(sum[:])
}
