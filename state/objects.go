package state

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/drover-sh/drover/cluster"
)

// Configs and secrets live in the state document, beside the stacks that
// use them. Each object keeps its versions, newest first; a version is
// named by a digest of its content and is kept while a generation of a
// service (current, or kept for rollback) mounts it. A secret's content
// is sealed with the state key exactly as environment values are (see
// seal.go): in memory it is plain, in every store and file it is sealed.

// Object is one config or secret.
type Object struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	// Stack names the stack whose compose files declare the object (its
	// content comes from them); "" for one made with `config create` or
	// `secret create`.
	Stack    string          `json:"stack,omitempty"`
	Created  time.Time       `json:"created"`
	Updated  time.Time       `json:"updated"`
	Versions []ObjectVersion `json:"versions"` // newest first: [0] is current
}

// ObjectVersion is one content of an object.
type ObjectVersion struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Size    int       `json:"size"`
	// Data is the content: a config's as it is, a secret's only in
	// memory. Sealed holds a secret's content in the stores.
	Data   []byte `json:"data,omitempty"`
	Sealed string `json:"sealed,omitempty"`
}

// ErrNoObject is returned for a config or secret the store does not hold.
var ErrNoObject = errors.New("not in drover's store")

// ObjectInUseError refuses to remove an object services mount.
type ObjectInUseError struct {
	Kind     cluster.ObjectKind
	Name     string
	Services []string // full names
}

func (e *ObjectInUseError) Error() string {
	return fmt.Sprintf("%s %s is in use by %s: remove it from their compose files and deploy, or remove their stacks, first",
		e.Kind, e.Name, joinNames(e.Services))
}

func joinNames(names []string) string {
	out := ""
	for i, n := range names {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}

// Objects returns the map of configs or secrets, made when missing.
func (s *State) Objects(kind cluster.ObjectKind) map[string]*Object {
	if kind == cluster.KindSecret {
		if s.Secrets == nil {
			s.Secrets = map[string]*Object{}
		}
		return s.Secrets
	}
	if s.Configs == nil {
		s.Configs = map[string]*Object{}
	}
	return s.Configs
}

// Object finds a config or secret by name.
func (s *State) Object(kind cluster.ObjectKind, name string) (*Object, error) {
	m := s.Secrets
	if kind == cluster.KindConfig {
		m = s.Configs
	}
	o, ok := m[name]
	if !ok {
		return nil, fmt.Errorf("%s %s: %w (`drover %s ls` lists them)", kind, name, ErrNoObject, kind)
	}
	return o, nil
}

// Version returns the content of one version.
func (o *Object) Version(id string) (*ObjectVersion, bool) {
	for i := range o.Versions {
		if o.Versions[i].ID == id {
			return &o.Versions[i], true
		}
	}
	return nil, false
}

// Current is the newest version.
func (o *Object) Current() *ObjectVersion {
	if len(o.Versions) == 0 {
		return nil
	}
	return &o.Versions[0]
}

// VersionID names a content: the first 16 hex digits of its SHA-256 for a
// config; for a secret, of an HMAC keyed with the state key, so that plans,
// specs and container labels that carry the ID tell nothing about the
// value (a plain digest of a short password can be guessed).
func VersionID(kind cluster.ObjectKind, data []byte, k *Key) (string, error) {
	if kind == cluster.KindConfig {
		sum := sha256.Sum256(data)
		return hex.EncodeToString(sum[:8]), nil
	}
	if k == nil {
		return "", errors.New("a secret needs the state key (DROVER_STATE_KEY or state.key_file)")
	}
	return k.digest(data), nil
}

// PutContent makes data the current content of the named object, creating
// it when missing. It returns the version's ID and whether it is new: the
// same content as a kept version makes that version current again.
func (s *State) PutContent(kind cluster.ObjectKind, name string, data []byte, k *Key, now time.Time) (id string, changed bool, err error) {
	if err := cluster.ValidObjectName(kind, name); err != nil {
		return "", false, err
	}
	if len(data) > cluster.MaxObjectSize {
		return "", false, fmt.Errorf("%s %s: %d bytes is more than the %d a %s may hold", kind, name, len(data), cluster.MaxObjectSize, kind)
	}
	if id, err = VersionID(kind, data, k); err != nil {
		return "", false, fmt.Errorf("%s %s: %w", kind, name, err)
	}
	m := s.Objects(kind)
	o, ok := m[name]
	if !ok {
		o = &Object{Name: name, Created: now}
		m[name] = o
	}
	if cur := o.Current(); cur != nil && cur.ID == id {
		return id, false, nil
	}
	v := ObjectVersion{ID: id, Created: now, Size: len(data), Data: append([]byte(nil), data...)}
	rest := o.Versions[:0:0]
	for _, old := range o.Versions {
		if old.ID != id {
			rest = append(rest, old)
		}
	}
	o.Versions = append([]ObjectVersion{v}, rest...)
	o.Updated = now
	return id, true, nil
}

// Users returns the services whose current spec mounts the object, by
// full name.
func (s *State) Users(kind cluster.ObjectKind, name string) []string {
	var out []string
	for _, svc := range s.Services() {
		for _, f := range svc.Container.Files {
			if f.Kind == kind && f.Name == name {
				out = append(out, svc.FullName())
				break
			}
		}
	}
	return out
}

// RemoveObject deletes a config or secret with every version; refused
// (*ObjectInUseError) while a service mounts it.
func (s *State) RemoveObject(kind cluster.ObjectKind, name string) error {
	if _, err := s.Object(kind, name); err != nil {
		return err
	}
	if users := s.Users(kind, name); len(users) > 0 {
		return &ObjectInUseError{Kind: kind, Name: name, Services: users}
	}
	delete(s.Objects(kind), name)
	return nil
}

// ForgetUnusedVersions drops the versions that are neither an object's
// current one nor mounted by a generation the state keeps (current or
// previous: a rollback restores the content it had). Objects declared by
// a stack's compose files go when no service mounts them any more.
func (s *State) ForgetUnusedVersions() {
	used := map[string]bool{}
	mark := func(svc *cluster.Service) {
		if svc == nil {
			return
		}
		for _, f := range svc.Container.Files {
			used[string(f.Kind)+"/"+f.Name+"/"+f.Version] = true
			used[string(f.Kind)+"/"+f.Name] = true
		}
	}
	for _, st := range s.Stacks {
		for _, svc := range st.Services {
			mark(svc.Current)
			for _, g := range svc.Previous {
				mark(g.Spec)
			}
		}
	}
	for _, kind := range []cluster.ObjectKind{cluster.KindConfig, cluster.KindSecret} {
		m := s.Objects(kind)
		for name, o := range m {
			if o.Stack != "" && !used[string(kind)+"/"+name] {
				delete(m, name)
				continue
			}
			keep := o.Versions[:0:0]
			for i, v := range o.Versions {
				if i == 0 || used[string(kind)+"/"+name+"/"+v.ID] {
					keep = append(keep, v)
				}
			}
			o.Versions = keep
		}
		if len(m) == 0 {
			if kind == cluster.KindSecret {
				s.Secrets = nil
			} else {
				s.Configs = nil
			}
		}
	}
}

// ObjectNames lists the names of the configs or secrets, sorted.
func (s *State) ObjectNames(kind cluster.ObjectKind) []string {
	m := s.Secrets
	if kind == cluster.KindConfig {
		m = s.Configs
	}
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ErrClearSecret refuses to write a state that holds a secret's content
// unsealed: every write goes through SealEnv.
var ErrClearSecret = errors.New("refusing to write a secret's content in clear text (the state was not sealed)")

func checkSealed(s *State) error {
	for name, o := range s.Secrets {
		for _, v := range o.Versions {
			if len(v.Data) > 0 || v.Sealed == "" {
				return fmt.Errorf("secret %s: %w", name, ErrClearSecret)
			}
		}
	}
	return nil
}
