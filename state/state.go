package state

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/drover-sh/drover/cluster"
)

// Format is the newest state document version this drover reads and
// writes. A newer one is refused rather than silently downgraded.
//
// A document is written with the oldest version that holds it: 1, or
// formatFiles once it holds configs, secrets or file mounts, which a drover
// before them would drop on its next write (and so replace every replica
// that mounts a file with one that does not).
const Format = formatFiles

const (
	formatBase  = 1
	formatFiles = 2
)

// documentFormat is the version s needs.
func (s *State) documentFormat() int {
	if len(s.Configs)+len(s.Secrets) > 0 {
		return formatFiles
	}
	for _, st := range s.Stacks {
		for _, svc := range st.Services {
			if svc.Current != nil && len(svc.Current.Container.Files) > 0 {
				return formatFiles
			}
			for _, g := range svc.Previous {
				if g.Spec != nil && len(g.Spec.Container.Files) > 0 {
					return formatFiles
				}
			}
		}
	}
	return formatBase
}

// MaxHistory bounds the run history and the generations kept per service.
const (
	MaxHistory     = 200
	MaxGenerations = 20
	MaxAncestors   = 100
)

// State is the whole document.
type State struct {
	Format  int    `json:"format"`
	Lineage string `json:"lineage"`
	Serial  int64  `json:"serial"`
	Cluster string `json:"cluster"`

	Stacks  map[string]*Stack       `json:"stacks"`
	Nodes   map[string]NodeSettings `json:"nodes,omitempty"`
	History []Run                   `json:"history"`
	// Unclaimed names the stacks whose containers were running when this
	// state was started over them (stack deploy --adopt): no run removes
	// them as orphans until they are deployed again or removed by name.
	Unclaimed []string `json:"unclaimed,omitempty"`

	// Ancestors names the versions this one was built on, newest first,
	// as "SERIAL:DIGEST" (at most MaxAncestors). The managers backend
	// writes it and uses it to tell a version built on a committed one
	// from a stray copy of a failed write; see state/managers_pick.go.
	// Other backends carry it unchanged.
	Ancestors []string `json:"ancestors,omitempty"`

	// Configs and Secrets are drover's store of files for replicas (see
	// objects.go); secrets' contents are sealed.
	Configs map[string]*Object `json:"configs,omitempty"`
	Secrets map[string]*Object `json:"secrets,omitempty"`
}

// Claim takes a stack off the unclaimed list: it is deployed or removed by
// name.
func (s *State) Claim(stack string) {
	out := s.Unclaimed[:0]
	for _, n := range s.Unclaimed {
		if n != stack {
			out = append(out, n)
		}
	}
	s.Unclaimed = out
	if len(s.Unclaimed) == 0 {
		s.Unclaimed = nil
	}
}

// Stack is a deployed stack's desired state.
type Stack struct {
	Name     string                     `json:"name"`
	Networks map[string]cluster.Network `json:"networks,omitempty"`
	Volumes  map[string]cluster.Volume  `json:"volumes,omitempty"`
	Services map[string]*Service        `json:"services"` // by compose service name
}

// Service is one service's desired spec and the generations before it.
type Service struct {
	Current  *cluster.Service `json:"current"`
	Previous []Generation     `json:"previous,omitempty"` // newest first
	// Update describes the last rolling update of Current.
	Update *UpdateStatus `json:"update,omitempty"`
	// Meta of the current generation.
	Meta GenerationMeta `json:"meta"`
}

// Generation is an earlier desired spec of a service, kept for rollback and
// history.
type Generation struct {
	Spec *cluster.Service `json:"spec"`
	Meta GenerationMeta   `json:"meta"`
}

// GenerationMeta says when and by whom a generation was made, and how its
// rollout ended.
type GenerationMeta struct {
	Generation int       `json:"generation"`
	Time       time.Time `json:"time"`
	By         string    `json:"by"`
	Command    string    `json:"command,omitempty"`
	Changes    []string  `json:"changes,omitempty"`
	Result     string    `json:"result,omitempty"` // completed | paused | rolled back | failed | superseded
	// Parent is the generation that was current when this one was made:
	// where a rollback of this generation goes.
	Parent int `json:"parent,omitempty"`
	// Build is the build that produced this generation's image (stack
	// deploy --build); image prune keeps the images of recent generations.
	Build *BuildRecord `json:"build,omitempty"`
}

// BuildRecord is one built image, as the state keeps it.
type BuildRecord struct {
	Image string    `json:"image"`        // REPOSITORY:TAG
	ID    string    `json:"id"`           // the image ID
	On    string    `json:"on,omitempty"` // the build host; "" for the local engine
	Time  time.Time `json:"time"`
	// Variants are a multi-platform build's images, platform → image ID
	// (ID is then the digest of the set); absent for one platform.
	Variants map[string]string `json:"variants,omitempty"`
}

// IDs are the image IDs of the build: its variants', or its one ID.
func (b *BuildRecord) IDs() []string {
	if len(b.Variants) == 0 {
		return []string{b.ID}
	}
	out := make([]string, 0, len(b.Variants))
	for _, id := range b.Variants {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// UpdateStatus is the state of a service's rolling update.
type UpdateStatus struct {
	State   cluster.UpdateState `json:"state"`
	Reason  string              `json:"reason,omitempty"`
	Started time.Time           `json:"started"`
	Ended   time.Time           `json:"ended,omitempty"`
}

// NodeSettings are per-node settings kept in the state (drover node update).
type NodeSettings struct {
	Availability cluster.Availability `json:"availability,omitempty"`
	LabelsAdd    map[string]string    `json:"labels_add,omitempty"`
	LabelsRemove []string             `json:"labels_remove,omitempty"`
}

// Run is one audit-trail entry.
type Run struct {
	Serial  int64     `json:"serial"`
	Time    time.Time `json:"time"`
	User    string    `json:"user"` // user@machine
	Command string    `json:"command"`
	Summary string    `json:"summary"`
	Result  string    `json:"result"` // ok | failed | paused | rolled back
}

// New returns an empty state with a fresh lineage.
func New(clusterName string) *State {
	return &State{
		Format:  formatBase,
		Lineage: newLineage(),
		Cluster: clusterName,
		Stacks:  map[string]*Stack{},
		Nodes:   map[string]NodeSettings{},
	}
}

func newLineage() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ErrNewerFormat is returned for a state written by a newer drover.
var ErrNewerFormat = errors.New("state file was written by a newer drover")

// Validate checks a state read from a store or a file before any command
// uses it: a state that passes is one the accessors below and the commands
// can work with without a nil check. Problems inside the document are
// reported as *MalformedError naming their place.
func (s *State) Validate(clusterName string) error {
	if s.Format > Format {
		return fmt.Errorf("%w (format %d, this drover knows up to %d): upgrade drover", ErrNewerFormat, s.Format, Format)
	}
	if s.Lineage == "" {
		return errors.New("state has no lineage")
	}
	if clusterName != "" && s.Cluster != "" && s.Cluster != clusterName {
		return fmt.Errorf("state belongs to cluster %q, the inventory says %q", s.Cluster, clusterName)
	}
	if err := s.checkDocument(); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if s.Stacks == nil {
		s.Stacks = map[string]*Stack{}
	}
	for _, st := range s.Stacks {
		if st.Services == nil {
			st.Services = map[string]*Service{}
		}
	}
	if s.Nodes == nil {
		s.Nodes = map[string]NodeSettings{}
	}
	return nil
}

// Services returns every desired service of every stack, sorted by full name.
func (s *State) Services() []*cluster.Service {
	var out []*cluster.Service
	for _, st := range s.Stacks {
		for _, svc := range st.Services {
			out = append(out, svc.Current)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].FullName() < out[j].FullName() })
	return out
}

// StackNames returns the stack names, sorted.
func (s *State) StackNames() []string {
	out := make([]string, 0, len(s.Stacks))
	for n := range s.Stacks {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// FindService finds a service by full name (STACK_SERVICE).
func (s *State) FindService(fullName string) (*Stack, *Service, bool) {
	for _, st := range s.Stacks {
		for _, svc := range st.Services {
			if svc.Current.FullName() == fullName {
				return st, svc, true
			}
		}
	}
	return nil, nil, false
}

// Specs returns every container spec the state knows (current and earlier
// generations) by hash, so a plan can say what changed.
func (s *State) Specs() map[string]cluster.ContainerSpec {
	out := map[string]cluster.ContainerSpec{}
	for _, st := range s.Stacks {
		for _, svc := range st.Services {
			out[svc.Current.Container.Hash()] = svc.Current.Container
			for _, g := range svc.Previous {
				out[g.Spec.Container.Hash()] = g.Spec.Container
			}
		}
	}
	return out
}

// AddRun appends an audit entry, keeping at most MaxHistory.
func (s *State) AddRun(r Run) {
	s.History = append(s.History, r)
	if n := len(s.History) - MaxHistory; n > 0 {
		s.History = append([]Run(nil), s.History[n:]...)
	}
}

// Push makes svc the current generation of a service, keeping the old one
// in Previous.
func (sv *Service) Push(next *cluster.Service, meta GenerationMeta) {
	if sv.Current != nil {
		if meta.Parent == 0 {
			meta.Parent = sv.Current.Generation
		}
		old := sv.Meta
		if old.Result == "" {
			old.Result = "superseded"
		}
		sv.Previous = append([]Generation{{Spec: sv.Current, Meta: old}}, sv.Previous...)
		if len(sv.Previous) > MaxGenerations {
			sv.Previous = sv.Previous[:MaxGenerations]
		}
	}
	sv.Current = next
	sv.Meta = meta
	sv.Update = nil
}

// NextGeneration is the number for a new generation: above every
// generation this service ever had, so numbers are never reused (a
// rollback brings an old number back as current).
func (sv *Service) NextGeneration() int {
	n := 0
	if sv.Current != nil {
		n = sv.Current.Generation
	}
	for _, g := range sv.Previous {
		n = max(n, g.Spec.Generation)
	}
	return n + 1
}

// RollbackTarget finds the generation a rollback goes to: gen when given,
// else the current generation's parent (the one it replaced). Following
// parents, rolling back twice goes back two generations, never forward
// again.
func (sv *Service) RollbackTarget(gen int) (*Generation, error) {
	want := gen
	if want == 0 {
		want = sv.Meta.Parent
		if want == 0 {
			return nil, fmt.Errorf("no earlier generation to roll back to (generation %d is the first)", sv.Current.Generation)
		}
	}
	if sv.Current.Generation == want {
		return nil, fmt.Errorf("generation %d is already the current one", want)
	}
	for i := range sv.Previous {
		if sv.Previous[i].Spec.Generation == want {
			return &sv.Previous[i], nil
		}
	}
	return nil, fmt.Errorf("generation %d is not in this service's history (the last %d are kept)", want, MaxGenerations)
}

// RollbackTo makes an earlier generation current again. The current one
// moves to the history with the given result ("rolled back").
func (sv *Service) RollbackTo(gen int, result string) error {
	target, err := sv.RollbackTarget(gen)
	if err != nil {
		return err
	}
	restored := *target
	var rest []Generation
	for _, g := range sv.Previous {
		if g.Spec.Generation != restored.Spec.Generation {
			rest = append(rest, g)
		}
	}
	old := sv.Meta
	old.Result = result
	sv.Previous = append([]Generation{{Spec: sv.Current, Meta: old}}, rest...)
	sv.Current = restored.Spec
	// The restored generation keeps its own history (and so its parent).
	sv.Meta = restored.Meta
	sv.Meta.Result = ""
	sv.Update = nil
	return nil
}
