package mesh

import (
	"fmt"
	"net"
	"sort"
	"strconv"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
	"github.com/drover-sh/drover/mesh/proxy"
)

// Node is a host as the mesh sees it.
type Node struct {
	Name string
	// Address is the IP the other hosts reach it on (inventory
	// private_address, or address resolved).
	Address      string
	Ready        bool // observed this run
	Availability cluster.Availability
}

// Input is everything Compute needs: plain values.
type Input struct {
	Nodes    []Node
	Services map[string]*cluster.Service // desired, by full name
	Replicas []cluster.Replica           // observed on the ready nodes
	// Exclude lists replica IDs being stopped: they leave every proxy
	// before they stop (the drain).
	Exclude map[string]bool
	Health  proxy.HealthConfig
	Version string
}

// Compute returns each node's proxy configuration; a node that needs no
// proxy has none in the map. Nodes without an IP address are left out,
// with a warning.
//
// Every ready node listens on each ingress port and
// balances over all running replicas of the service on all ready nodes,
// each reached at its node's address and the port its gate opens there.
// A node's gate for a local replica listens on the node's address at the
// ephemeral port docker bound on the loopback (docker's allocator keeps the
// numbers apart), and forwards to the replica while the container is ready
// (healthy, or running without a healthcheck).
func Compute(in Input) (map[string]*proxy.Config, []string) {
	var warnings []string
	nodes := map[string]Node{}
	var names []string
	for _, n := range in.Nodes {
		if !n.Ready {
			continue
		}
		if net.ParseIP(n.Address) == nil {
			warnings = append(warnings, fmt.Sprintf("%s: address %q is not an IP address: the host is left out of the routing mesh (set private_address)", n.Name, n.Address))
			continue
		}
		nodes[n.Name] = n
		names = append(names, n.Name)
	}
	sort.Strings(names)
	routes := map[string][]proxy.Route{}

	byService := map[string][]cluster.Replica{}
	for _, r := range in.Replicas {
		if _, ok := nodes[r.Host]; !ok || !r.Running() || in.Exclude[r.ID] {
			continue
		}
		byService[r.Service] = append(byService[r.Service], r)
	}
	vips := VIPs(in.Services)
	for _, name := range sortedKeys(in.Services) {
		svc := in.Services[name]
		reps := byService[name]
		sort.Slice(reps, func(i, j int) bool { return reps[i].Name < reps[j].Name })
		// backendsOf lists, for one container port, each running replica's
		// address as the other hosts reach it, and opens the gates.
		gated := map[string]bool{}
		backendsOf := func(p cluster.Port) []proxy.Backend {
			proto := proxy.Protocol(p.Proto())
			var backends []proxy.Backend
			for _, r := range reps {
				n := nodes[r.Host]
				if hp, ok := hostModeBinding(r, p, svc); ok {
					// A mode: host port is bound on the node itself.
					backends = append(backends, proxy.Backend{Address: net.JoinHostPort(n.Address, strconv.Itoa(int(hp))), Replica: r.Name + "@" + r.Host})
					continue
				}
				b, ok := loopbackBinding(r, p)
				if !ok {
					continue
				}
				addr := net.JoinHostPort(n.Address, strconv.Itoa(int(b.HostPort)))
				backends = append(backends, proxy.Backend{Address: addr, Replica: r.Name + "@" + r.Host, Gated: true})
				if gated[addr] {
					continue
				}
				gated[addr] = true
				gate := proxy.Route{
					Name:     fmt.Sprintf("%s %d/%s (gate %s)", name, p.Target, proto, r.Name),
					Protocol: proto,
					Listen:   addr,
					Backends: []proxy.Backend{{Address: replicaAddr(r, p, b), Replica: r.Name}},
				}
				gate.Gate = r.ID
				routes[r.Host] = append(routes[r.Host], gate)
			}
			return backends
		}
		for _, p := range svc.Container.Ports {
			if !p.Ingress() {
				continue
			}
			proto := proxy.Protocol(p.Proto())
			if proto != proxy.TCP && proto != proxy.UDP {
				warnings = append(warnings, fmt.Sprintf("%s: port %d/%s: the routing mesh serves tcp and udp only", name, p.Published, proto))
				continue
			}
			if n := legacyReplicas(reps, p); n > 0 {
				// Deployed before the mesh: docker binds the port on
				// those hosts, where no proxy could listen.
				warnings = append(warnings, fmt.Sprintf("%s: %d replica(s) publish port %d on their own host (deployed before the routing mesh): the mesh serves it once they are replaced (drover service update --force %s)", name, n, p.Published, name))
				continue
			}
			listenIP := p.HostIP
			if listenIP == "" {
				listenIP = "0.0.0.0"
			}
			ingress := proxy.Route{
				Name:     fmt.Sprintf("%s %d/%s", name, p.Published, proto),
				Protocol: proto,
				Listen:   net.JoinHostPort(listenIP, strconv.Itoa(int(p.Published))),
				Backends: backendsOf(p),
			}
			// Every ready node answers, drained ones too (as in Swarm: a
			// drain moves replicas, the node stays in the mesh, so that
			// clients sent to it lose nothing while it drains).
			for _, h := range names {
				routes[h] = append(routes[h], ingress)
			}
		}
		vip, ok := vips[name]
		if !ok {
			continue
		}
		for _, p := range DiscoveryPorts(svc) {
			proto := proxy.Protocol(p.Proto())
			vr := proxy.Route{
				Name:     fmt.Sprintf("%s %d/%s (vip)", name, p.Target, proto),
				Protocol: proto,
				Listen:   net.JoinHostPort(vip, strconv.Itoa(int(p.Target))),
				Backends: backendsOf(p),
			}
			if len(vr.Backends) == 0 {
				continue // nothing to reach: no proxy for that alone
			}
			for _, h := range names {
				routes[h] = append(routes[h], vr)
			}
		}
	}
	out := map[string]*proxy.Config{}
	for _, h := range names {
		if len(routes[h]) == 0 {
			continue
		}
		out[h] = &proxy.Config{Version: in.Version, Health: in.Health, Routes: routes[h]}
	}
	return out, warnings
}

// replicaAddr is where a gate reaches its replica: the container's own
// address on its bridge (a dead container refuses or times out there, where
// docker's userland proxy on the loopback port would accept and then
// close), or the loopback port when the container has no address.
func replicaAddr(r cluster.Replica, p cluster.Port, b cluster.Binding) string {
	if len(r.IPs) > 0 && net.ParseIP(r.IPs[0]) != nil {
		return net.JoinHostPort(r.IPs[0], strconv.Itoa(int(p.Target)))
	}
	return net.JoinHostPort(engine.MeshBindIP, strconv.Itoa(int(b.HostPort)))
}

// legacyReplicas counts the replicas that bind ingress port p on their
// host themselves (created by a drover without the mesh).
func legacyReplicas(reps []cluster.Replica, p cluster.Port) int {
	n := 0
	for _, r := range reps {
		for _, b := range r.Bindings {
			if b.Target == p.Target && b.Protocol == p.Proto() && b.HostPort == p.Published && b.HostIP != engine.MeshBindIP {
				n++
				break
			}
		}
	}
	return n
}

// hostModeBinding is the node port of a replica's mode: host port p.
func hostModeBinding(r cluster.Replica, p cluster.Port, svc *cluster.Service) (uint32, bool) {
	for _, sp := range svc.Container.Ports {
		if sp.Target == p.Target && sp.Proto() == p.Proto() && sp.Published != 0 && !sp.Ingress() {
			return sp.Published, true
		}
	}
	return 0, false
}

// loopbackBinding is the replica's ephemeral binding of port p.
func loopbackBinding(r cluster.Replica, p cluster.Port) (cluster.Binding, bool) {
	// Several bindings of one target (ingress and unpublished): any one.
	for _, b := range r.Bindings {
		if b.Target == p.Target && b.Protocol == p.Proto() && b.HostIP == engine.MeshBindIP {
			return b, true
		}
	}
	return cluster.Binding{}, false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
