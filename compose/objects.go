package compose

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/drover-sh/drover/cluster"
)

// Configs and secrets: the services' short and long syntax become file
// mounts with Swarm's defaults (a secret at /run/secrets/NAME, a config at
// /NAME, mode 0444, uid and gid 0); the top-level declarations they use
// become ObjectRefs carrying the content read from the file or the
// environment. Versions are left empty here: they are digests the state
// key makes (for secrets), filled in when the stack meets the state.

type objectKey struct {
	kind cluster.ObjectKind
	key  string
}

// files maps a service's configs and secrets onto file mounts.
func (c *converter) files(s types.ServiceConfig) ([]cluster.FileMount, error) {
	var out []cluster.FileMount
	for _, r := range s.Secrets {
		f, err := c.fileMount(cluster.KindSecret, types.FileReferenceConfig(r))
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	for _, r := range s.Configs {
		f, err := c.fileMount(cluster.KindConfig, types.FileReferenceConfig(r))
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	seen := map[string]bool{}
	for _, f := range out {
		if seen[f.Target] {
			return nil, fmt.Errorf("%s %s: target %s is used twice", f.Kind, f.Name, f.Target)
		}
		seen[f.Target] = true
	}
	cluster.SortFiles(out)
	return out, nil
}

func (c *converter) fileMount(kind cluster.ObjectKind, r types.FileReferenceConfig) (cluster.FileMount, error) {
	key := kind.Plural() + "." + r.Source
	ref, err := c.object(kind, r.Source)
	if err != nil {
		return cluster.FileMount{}, err
	}
	f := cluster.FileMount{Kind: kind, Name: ref.Name, Target: r.Target, Mode: cluster.DefaultFileMode}
	switch {
	case f.Target == "" && kind == cluster.KindSecret:
		f.Target = "/run/secrets/" + r.Source
	case f.Target == "":
		f.Target = "/" + r.Source
	case !path.IsAbs(f.Target) && kind == cluster.KindSecret:
		// Swarm's rule: a relative secret target is a name under /run/secrets.
		f.Target = "/run/secrets/" + f.Target
	case !path.IsAbs(f.Target):
		f.Target = "/" + f.Target
	}
	f.Target = path.Clean(f.Target)
	if f.Target == "/" {
		return cluster.FileMount{}, fmt.Errorf("%s: target / is not a file", key)
	}
	for _, id := range []struct {
		name string
		v    string
		dst  *uint32
	}{{"uid", r.UID, &f.UID}, {"gid", r.GID, &f.GID}} {
		if id.v == "" {
			continue
		}
		n, err := strconv.ParseUint(id.v, 10, 32)
		if err != nil {
			return cluster.FileMount{}, fmt.Errorf("%s: %s %q must be a number (drover does not look names up on the hosts)", key, id.name, id.v)
		}
		*id.dst = uint32(n)
	}
	if r.Mode != nil {
		m := int64(*r.Mode)
		if m < 0 || m > 0o777 {
			return cluster.FileMount{}, fmt.Errorf("%s: mode %o: only permission bits (0 to 0777) can be set", key, m)
		}
		f.Mode = uint32(m)
	}
	return f, nil
}

// object returns the top-level declaration of a config or secret,
// reading its content the first time.
func (c *converter) object(kind cluster.ObjectKind, key string) (cluster.ObjectRef, error) {
	k := objectKey{kind, key}
	if ref, ok := c.objects[k]; ok {
		return ref, nil
	}
	var decl types.FileObjectConfig
	var ok bool
	if kind == cluster.KindSecret {
		var s types.SecretConfig
		s, ok = c.p.Secrets[key]
		decl = types.FileObjectConfig(s)
	} else {
		var s types.ConfigObjConfig
		s, ok = c.p.Configs[key]
		decl = types.FileObjectConfig(s)
	}
	if !ok {
		return cluster.ObjectRef{}, fmt.Errorf("%s %s is not declared under the top-level %s:", kind, key, kind.Plural())
	}
	for _, f := range unsupportedKeys(decl, objectRules) {
		msg := string(kind) + " " + key + ": key " + f.key + " is not supported by drover (ignored)"
		if f.note != "" {
			msg += ": " + f.note
		}
		c.warnings = append(c.warnings, Warning{
			File:    fileOf(c.raws, kind.Plural(), key, f.key),
			Key:     kind.Plural() + "." + key + "." + f.key,
			Message: msg,
		})
	}
	ref := cluster.ObjectRef{
		Kind:     kind,
		Name:     c.resourceName(key, decl.Name, bool(decl.External)),
		External: bool(decl.External),
		Labels:   copyMap(decl.Labels),
	}
	if err := cluster.ValidObjectName(kind, ref.Name); err != nil {
		return cluster.ObjectRef{}, fmt.Errorf("%s.%s: %w", kind.Plural(), key, err)
	}
	if !ref.External {
		data, origin, err := c.objectContent(kind, key, decl)
		if err != nil {
			return cluster.ObjectRef{}, err
		}
		ref.Data, ref.Origin = data, origin
	}
	if c.objects == nil {
		c.objects = map[objectKey]cluster.ObjectRef{}
	}
	c.objects[k] = ref
	return ref, nil
}

// objectContent reads what a declaration names: a file (relative to the
// compose file; compose-go made it absolute), a variable of the
// environment drover runs in, or inline content.
func (c *converter) objectContent(kind cluster.ObjectKind, key string, decl types.FileObjectConfig) ([]byte, string, error) {
	where := kind.Plural() + "." + key
	set := 0
	// compose-go may copy an environment: variable's value into content.
	for _, s := range []string{decl.File, decl.Environment, decl.Content} {
		if s != "" {
			set++
		}
	}
	if decl.Environment != "" && decl.Content != "" {
		set--
	}
	if set != 1 {
		return nil, "", fmt.Errorf("%s: set exactly one of file, environment or content (or external: true)", where)
	}
	switch {
	case decl.File != "":
		data, err := readObjectFile(decl.File)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", where, err)
		}
		return data, "file " + decl.File, nil
	case decl.Environment != "":
		v, ok := c.env[decl.Environment]
		if !ok {
			return nil, "", fmt.Errorf("%s: environment variable %s is not set", where, decl.Environment)
		}
		if len(v) > cluster.MaxObjectSize {
			return nil, "", fmt.Errorf("%s: environment variable %s is larger than %d bytes", where, decl.Environment, cluster.MaxObjectSize)
		}
		return []byte(v), "environment " + decl.Environment, nil
	}
	if kind == cluster.KindSecret {
		// The compose file would hold the value in clear: refused, as
		// compose-go's own validation does for stacks.
		return nil, "", fmt.Errorf("%s: a secret's content cannot be written in the compose file: use file or environment", where)
	}
	return []byte(decl.Content), "content", nil
}

func readObjectFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a file", name)
	}
	data, err := io.ReadAll(io.LimitReader(f, cluster.MaxObjectSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > cluster.MaxObjectSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, cluster.MaxObjectSize)
	}
	return data, nil
}

// usedObjects lists the declarations the services use, by kind and name.
func (c *converter) usedObjects() ([]cluster.ObjectRef, error) {
	var out []cluster.ObjectRef
	for _, ref := range c.objects {
		out = append(out, ref)
	}
	slices.SortFunc(out, func(a, b cluster.ObjectRef) int {
		return strings.Compare(string(a.Kind)+"/"+a.Name, string(b.Kind)+"/"+b.Name)
	})
	// Two compose keys naming one store object must agree on its content.
	var errs []error
	for i := 1; i < len(out); i++ {
		if out[i].Kind == out[i-1].Kind && out[i].Name == out[i-1].Name {
			if out[i].External != out[i-1].External || string(out[i].Data) != string(out[i-1].Data) {
				errs = append(errs, fmt.Errorf("%s %s is declared twice with different content", out[i].Kind, out[i].Name))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return slices.CompactFunc(out, func(a, b cluster.ObjectRef) bool { return a.Kind == b.Kind && a.Name == b.Name }), nil
}
