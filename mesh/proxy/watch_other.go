//go:build !linux

package proxy

import "context"

// watchFile: no file events off Linux; the poll sees every change.
func watchFile(ctx context.Context, path string) <-chan struct{} { return nil }
