package mesh

import (
	"fmt"
	"hash/fnv"
	"net"
	"sort"

	"github.com/drover-sh/drover/cluster"
)

// VIPRange is where the services' virtual addresses come from (RFC 2544's
// benchmarking range, which no real network uses). Each host's proxy makes
// the whole range local (the netlink form of `ip route replace local
// 198.18.0.0/16 dev lo`, proxy.LocalRange), so it can listen on any
// address of it and its containers reach them through their bridge's
// gateway.
const VIPRange = "198.18.0.0/16"

// DiscoveryPorts are the container ports a service is reached on by name:
// the targets of its ports, in any mode, published or not.
func DiscoveryPorts(svc *cluster.Service) []cluster.Port {
	var out []cluster.Port
	seen := map[string]bool{}
	for _, p := range svc.Container.Ports {
		k := fmt.Sprintf("%d/%s", p.Target, p.Proto())
		if seen[k] || (p.Proto() != "tcp" && p.Proto() != "udp") {
			continue
		}
		seen[k] = true
		out = append(out, cluster.Port{Target: p.Target, Protocol: p.Proto()})
	}
	return out
}

// VIPs gives each service with discovery ports a stable virtual address:
// a hash of its full name in VIPRange; a clash moves the later name (by
// sort order) to the next free address.
func VIPs(services map[string]*cluster.Service) map[string]string {
	out := map[string]string{}
	taken := map[uint32]bool{}
	for _, name := range sortedKeys(services) {
		if len(DiscoveryPorts(services[name])) == 0 {
			continue
		}
		h := fnv.New32a()
		h.Write([]byte(name))
		off := h.Sum32() % 65534
		for taken[off] {
			off = (off + 1) % 65534
		}
		taken[off] = true
		n := off + 1 // 198.18.0.1 … 198.18.255.254
		out[name] = net.IPv4(198, 18, byte(n>>8), byte(n)).String()
	}
	return out
}

// ExtraHosts are the /etc/hosts entries of a replica of svc: for every
// service of its stack that shares a network with it and has a virtual
// address, NAME and STACK_NAME resolve to that address (Swarm's VIP
// semantics: one stable address; the proxy of each host balances).
func ExtraHosts(svc *cluster.Service, services map[string]*cluster.Service) []string {
	vips := VIPs(services)
	mine := map[string]bool{}
	for _, n := range svc.Container.Networks {
		mine[n.Name] = true
	}
	var out []string
	for _, name := range sortedKeys(services) {
		o := services[name]
		vip, ok := vips[name]
		if !ok || o.Stack != svc.Stack || !shareNetwork(mine, o) {
			continue
		}
		out = append(out, o.Name+":"+vip, o.FullName()+":"+vip)
	}
	sort.Strings(out)
	return out
}

func shareNetwork(mine map[string]bool, o *cluster.Service) bool {
	for _, n := range o.Container.Networks {
		if mine[n.Name] {
			return true
		}
	}
	return false
}
