package cluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Inventory is the parsed inventory.yaml: the hosts of one cluster and how to
// reach them.
type Inventory struct {
	// Path is the file the inventory was read from (absolute).
	Path    string
	Cluster string
	SSH     SSHSettings
	Docker  DockerSettings
	State   StateSettings
	Build   BuildSettings
	Hosts   []Host
}

// DefaultKeepBuilds is how many generations' built images prune keeps by
// default: the current one and the two before it (rollback targets).
const DefaultKeepBuilds = 3

// BuildSettings is the build: section (stack deploy --build).
type BuildSettings struct {
	// On is the host that builds services without x-drover.build_on
	// ("" builds with the local docker engine).
	On string
	// Keep is how many generations of each service's built images stay on
	// the hosts after a successful rollout (and after image prune).
	Keep int
}

// SSHSettings are the ssh: keys, at the top level (defaults) or per host
// (overrides). Zero values mean "not set here".
type SSHSettings struct {
	User           string
	Port           int
	IdentityFile   string
	KnownHosts     string
	Jump           []string // ProxyJump hops, first contacted first
	Sudo           *bool
	ConnectTimeout time.Duration
	// Deadlines of one docker command by kind (see engine.Timeouts):
	// read_timeout, change_timeout, transfer_timeout.
	ReadTimeout     time.Duration
	ChangeTimeout   time.Duration
	TransferTimeout time.Duration
}

// StateSettings is the state: section.
type StateSettings struct {
	Backend string // local | managers
	Path    string // local backend: absolute path of the state file
	Dir     string // managers backend: folder on each manager (default /var/lib/drover/CLUSTER)
	// KeyFile holds the key that seals environment values in the state
	// (default ~/.config/drover/CLUSTER.key; DROVER_STATE_KEY overrides).
	KeyFile string
	// TTL is how long a lock lives without being renewed.
	LockTTL time.Duration
	// OpTimeout bounds one state operation on one manager (managers
	// backend): a manager that takes longer counts as unreachable.
	OpTimeout time.Duration
}

// MinStateOpTimeout is the smallest state.op_timeout: below it, a healthy
// manager over a slow link would be judged unreachable.
const MinStateOpTimeout = time.Second

// Host is one inventory host.
type Host struct {
	Name    string
	Address string
	// PrivateAddress is the IP address the other hosts reach this one on
	// for the routing mesh (a private interface); empty: Address.
	PrivateAddress string
	Role           Role
	Labels         map[string]string
	SSH            SSHSettings    // per-host overrides only; see Inventory.SSHFor
	Docker         DockerSettings // per-host overrides only; see Inventory.DockerFor
	Line           int            // line of the host's entry in the file, for messages
}

// Host returns the host with the given name.
func (inv *Inventory) Host(name string) (*Host, bool) {
	for i := range inv.Hosts {
		if inv.Hosts[i].Name == name {
			return &inv.Hosts[i], true
		}
	}
	return nil, false
}

// ClusterAddress is the address the other hosts reach h on for the
// routing mesh: PrivateAddress, or Address.
func (h *Host) ClusterAddress() string {
	if h.PrivateAddress != "" {
		return h.PrivateAddress
	}
	return h.Address
}

// Names returns the host names in inventory order.
func (inv *Inventory) Names() []string {
	out := make([]string, len(inv.Hosts))
	for i, h := range inv.Hosts {
		out[i] = h.Name
	}
	return out
}

// SSHFor returns the host's SSH settings: its overrides over the inventory's
// defaults. Fields still zero are for ~/.ssh/config or built-in defaults to fill.
func (inv *Inventory) SSHFor(h *Host) SSHSettings {
	s := inv.SSH
	o := h.SSH
	if o.User != "" {
		s.User = o.User
	}
	if o.Port != 0 {
		s.Port = o.Port
	}
	if o.IdentityFile != "" {
		s.IdentityFile = o.IdentityFile
	}
	if o.KnownHosts != "" {
		s.KnownHosts = o.KnownHosts
	}
	if o.Jump != nil {
		s.Jump = o.Jump
	}
	if o.Sudo != nil {
		s.Sudo = o.Sudo
	}
	if o.ConnectTimeout != 0 {
		s.ConnectTimeout = o.ConnectTimeout
	}
	if o.ReadTimeout != 0 {
		s.ReadTimeout = o.ReadTimeout
	}
	if o.ChangeTimeout != 0 {
		s.ChangeTimeout = o.ChangeTimeout
	}
	if o.TransferTimeout != 0 {
		s.TransferTimeout = o.TransferTimeout
	}
	return s
}

// InventoryError locates a problem in an inventory file.
type InventoryError struct {
	File string
	Line int
	Col  int
	Msg  string
}

func (e *InventoryError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

var (
	nameRE  = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)
	labelRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_./-]*$`)
)

// LoadInventory reads and validates an inventory file. Relative paths in it
// (state.path, identity files, known_hosts) are taken relative to the file;
// "~" expands to home.
func LoadInventory(path, home string) (*Inventory, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	return ParseInventory(abs, data, home)
}

// ParseInventory parses inventory YAML; file names the source in errors and
// anchors relative paths.
func ParseInventory(file string, data []byte, home string) (*Inventory, error) {
	p := &invParser{file: file, dir: filepath.Dir(file), home: home}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlSyntaxError(file, data, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, &InventoryError{File: file, Msg: "empty inventory: it needs cluster: and hosts:"}
	}
	inv, err := p.inventory(doc.Content[0])
	if err != nil {
		p.note(err)
	}
	switch len(p.problems) {
	case 0:
		inv.Path = file
		return inv, nil
	case 1:
		return nil, p.problems[0]
	}
	sort.SliceStable(p.problems, func(i, j int) bool { return lineOf(p.problems[i]) < lineOf(p.problems[j]) })
	return nil, &InventoryErrors{File: file, Errs: p.problems}
}

// InventoryErrors is every problem found in one inventory file, in file
// order. errors.As finds each *InventoryError in it.
type InventoryErrors struct {
	File string
	Errs []error
}

func (e *InventoryErrors) Error() string {
	lines := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		lines[i] = err.Error()
	}
	return fmt.Sprintf("%d problems in %s:\n  %s", len(lines), e.File, strings.Join(lines, "\n  "))
}

func (e *InventoryErrors) Unwrap() []error { return e.Errs }

func lineOf(err error) int {
	var ie *InventoryError
	if errors.As(err, &ie) {
		return ie.Line
	}
	return 0
}

type invParser struct {
	file, dir, home string
	// problems that do not stop parsing (an unknown key, a bad host):
	// the rest is still read, so that one run reports them all.
	problems []error
}

// note records a problem and parsing goes on.
func (p *invParser) note(err error) { p.problems = append(p.problems, err) }

func (p *invParser) errf(n *yaml.Node, format string, args ...any) error {
	return &InventoryError{File: p.file, Line: n.Line, Col: n.Column, Msg: fmt.Sprintf(format, args...)}
}

// fields checks a mapping's keys against the known ones and returns the
// values by key.
func (p *invParser) fields(n *yaml.Node, where string, known ...string) (map[string]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n, "%s must be a mapping", where)
	}
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !contains(known, k.Value) {
			hint := "known keys: " + strings.Join(known, ", ")
			if s := Closest(k.Value, known); s != "" {
				hint = fmt.Sprintf("did you mean %q?", s)
			}
			p.note(p.errf(k, "unknown key %q in %s (%s)", k.Value, where, hint))
			continue
		}
		if _, dup := out[k.Value]; dup {
			p.note(p.errf(k, "key %q appears twice in %s", k.Value, where))
			continue
		}
		out[k.Value] = v
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (p *invParser) str(n *yaml.Node, key string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", p.errf(n, "%s must be a string", key)
	}
	return n.Value, nil
}

func (p *invParser) inventory(root *yaml.Node) (*Inventory, error) {
	f, err := p.fields(root, "the inventory", "cluster", "ssh", "docker", "state", "build", "hosts")
	if err != nil {
		return nil, err
	}
	inv := &Inventory{State: StateSettings{Backend: "local", LockTTL: 2 * time.Minute, OpTimeout: 10 * time.Second}, Build: BuildSettings{Keep: DefaultKeepBuilds}}
	cn, ok := f["cluster"]
	if !ok {
		return nil, p.errf(root, "missing key cluster (the cluster's name)")
	}
	if inv.Cluster, err = p.str(cn, "cluster"); err != nil {
		return nil, err
	}
	if !nameRE.MatchString(inv.Cluster) {
		return nil, p.errf(cn, "cluster name %q: use letters, digits, '_', '.', '-'", inv.Cluster)
	}
	if n, ok := f["ssh"]; ok {
		if inv.SSH, err = p.ssh(n, "ssh"); err != nil {
			p.note(err)
		}
	}
	if n, ok := f["docker"]; ok {
		if inv.Docker, err = p.docker(n, "docker"); err != nil {
			return nil, err
		}
	}
	if n, ok := f["state"]; ok {
		if err := p.state(n, &inv.State); err != nil {
			p.note(err)
		}
	}
	if n, ok := f["build"]; ok {
		if err := p.build(n, &inv.Build); err != nil {
			p.note(err)
		}
	}
	if inv.State.Backend == "local" && inv.State.Path == "" {
		inv.State.Path = filepath.Join(p.dir, "drover.state.json")
	}
	if inv.State.Backend == "managers" && inv.State.Dir == "" {
		inv.State.Dir = "/var/lib/drover/" + inv.Cluster
	}
	hn, ok := f["hosts"]
	if !ok || hn.Kind != yaml.SequenceNode || len(hn.Content) == 0 {
		at := root
		if ok {
			at = hn
		}
		return nil, p.errf(at, "hosts: needs at least one host")
	}
	names := map[string]int{}
	addrs := map[string]int{}
	hostNodes := map[string]*yaml.Node{}
	for _, n := range hn.Content {
		h, err := p.host(n)
		if err != nil {
			p.note(err)
			continue
		}
		if prev, dup := names[h.Name]; dup {
			return nil, p.errf(n, "duplicate host name %q (first at line %d)", h.Name, prev)
		}
		names[h.Name] = n.Line
		hostNodes[h.Name] = n
		key := net.JoinHostPort(strings.ToLower(h.Address), fmt.Sprint(h.SSH.Port))
		if prev, dup := addrs[key]; dup {
			return nil, p.errf(n, "duplicate address %q for host %s (first at line %d)", h.Address, h.Name, prev)
		}
		addrs[key] = n.Line
		inv.Hosts = append(inv.Hosts, h)
	}
	if len(p.problems) == 0 {
		if err := p.checkDocker(inv, hostNodes); err != nil {
			return nil, err
		}
	}
	if on := inv.Build.On; on != "" && len(p.problems) == 0 {
		if _, ok := names[on]; !ok {
			return nil, p.errf(f["build"], "build.on: no host %q in hosts", on)
		}
	}
	if inv.State.Backend == "managers" && len(p.problems) == 0 {
		n := 0
		for _, h := range inv.Hosts {
			if h.Role == Manager {
				n++
			}
		}
		if n == 0 {
			return nil, p.errf(f["state"], "state.backend managers needs at least one host with role: manager")
		}
	}
	return inv, nil
}

func (p *invParser) build(n *yaml.Node, b *BuildSettings) error {
	f, err := p.fields(n, "build", "on", "keep")
	if err != nil {
		return err
	}
	if v, ok := f["on"]; ok {
		if b.On, err = p.str(v, "build.on"); err != nil {
			return err
		}
	}
	if v, ok := f["keep"]; ok {
		k, err := strconv.Atoi(v.Value)
		if err != nil || v.Kind != yaml.ScalarNode || k < 1 {
			return p.errf(v, "build.keep must be a whole number of generations, at least 1, not %q", v.Value)
		}
		b.Keep = k
	}
	return nil
}

func (p *invParser) state(n *yaml.Node, s *StateSettings) error {
	f, err := p.fields(n, "state", "backend", "path", "dir", "key_file", "lock_ttl", "op_timeout")
	if err != nil {
		return err
	}
	if v, ok := f["backend"]; ok {
		if s.Backend, err = p.str(v, "state.backend"); err != nil {
			return err
		}
		if s.Backend != "local" && s.Backend != "managers" {
			return p.errf(v, "state.backend %q: must be local or managers", s.Backend)
		}
	}
	if v, ok := f["path"]; ok {
		path, err := p.str(v, "state.path")
		if err != nil {
			return err
		}
		s.Path = p.path(path)
	}
	if v, ok := f["dir"]; ok {
		dir, err := p.str(v, "state.dir")
		if err != nil {
			return err
		}
		if !filepath.IsAbs(dir) {
			return p.errf(v, "state.dir %q: must be an absolute path on the managers", dir)
		}
		s.Dir = dir
	}
	if v, ok := f["key_file"]; ok {
		path, err := p.str(v, "state.key_file")
		if err != nil {
			return err
		}
		s.KeyFile = p.path(path)
	}
	if v, ok := f["lock_ttl"]; ok {
		if s.LockTTL, err = p.durationAtLeast(v, "state.lock_ttl", MinLockTTL); err != nil {
			return err
		}
	}
	if v, ok := f["op_timeout"]; ok {
		if s.OpTimeout, err = p.duration(v, "state.op_timeout"); err != nil {
			return err
		}
		if s.OpTimeout < MinStateOpTimeout {
			return p.errf(v, "state.op_timeout %s: must be at least %s", v.Value, MinStateOpTimeout)
		}
	}
	return nil
}

func (p *invParser) ssh(n *yaml.Node, where string) (SSHSettings, error) {
	var s SSHSettings
	f, err := p.fields(n, where, "user", "port", "identity_file", "known_hosts", "jump", "sudo", "connect_timeout",
		"read_timeout", "change_timeout", "transfer_timeout")
	if err != nil {
		return s, err
	}
	for key, v := range f {
		switch key {
		case "user":
			s.User, err = p.str(v, where+".user")
		case "port":
			var port int
			if err = v.Decode(&port); err != nil || port < 1 || port > 65535 {
				return s, p.errf(v, "%s.port %q: must be a number from 1 to 65535", where, v.Value)
			}
			s.Port = port
		case "identity_file":
			var path string
			path, err = p.str(v, where+".identity_file")
			s.IdentityFile = p.path(path)
		case "known_hosts":
			var path string
			path, err = p.str(v, where+".known_hosts")
			s.KnownHosts = p.path(path)
		case "jump":
			s.Jump, err = p.jump(v, where+".jump")
		case "sudo":
			var b bool
			if v.Decode(&b) != nil {
				return s, p.errf(v, "%s.sudo %q: must be true or false", where, v.Value)
			}
			s.Sudo = &b
		case "read_timeout":
			s.ReadTimeout, err = p.durationAtLeast(v, where+".read_timeout", MinCommandTimeout)
		case "change_timeout":
			s.ChangeTimeout, err = p.durationAtLeast(v, where+".change_timeout", MinCommandTimeout)
		case "transfer_timeout":
			s.TransferTimeout, err = p.durationAtLeast(v, where+".transfer_timeout", MinCommandTimeout)
		case "connect_timeout":
			s.ConnectTimeout, err = p.durationAtLeast(v, where+".connect_timeout", MinConnectTimeout)
		}
		if err != nil {
			return s, err
		}
	}
	return s, nil
}

func (p *invParser) jump(v *yaml.Node, where string) ([]string, error) {
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Value == "" || v.Tag == "!!null" {
			return []string{}, nil // explicitly no jump (overrides the default)
		}
		return []string{v.Value}, nil
	case yaml.SequenceNode:
		out := []string{}
		for _, e := range v.Content {
			s, err := p.str(e, where)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, p.errf(v, "%s must be a string or a list of user@host:port", where)
}

func (p *invParser) duration(v *yaml.Node, where string) (time.Duration, error) {
	d, err := time.ParseDuration(v.Value)
	if err != nil || d <= 0 {
		return 0, p.errf(v, "%s %q: not a duration (use e.g. 5s, 1m30s)", where, v.Value)
	}
	return d, nil
}

// path expands ~ and makes relative paths relative to the inventory's folder.
func (p *invParser) path(s string) string {
	return ExpandPath(s, p.home, p.dir)
}

// ExpandPath expands a leading ~ to home and makes a relative path relative
// to dir.
func ExpandPath(s, home, dir string) string {
	if s == "~" {
		return home
	}
	if strings.HasPrefix(s, "~/") {
		return filepath.Join(home, s[2:])
	}
	if s != "" && !filepath.IsAbs(s) {
		return filepath.Join(dir, s)
	}
	return s
}

func (p *invParser) host(n *yaml.Node) (Host, error) {
	h := Host{Line: n.Line}
	f, err := p.fields(n, "host", "name", "address", "private_address", "role", "labels", "ssh", "docker")
	if err != nil {
		return h, err
	}
	nn, ok := f["name"]
	if !ok {
		return h, p.errf(n, "host without name")
	}
	if h.Name, err = p.str(nn, "name"); err != nil {
		return h, err
	}
	if !nameRE.MatchString(h.Name) {
		return h, p.errf(nn, "host name %q: use letters, digits, '_', '.', '-' (at most 63)", h.Name)
	}
	an, ok := f["address"]
	if !ok {
		return h, p.errf(n, "host %s: missing address", h.Name)
	}
	if h.Address, err = p.str(an, "address"); err != nil {
		return h, err
	}
	if h.Address == "" || strings.ContainsAny(h.Address, " \t/@") {
		return h, p.errf(an, "host %s: address %q is not a host name or IP address", h.Name, h.Address)
	}
	if pn, ok := f["private_address"]; ok {
		if h.PrivateAddress, err = p.str(pn, "private_address"); err != nil {
			return h, err
		}
		if net.ParseIP(h.PrivateAddress) == nil {
			return h, p.errf(pn, "host %s: private_address %q is not an IP address", h.Name, h.PrivateAddress)
		}
	}
	h.Role = Worker
	if rn, ok := f["role"]; ok {
		r, err := p.str(rn, "role")
		if err != nil {
			return h, err
		}
		switch Role(r) {
		case Manager, Worker:
			h.Role = Role(r)
		default:
			return h, p.errf(rn, "host %s: role %q: must be manager or worker", h.Name, r)
		}
	}
	if ln, ok := f["labels"]; ok {
		if ln.Kind != yaml.MappingNode {
			return h, p.errf(ln, "host %s: labels must be a mapping of key: value", h.Name)
		}
		h.Labels = map[string]string{}
		for i := 0; i+1 < len(ln.Content); i += 2 {
			k, v := ln.Content[i], ln.Content[i+1]
			if !labelRE.MatchString(k.Value) {
				return h, p.errf(k, "host %s: label key %q: use letters, digits, '_', '.', '-', '/'", h.Name, k.Value)
			}
			if v.Kind != yaml.ScalarNode {
				return h, p.errf(v, "host %s: label %s must be a string", h.Name, k.Value)
			}
			h.Labels[k.Value] = v.Value
		}
	}
	if sn, ok := f["ssh"]; ok {
		if h.SSH, err = p.ssh(sn, "hosts["+h.Name+"].ssh"); err != nil {
			return h, err
		}
	}
	if dn, ok := f["docker"]; ok {
		if h.Docker, err = p.docker(dn, "hosts["+h.Name+"].docker"); err != nil {
			return h, err
		}
	}
	return h, nil
}

// SortedLabels renders labels as k=v pairs in key order.
func SortedLabels(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
