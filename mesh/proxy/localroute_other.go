//go:build !linux

package proxy

import "errors"

// Ensure: local routes are made through Linux's netlink only (the proxy
// runs on the docker hosts, which are Linux).
func (r LocalRange) Ensure() error {
	return &RouteError{Range: r.String(), Err: errors.New("not supported on this platform")}
}
