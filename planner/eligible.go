package planner

import "github.com/drover-sh/drover/cluster"

// Eligible returns the nodes a service's placement constraints allow, in
// order: where its replicas may go, capacity, availability and image
// platforms aside (a build asks this to know which platforms to build for).
func Eligible(svc *cluster.Service, nodes []cluster.Node) ([]cluster.Node, error) {
	cs, _, err := parsePlacement(svc.FullName(), &svc.Placement)
	if err != nil {
		return nil, err
	}
	var out []cluster.Node
	for i := range nodes {
		ok := true
		for j := range cs {
			if !cs[j].match(&nodes[i]) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, nodes[i])
		}
	}
	return out, nil
}
