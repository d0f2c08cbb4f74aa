package compose

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Every key drover cannot honour must be reported, never silently dropped.
// Rather than listing the unsupported keys (and missing the ones compose-go
// adds next year), the loaded compose-go structs are walked by reflection:
// each non-zero field is looked up by its dotted yaml path in a rules table,
// and a field that has no rule is reported as unsupported. The tables below
// therefore list what drover *does* handle; a field compose-go gains later is
// warned about until someone maps it and adds it here.
//
// Paths are yaml keys joined by dots. Map values and list items are entered
// transparently: "ports.app_protocol" is app_protocol of any port,
// "networks.aliases" the aliases of any of the service's networks.

type ruleKind int

const (
	// mapped: drover honours the key; its value is not looked into.
	mapped ruleKind = iota + 1
	// descend: drover honours the key; look into its fields, each of which
	// needs a rule of its own.
	descend
	// quiet: meaningless in drover, ignored without a warning (the reason is
	// in the rule's note).
	quiet
	// unsupported: ignored with a warning carrying the rule's note.
	unsupported
	// check: the rule's check function decides from the value.
	check
)

type rule struct {
	kind ruleKind
	note string
	// check returns the note of a warning, or "" when the value is honoured.
	check func(v reflect.Value) string
}

var (
	ruleMapped  = rule{kind: mapped}
	ruleDescend = rule{kind: descend}
)

func ruleUnsupported(note string) rule { return rule{kind: unsupported, note: note} }

// serviceRules covers types.ServiceConfig.
var serviceRules = map[string]rule{
	"name":     ruleMapped, // the key of the service, set by compose-go
	"profiles": ruleMapped, // services with profiles are not loaded at all (no profile is active)
	"extends":  ruleMapped, // resolved by compose-go
	"deploy":   ruleDescend,

	"deploy.mode":                                     ruleMapped,
	"deploy.replicas":                                 ruleMapped,
	"deploy.labels":                                   ruleMapped,
	"deploy.update_config":                            ruleMapped,
	"deploy.rollback_config":                          ruleMapped,
	"deploy.resources":                                ruleDescend,
	"deploy.resources.limits":                         ruleDescend,
	"deploy.resources.limits.cpus":                    ruleMapped,
	"deploy.resources.limits.memory":                  ruleMapped,
	"deploy.resources.limits.pids":                    ruleMapped,
	"deploy.resources.limits.devices":                 ruleUnsupported("drover does not hand devices or GPUs to containers from deploy.resources; use devices:"),
	"deploy.resources.limits.generic_resources":       ruleUnsupported("drover has no generic resources"),
	"deploy.resources.reservations":                   ruleDescend,
	"deploy.resources.reservations.cpus":              ruleMapped,
	"deploy.resources.reservations.memory":            ruleMapped,
	"deploy.resources.reservations.pids":              ruleUnsupported("pids can only be limited, not reserved"),
	"deploy.resources.reservations.devices":           ruleUnsupported("drover does not reserve devices or GPUs; use devices:"),
	"deploy.resources.reservations.generic_resources": ruleUnsupported("drover has no generic resources"),
	"deploy.restart_policy":                           ruleDescend,
	"deploy.restart_policy.condition":                 ruleMapped,
	"deploy.restart_policy.max_attempts":              ruleMapped,
	"deploy.restart_policy.delay":                     ruleUnsupported("docker's restart policy has no delay"),
	"deploy.restart_policy.window":                    ruleUnsupported("docker's restart policy has no window"),
	"deploy.placement":                                ruleDescend,
	"deploy.placement.constraints":                    ruleMapped,
	"deploy.placement.max_replicas_per_node":          ruleMapped,
	"deploy.placement.preferences":                    ruleDescend,
	"deploy.placement.preferences.spread":             ruleMapped,
	"deploy.endpoint_mode": {kind: check, check: func(v reflect.Value) string {
		if v.String() != "dnsrr" {
			return "" // vip: what drover's routing mesh does (docs/networking.md)
		}
		return "dnsrr is served as vip: the service name resolves to its virtual address, which the routing mesh's proxy on each host balances over the replicas of every host (docs/networking.md)"
	}},

	"restart": ruleMapped,
	"scale":   ruleMapped, // replicas when deploy.replicas is not set

	// build: is read by convert (build.go): with --build through
	// buildRules, without it a warning or an error.
	"build":          rule{kind: quiet, note: "handled by convert"},
	"container_name": ruleUnsupported("drover names containers itself"),
	"links":          ruleUnsupported("services reach each other by name on their networks"),
	"external_links": ruleUnsupported("services reach each other by name on their networks"),
	"network_mode":   ruleUnsupported("the service is attached to the stack's default network instead"),
	"expose":         ruleUnsupported("containers on a common network reach each other on any port"),

	"cap_add":    ruleMapped,
	"cap_drop":   ruleMapped,
	"command":    ruleMapped,
	"cpus":       ruleMapped, // deploy.resources.limits.cpus when that is not set
	"mem_limit":  ruleMapped, // likewise .memory
	"pids_limit": ruleMapped, // likewise .pids
	// deploy.resources.reservations.memory when that is not set
	"mem_reservation":   ruleMapped,
	"devices":           ruleMapped,
	"entrypoint":        ruleMapped,
	"environment":       ruleMapped,
	"env_file":          ruleMapped, // merged into environment by compose-go
	"extra_hosts":       ruleMapped,
	"hostname":          ruleMapped,
	"image":             ruleMapped,
	"init":              ruleMapped,
	"labels":            ruleMapped,
	"label_file":        ruleMapped, // merged into labels by compose-go
	"logging":           ruleMapped,
	"privileged":        ruleMapped,
	"read_only":         ruleMapped,
	"security_opt":      ruleMapped,
	"shm_size":          ruleMapped,
	"stop_grace_period": ruleMapped,
	"stop_signal":       ruleMapped,
	"sysctls":           ruleMapped,
	"tmpfs":             ruleMapped,
	"ulimits":           ruleMapped,
	"user":              ruleMapped,
	"working_dir":       ruleMapped,
	"depends_on":        ruleMapped, // the service names; conditions are not waited for

	"networks":          ruleDescend,
	"networks.aliases":  ruleMapped,
	"networks.priority": ruleMapped, // orders the attachments

	"ports":           ruleDescend,
	"ports.mode":      ruleMapped,
	"ports.host_ip":   ruleMapped,
	"ports.target":    ruleMapped,
	"ports.published": ruleMapped,
	"ports.protocol":  ruleMapped,

	"volumes":                  ruleDescend,
	"volumes.type":             ruleMapped,
	"volumes.source":           ruleMapped,
	"volumes.target":           ruleMapped,
	"volumes.read_only":        ruleMapped,
	"volumes.bind":             ruleDescend,
	"volumes.bind.propagation": ruleMapped,
	"volumes.bind.recursive":   ruleMapped,
	// compose-go sets create_host_path: true on every bind mount. drover, like
	// docker stack deploy, mounts with --mount, which never creates the host
	// path: it must exist on the host.
	"volumes.bind.create_host_path": rule{kind: quiet, note: "injected by compose-go"},
	"volumes.bind.selinux":          ruleUnsupported("docker's --mount has no SELinux relabelling"),
	"volumes.volume":                ruleDescend,
	"volumes.volume.nocopy":         ruleMapped,
	"volumes.volume.subpath":        ruleMapped,
	"volumes.volume.labels":         ruleMapped,
	"volumes.tmpfs":                 ruleDescend,
	"volumes.tmpfs.size":            ruleMapped,
	"volumes.tmpfs.mode":            ruleMapped,

	"secrets":        ruleDescend,
	"secrets.source": ruleMapped,
	"secrets.target": ruleMapped,
	"secrets.uid":    ruleMapped,
	"secrets.gid":    ruleMapped,
	"secrets.mode":   ruleMapped,
	"configs":        ruleDescend,
	"configs.source": ruleMapped,
	"configs.target": ruleMapped,
	"configs.uid":    ruleMapped,
	"configs.gid":    ruleMapped,
	"configs.mode":   ruleMapped,

	"healthcheck":                ruleDescend,
	"healthcheck.test":           ruleMapped,
	"healthcheck.timeout":        ruleMapped,
	"healthcheck.interval":       ruleMapped,
	"healthcheck.retries":        ruleMapped,
	"healthcheck.start_period":   ruleMapped,
	"healthcheck.start_interval": ruleMapped,
	"healthcheck.disable":        ruleMapped,
}

// buildRules covers types.BuildConfig (a service's build:, with --build).
// What the builder in use cannot do (secrets, ssh, cache_to and several
// platforms need BuildKit) is warned about when building.
var buildRules = map[string]rule{
	"context":             ruleMapped,
	"dockerfile":          ruleMapped,
	"dockerfile_inline":   ruleMapped,
	"args":                ruleMapped,
	"target":              ruleMapped,
	"labels":              ruleMapped,
	"platforms":           ruleMapped,
	"cache_from":          ruleMapped,
	"cache_to":            ruleMapped,
	"no_cache":            ruleMapped,
	"pull":                ruleMapped,
	"network":             ruleMapped,
	"extra_hosts":         ruleMapped,
	"shm_size":            ruleMapped,
	"secrets":             ruleDescend,
	"secrets.source":      ruleMapped,
	"secrets.target":      ruleUnsupported("a build secret is mounted under its source name"),
	"secrets.uid":         ruleUnsupported("a build secret is mounted under its source name"),
	"secrets.gid":         ruleUnsupported("a build secret is mounted under its source name"),
	"secrets.mode":        ruleUnsupported("a build secret is mounted under its source name"),
	"ssh":                 ruleMapped,
	"tags":                ruleUnsupported("drover tags a built image itself (REPOSITORY:ID)"),
	"entitlements":        ruleUnsupported("drover grants a build no entitlements"),
	"provenance":          ruleUnsupported("drover writes no attestations"),
	"sbom":                ruleUnsupported("drover writes no attestations"),
	"no_cache_filter":     ruleUnsupported("use no_cache"),
	"additional_contexts": ruleUnsupported("drover builds from one context"),
	"isolation":           ruleUnsupported("Windows only"),
	"ulimits":             ruleUnsupported("drover sets no ulimits on a build"),
	"privileged":          ruleUnsupported("drover runs no privileged builds"),
}

// networkRules covers types.NetworkConfig (top-level networks).
var networkRules = map[string]rule{
	"name":     ruleMapped,
	"driver":   ruleMapped,
	"external": ruleMapped,
	"internal": ruleMapped,
	"labels":   ruleMapped,
	// drover's networks are plain bridges on each host, which any container
	// may join.
	"attachable": rule{kind: quiet, note: "always true"},
}

// volumeRules covers types.VolumeConfig (top-level volumes).
var volumeRules = map[string]rule{
	"name":        ruleMapped,
	"driver":      ruleMapped,
	"driver_opts": ruleMapped,
	"external":    ruleMapped,
	"labels":      ruleMapped,
}

// objectRules covers types.FileObjectConfig (top-level configs and secrets).
var objectRules = map[string]rule{
	"name":            ruleMapped,
	"file":            ruleMapped,
	"environment":     ruleMapped,
	"content":         ruleMapped,
	"external":        ruleMapped,
	"labels":          ruleMapped,
	"driver":          ruleUnsupported("drover keeps configs and secrets in its state; there are no secret drivers"),
	"driver_opts":     ruleUnsupported("drover keeps configs and secrets in its state; there are no secret drivers"),
	"template_driver": ruleUnsupported("drover mounts the content as it is: there are no templates"),
}

// finding is one unsupported key.
type finding struct {
	key  string
	note string
}

// unsupportedKeys walks v (a compose-go struct) and returns each unsupported
// key once, in field order.
func unsupportedKeys(v any, rules map[string]rule) []finding {
	w := walker{rules: rules, seen: map[string]bool{}}
	w.walk(reflect.ValueOf(v), "")
	return w.found
}

type walker struct {
	rules map[string]rule
	seen  map[string]bool
	found []finding
}

func (w *walker) report(key, note string) {
	if w.seen[key] {
		return
	}
	w.seen[key] = true
	w.found = append(w.found, finding{key: key, note: note})
}

func (w *walker) walk(v reflect.Value, path string) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, inline := yamlKey(f)
			if name == "-" || strings.HasPrefix(name, "#") {
				continue // CustomLabels, Extensions (x-* keys are the user's)
			}
			fv := v.Field(i)
			if inline {
				w.walk(fv, path)
				continue
			}
			if isZero(fv) {
				continue
			}
			key := name
			if path != "" {
				key = path + "." + name
			}
			r, ok := w.rules[key]
			switch {
			case !ok:
				w.report(key, "")
			case r.kind == descend:
				w.walk(fv, key)
			case r.kind == unsupported:
				w.report(key, r.note)
			case r.kind == check:
				if note := r.check(fv); note != "" {
					w.report(key, note)
				}
			}
		}
	case reflect.Map:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return cmp.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
		for _, k := range keys {
			w.walk(v.MapIndex(k), path)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			w.walk(v.Index(i), path)
		}
	}
}

// yamlKey is the field's yaml key, and whether its fields are inlined.
func yamlKey(f reflect.StructField) (string, bool) {
	tag := f.Tag.Get("yaml")
	name, opts, _ := strings.Cut(tag, ",")
	inline := slices.Contains(strings.Split(opts, ","), "inline")
	if name == "" && !inline {
		name = strings.ToLower(f.Name)
	}
	return name, inline && name == ""
}

// isZero tells unset fields: the zero value, an empty map or list, or what
// the type itself calls zero (types.OptOut is "zero" when true, its default;
// types.ShellCommand only when nil, since [] clears the image's command).
func isZero(v reflect.Value) bool {
	if z, ok := v.Interface().(interface{ IsZero() bool }); ok {
		if v.Kind() != reflect.Pointer || !v.IsNil() {
			return z.IsZero()
		}
	}
	switch v.Kind() {
	case reflect.Map, reflect.Slice:
		return v.Len() == 0
	}
	return v.IsZero()
}
