//go:build linux || darwin || freebsd || openbsd || netbsd || dragonfly

package ssh

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive advisory lock, so that two drover processes
// appending to the same known_hosts file do not interleave their lines.
func lockFile(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }

func unlockFile(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
