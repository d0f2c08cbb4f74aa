package planner

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/drover-sh/drover/cluster"
)

// node is a host and the running totals of what will run there once the
// plan is applied. Totals only grow while planning, so a node that cannot
// take a replica now cannot take it later in the same run either: placement
// relies on that to drop nodes for good.
type node struct {
	idx  int
	name string
	info *cluster.Node
	obs  *cluster.HostObservation

	total  int   // running replicas, all services
	cpu    int64 // reserved nano CPUs
	memory int64 // reserved bytes
	cpuCap int64 // 0: unknown, no limit
	memCap int64
	ports  map[string]string // "8080/tcp" → service binding it

	// cur mirrors service.count[n] for the service being placed, so the
	// placement heaps compare plain ints instead of looking up maps.
	cur int

	networks, volumes map[string]bool // built on first use
}

func (n *node) ready() bool { return n.info.Ready }

func (n *node) availability() cluster.Availability {
	if n.info.Availability == "" {
		return cluster.Active
	}
	return n.info.Availability
}

// occupy accounts one running replica with the given ports and reservations.
func (n *node) occupy(service string, ports []string, cpu, mem int64) {
	n.total++
	n.cpu += cpu
	n.memory += mem
	for _, p := range ports {
		if n.ports == nil {
			n.ports = make(map[string]string)
		}
		if _, taken := n.ports[p]; !taken {
			n.ports[p] = service
		}
	}
}

func (n *node) hasNetwork(name string) bool {
	if n.networks == nil {
		n.networks = toSet(n.obs.Networks)
	}
	return n.networks[name]
}

func (n *node) hasVolume(name string) bool {
	if n.volumes == nil {
		n.volumes = toSet(n.obs.Volumes)
	}
	return n.volumes[name]
}

func toSet(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, s := range names {
		m[s] = true
	}
	return m
}

// service is a desired service with what the planner derived from it.
type service struct {
	spec    *cluster.Service
	name    string // STACK_SERVICE
	hash    string
	global  bool
	inScope bool
	level   int // dependency level (dependencyOrder)

	constraints []constraint
	spread      []attribute
	ports       []string                    // host ports one replica binds, "8080/tcp"
	published   []string                    // every published port (ingress too): no two services share one
	platforms   []cluster.Platform          // of the image; nil: unknown
	copies      map[string]cluster.Platform // host → platform of its copy of the image
	cpu, mem    int64                       // reservations of one replica

	candidates []*candidate  // observed containers (in scope only)
	count      map[*node]int // running replicas once the plan is applied
	keeps      []*candidate  // containers left as they are
	pending    []*pending    // slots that need a new container
	actions    []Action
}

func (s *service) replicas() int {
	if s.spec.Replicas < 0 {
		return 0
	}
	return s.spec.Replicas
}

func (s *service) maxPerNode() int { return s.spec.Placement.MaxReplicasPerNode }

// failedConstraint returns the first constraint the node fails, or nil.
func (s *service) failedConstraint(n *cluster.Node) *constraint {
	for i := range s.constraints {
		if !s.constraints[i].match(n) {
			return &s.constraints[i]
		}
	}
	return nil
}

// world is the state of one Compute run.
type world struct {
	in        *Input
	nodes     []*node // by name
	byName    map[string]*node
	services  []*service // by name
	svcByName map[string]*service
	order     []*service          // in-scope services, dependencies first
	removed   map[string][]Action // removes of containers whose service is gone
	warnings  []string
	pending   []Pending // replicas no node can take now
}

func (w *world) warnf(format string, args ...any) {
	w.warnings = append(w.warnings, fmt.Sprintf(format, args...))
}

// newWorld indexes the input and validates everything that does not depend
// on placement: names, constraints, port clashes between services and
// depends_on cycles.
func newWorld(in *Input) (*world, error) {
	w := &world{
		in:        in,
		byName:    make(map[string]*node, len(in.Observed)),
		svcByName: make(map[string]*service, len(in.Services)),
		removed:   make(map[string][]Action),
	}
	var errs []error
	for i := range in.Observed {
		o := &in.Observed[i]
		name := o.Node.Name
		if name == "" {
			errs = append(errs, fmt.Errorf("observation %d has no node name", i))
			continue
		}
		if w.byName[name] != nil {
			errs = append(errs, fmt.Errorf("node %s observed twice", name))
			continue
		}
		n := &node{name: name, info: &o.Node, obs: o,
			cpuCap: int64(o.Node.CPUs) * 1e9, memCap: o.Node.MemoryBytes}
		w.byName[name] = n
		w.nodes = append(w.nodes, n)
	}
	sort.Slice(w.nodes, func(i, j int) bool { return w.nodes[i].name < w.nodes[j].name })
	for i, n := range w.nodes {
		n.idx = i
	}

	for _, cs := range in.Services {
		if cs == nil {
			continue
		}
		name := cs.FullName()
		if w.svcByName[name] != nil {
			errs = append(errs, fmt.Errorf("service %s defined twice", name))
			continue
		}
		s := &service{
			spec:      cs,
			name:      name,
			hash:      cs.Container.Hash(),
			global:    cs.Mode == cluster.Global,
			inScope:   in.inScope(cs.Stack),
			ports:     hostPorts(&cs.Container),
			published: publishedPorts(&cs.Container),
			platforms: in.ImagePlatforms[cs.Container.Image],
			copies:    imageCopies(in.HostImagePlatforms, cs.Container.Image),
			cpu:       cs.Reservations.NanoCPUs,
			mem:       cs.Reservations.MemoryBytes,
			count:     make(map[*node]int),
		}
		// Out-of-scope services are not placed, so a bad constraint there
		// must not block deploying another stack.
		if s.inScope {
			var err error
			s.constraints, s.spread, err = parsePlacement(name, &cs.Placement)
			if err != nil {
				errs = append(errs, err)
			}
		}
		w.svcByName[name] = s
		w.services = append(w.services, s)
	}
	sort.Slice(w.services, func(i, j int) bool { return w.services[i].name < w.services[j].name })

	errs = append(errs, w.checkPortClashes()...)
	order, err := w.dependencyOrder()
	if err != nil {
		errs = append(errs, err)
	}
	w.order = order
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return w, nil
}

// hostPorts lists the host ports a replica binds on its node (mode:
// host). Ingress ports are the routing mesh's, on every node: they keep no
// replica off a node.
func hostPorts(c *cluster.ContainerSpec) []string {
	var ports []string
	for _, p := range c.Ports {
		if p.Published == 0 || p.Ingress() {
			continue
		}
		ports = append(ports, strconv.FormatUint(uint64(p.Published), 10)+"/"+protocol(p.Protocol))
	}
	return ports
}

// publishedPorts lists every published port, ingress or host: no two
// services may publish the same one.
func publishedPorts(c *cluster.ContainerSpec) []string {
	var ports []string
	for _, p := range c.Ports {
		if p.Published == 0 {
			continue
		}
		ports = append(ports, strconv.FormatUint(uint64(p.Published), 10)+"/"+protocol(p.Protocol))
	}
	return ports
}

func protocol(p string) string {
	if p == "" {
		return "tcp"
	}
	return strings.ToLower(p)
}

// normalizePort turns an observed binding ("8080", "8080/TCP") into the
// planner's key ("8080/tcp").
func normalizePort(p string) string {
	num, proto, _ := strings.Cut(strings.TrimSpace(p), "/")
	return num + "/" + protocol(proto)
}

// checkPortClashes reports two services publishing the same host port: with
// every replica binding on its host, they could never share a node, and
// Swarm rejects the same with its ingress. A clash between two out-of-scope
// services is only a warning, so that it cannot block deploying other stacks.
func (w *world) checkPortClashes() []error {
	var errs []error
	owner := make(map[string]*service)
	for _, s := range w.services {
		seen := make(map[string]bool, len(s.published))
		for _, p := range s.published {
			if seen[p] {
				continue
			}
			seen[p] = true
			o := owner[p]
			if o == nil {
				owner[p] = s
				continue
			}
			if o.inScope || s.inScope {
				errs = append(errs, fmt.Errorf("port %s is published by both %s and %s", p, o.name, s.name))
			} else {
				w.warnf("port %s is published by both %s and %s", p, o.name, s.name)
			}
		}
	}
	return errs
}
