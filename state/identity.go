package state

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Identity tells this machine, this boot of it and this PID namespace apart
// from every other: a lock holder's PID means something only to a process
// with the same Identity. Host names do not do that — two machines, or two
// containers, may have the same one — so they are only for display.
type Identity struct {
	// MachineID is derived from /etc/machine-id (or
	// /var/lib/dbus/machine-id): an HMAC of it, as systemd asks
	// applications to do, so the lock file does not reveal the ID itself.
	MachineID string
	// BootID is /proc/sys/kernel/random/boot_id: new at every boot, and
	// shared by the containers of one kernel.
	BootID string
	// PIDNamespace is the link /proc/self/ns/pid, e.g. "pid:[4026531836]":
	// containers of one kernel see different PIDs.
	PIDNamespace string
}

// machineIDKey makes drover's machine ID specific to drover (see
// sd_id128_get_machine_app_specific).
const machineIDKey = "drover lock holder identity v1"

// LocalIdentity reads this process's Identity. Parts that cannot be read
// (no /proc, no machine-id) stay empty; a lock taken with an empty Identity
// is judged by host name, as locks from before identities were.
func LocalIdentity() Identity {
	var id Identity
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		if b, err := os.ReadFile(p); err == nil {
			if raw := strings.TrimSpace(string(b)); raw != "" {
				mac := hmac.New(sha256.New, []byte(machineIDKey))
				mac.Write([]byte(raw))
				id.MachineID = hex.EncodeToString(mac.Sum(nil)[:16])
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		id.BootID = strings.TrimSpace(string(b))
	}
	if ns, err := os.Readlink("/proc/self/ns/pid"); err == nil {
		id.PIDNamespace = ns
	}
	return id
}

// Stamp records the identity of the process info.PID (one of this machine's)
// in info: the Identity and the process's start time.
func (id Identity) Stamp(info *LockInfo) {
	info.MachineID, info.BootID, info.PIDNamespace = id.MachineID, id.BootID, id.PIDNamespace
	info.StartTime = 0
	if id.BootID != "" && info.PID > 0 {
		if st, err := ProcessStartTime(info.PID); err == nil {
			info.StartTime = st
		}
	}
}

// hasIdentity reports whether a lock records its holder's Identity; locks
// written before identities existed do not.
func (l *LockInfo) hasIdentity() bool {
	return l.MachineID != "" || l.BootID != "" || l.PIDNamespace != ""
}

// HolderGone reports whether the process holding a lock is known to have
// ended, so the lock can be taken over before it expires. Only a process
// with the holder's Identity can know: for any other (another machine, a
// container, the same machine after a reboot) the holder may be alive and
// the answer is false — the lock is freed by its expiry. A PID that exists
// but started at another time than the holder did was reused by another
// process: the holder is gone. hostname is this machine's name: a lock
// without an Identity (written by an older drover) is judged as it was
// then, by host name and PID, and never taken over while its PID is alive.
func (id Identity) HolderGone(hostname string, info *LockInfo) bool {
	if info == nil || info.PID <= 0 {
		return false
	}
	if !info.hasIdentity() {
		return hostname != "" && info.Machine == hostname && !processExists(info.PID)
	}
	if info.MachineID != id.MachineID || info.BootID != id.BootID || info.PIDNamespace != id.PIDNamespace {
		return false
	}
	if !processExists(info.PID) {
		return true
	}
	if info.StartTime == 0 {
		return false
	}
	st, err := ProcessStartTime(info.PID)
	return err == nil && st != info.StartTime
}

// processExists asks the kernel with signal 0. EPERM (another user's
// process) still means it exists.
func processExists(pid int) bool {
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// ProcessStartTime is when process pid started, in clock ticks after boot:
// field 22 of /proc/PID/stat. With the boot ID it names one process for
// good, where a PID is reused.
func ProcessStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStatStartTime(string(b))
}

var errBadStat = errors.New("unexpected /proc/PID/stat format")

// parseStatStartTime takes field 22 of a /proc/PID/stat line. Field 2, the
// command name in parentheses, may itself hold spaces and parentheses: the
// fields after it are counted from its last ')'.
func parseStatStartTime(stat string) (uint64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errBadStat
	}
	fields := strings.Fields(stat[i+1:])
	const startTime = 22 - 3 // fields[0] is field 3, the state
	if len(fields) <= startTime {
		return 0, errBadStat
	}
	v, err := strconv.ParseUint(fields[startTime], 10, 64)
	if err != nil {
		return 0, errBadStat
	}
	return v, nil
}
