package planner

import (
	"sort"

	"github.com/drover-sh/drover/cluster"
)

// builtinNetworks exist on every docker host and cannot be created.
var builtinNetworks = map[string]bool{"bridge": true, "host": true, "none": true}

// resources lists the networks and named volumes that hosts receiving a new
// container lack. External ones are the user's to create: drover never does.
func (w *world) resources(actions []Action) (networks, volumes []ResourceAction) {
	type key struct{ host, name string }
	seenNet := make(map[key]bool)
	seenVol := make(map[key]bool)
	for i := range actions {
		a := &actions[i]
		if a.Kind != Create && a.Kind != Replace {
			continue
		}
		s, n := w.svcByName[a.Service], w.byName[a.Host]
		for _, att := range s.spec.Container.Networks {
			k := key{a.Host, att.Name}
			if att.Name == "" || builtinNetworks[att.Name] || seenNet[k] || w.in.Networks[att.Name].External || n.hasNetwork(att.Name) {
				continue
			}
			seenNet[k] = true
			def, ok := w.in.Networks[att.Name]
			if !ok {
				def = cluster.Network{Name: att.Name}
			}
			networks = append(networks, ResourceAction{Kind: Create, Host: a.Host, Name: att.Name, Stack: s.spec.Stack, Network: &def})
		}
		for _, m := range s.spec.Container.Mounts {
			k := key{a.Host, m.Source}
			// An empty source is an anonymous volume: docker makes it.
			if m.Type != "volume" || m.Source == "" || seenVol[k] || w.in.Volumes[m.Source].External || n.hasVolume(m.Source) {
				continue
			}
			seenVol[k] = true
			def, ok := w.in.Volumes[m.Source]
			if !ok {
				def = cluster.Volume{Name: m.Source}
			}
			volumes = append(volumes, ResourceAction{Kind: Create, Host: a.Host, Name: m.Source, Stack: s.spec.Stack, Volume: &def})
		}
	}
	byHostName := func(rs []ResourceAction) func(i, j int) bool {
		return func(i, j int) bool {
			if rs[i].Host != rs[j].Host {
				return rs[i].Host < rs[j].Host
			}
			return rs[i].Name < rs[j].Name
		}
	}
	sort.Slice(networks, byHostName(networks))
	sort.Slice(volumes, byHostName(volumes))
	return networks, volumes
}
