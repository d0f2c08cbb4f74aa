package cluster

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// ObjectKind tells configs from secrets: both are files drover keeps in its
// state and mounts into replicas; a secret's content is sealed in the
// state and never shown.
type ObjectKind string

const (
	KindConfig ObjectKind = "config"
	KindSecret ObjectKind = "secret"
)

// Plural is "configs" or "secrets", as the compose keys and the host
// directories spell it.
func (k ObjectKind) Plural() string { return string(k) + "s" }

// FilesDir is where hosts keep the files of configs and secrets that their
// replicas mount: FilesDir/secrets/CLUSTER/NAME/…, FilesDir/configs/
// CLUSTER/NAME/…, each directory root-only (0700), on disk, so that a
// replica that docker restarts after a reboot finds its files before
// drover runs again. The cluster name keeps two clusters that share hosts
// apart: each prunes only its own files.
const FilesDir = "/var/lib/drover"

// DefaultFileMode is Swarm's mode for a mounted config or secret.
const DefaultFileMode = 0o444

// MaxObjectSize bounds a config or secret, as Swarm does (500 KiB).
const MaxObjectSize = 500 * 1024

var objectNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// ValidObjectName checks a config or secret name: it names a directory on
// the hosts, so only [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 64 characters.
func ValidObjectName(kind ObjectKind, name string) error {
	if len(name) > 64 || !objectNameRE.MatchString(name) {
		return fmt.Errorf("invalid %s name %q: must match [a-zA-Z0-9][a-zA-Z0-9_.-]* (at most 64 characters)", kind, name)
	}
	return nil
}

// FileMount is a config or secret mounted as a file into a replica. It is
// part of the container spec, so a new version of the content (Version)
// or another target, owner or mode is a new spec: a new generation,
// rolled out through update_config.
type FileMount struct {
	Kind ObjectKind `json:"kind"`
	Name string     `json:"name"` // in drover's store
	// Version identifies the content: a digest of it (for secrets keyed
	// with the state key, so that it tells nothing about the value).
	Version string `json:"version"`
	Target  string `json:"target"` // absolute path in the container
	UID     uint32 `json:"uid"`
	GID     uint32 `json:"gid"`
	Mode    uint32 `json:"mode"` // permission bits, e.g. 0444
}

// HostPath is where the hosts of the cluster keep this mount's file: one
// file per version, owner and mode, so replicas of two generations (or two
// services wanting other owners) never share a file that changes under
// them.
func (f FileMount) HostPath(clusterName string) string {
	return path.Join(KindDir(f.Kind, clusterName), f.Name, fmt.Sprintf("%s-%d-%d-%04o", f.Version, f.UID, f.GID, f.Mode))
}

// KindDir is the host directory of a cluster's configs or secrets.
func KindDir(kind ObjectKind, clusterName string) string {
	return path.Join(FilesDir, kind.Plural(), clusterName)
}

// ParseHostPath reads a file path made by HostPath for the cluster back;
// false for any other path.
func ParseHostPath(clusterName, p string) (FileMount, bool) {
	rest, ok := strings.CutPrefix(p, FilesDir+"/")
	if !ok {
		return FileMount{}, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 4 || parts[1] != clusterName {
		return FileMount{}, false
	}
	parts = append(parts[:1], parts[2:]...)
	var f FileMount
	switch parts[0] {
	case KindConfig.Plural():
		f.Kind = KindConfig
	case KindSecret.Plural():
		f.Kind = KindSecret
	default:
		return FileMount{}, false
	}
	f.Name = parts[1]
	if ValidObjectName(f.Kind, f.Name) != nil {
		return FileMount{}, false
	}
	fields := strings.Split(parts[2], "-")
	if len(fields) != 4 || fields[0] == "" || strings.Trim(fields[0], "0123456789abcdef") != "" {
		return FileMount{}, false
	}
	f.Version = fields[0]
	uid, err1 := strconv.ParseUint(fields[1], 10, 32)
	gid, err2 := strconv.ParseUint(fields[2], 10, 32)
	mode, err3 := strconv.ParseUint(fields[3], 8, 32)
	if err1 != nil || err2 != nil || err3 != nil || mode > 0o777 {
		return FileMount{}, false
	}
	f.UID, f.GID, f.Mode = uint32(uid), uint32(gid), uint32(mode)
	return f, f.HostPath(clusterName) == p
}

// SortFiles orders mounts by target, the order the spec hash sees.
func SortFiles(files []FileMount) {
	sort.Slice(files, func(i, j int) bool { return files[i].Target < files[j].Target })
}

// ObjectRef is a config or secret a stack's compose files declare.
type ObjectRef struct {
	Kind ObjectKind `json:"kind"`
	// Name is the name in drover's store: the compose `name:`, else
	// STACK_KEY; for an external one its `name:` or its key.
	Name     string            `json:"name"`
	External bool              `json:"external,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	// Origin says where the content comes from, for messages: "file
	// ./db.txt", "environment DB_PASSWORD".
	Origin string `json:"origin,omitempty"`
	// Data is the content read from the file or the environment (empty
	// for an external one). Never marshalled.
	Data []byte `json:"-"`
}

// Mount is the bind mount that puts the host's file at the target,
// read-only. A bind mount through the Engine API's Mounts never creates a
// missing source (docker refuses to start the container instead), so a
// replica never sees an empty directory in place of its file.
func (f FileMount) Mount(clusterName string) Mount {
	return Mount{Type: "bind", Source: f.HostPath(clusterName), Target: f.Target, ReadOnly: true}
}

// Check says whether the mount can be created: a resolved version and a
// valid name (the host path is built from them).
func (f FileMount) Check() error {
	if err := ValidObjectName(f.Kind, f.Name); err != nil {
		return err
	}
	if f.Version == "" || strings.Trim(f.Version, "0123456789abcdef") != "" {
		return fmt.Errorf("%s %s: no content version (the stack was not resolved against drover's store)", f.Kind, f.Name)
	}
	if f.Mode > 0o777 {
		return fmt.Errorf("%s %s: mode %o has more than permission bits", f.Kind, f.Name, f.Mode)
	}
	return nil
}

// DescribeFileChanges names the configs and secrets added, removed or
// changed (content, target, owner or mode) between two specs' mounts, by
// name only.
func DescribeFileChanges(old, cur []FileMount) []string {
	key := func(f FileMount) string { return string(f.Kind) + " " + f.Name }
	before := map[string][]FileMount{}
	after := map[string][]FileMount{}
	var names []string
	for _, f := range old {
		if before[key(f)] == nil {
			names = append(names, key(f))
		}
		before[key(f)] = append(before[key(f)], f)
	}
	for _, f := range cur {
		if before[key(f)] == nil && after[key(f)] == nil {
			names = append(names, key(f))
		}
		after[key(f)] = append(after[key(f)], f)
	}
	sort.Strings(names)
	var out []string
	for _, n := range names {
		a, b := before[n], after[n]
		switch {
		case a == nil:
			out = append(out, n+" added")
		case b == nil:
			out = append(out, n+" removed")
		case fmt.Sprint(a) != fmt.Sprint(b):
			out = append(out, n+" changed")
		}
	}
	return out
}
