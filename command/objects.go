package command

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/run"
	"github.com/drover-sh/drover/state"
)

// configs and secrets: `drover config …` and `drover secret …`, the docker
// CLI's verbs over drover's store (state/objects.go). Creating, listing,
// inspecting and removing touch only the state; update rolls the new
// content out to every service that mounts it.

func objectCommand(stdio IO, kind cluster.ObjectKind) *cli.Command {
	k := string(kind)
	labelFlag := &cli.StringSliceFlag{Name: "label", Aliases: []string{"l"}, Usage: "set a label `K=V` (repeat)"}
	inspectUsage := "print a " + k + "'s metadata and versions as JSON (never its content)"
	prettyUsage := "print for people instead of JSON"
	if kind == cluster.KindConfig {
		inspectUsage = "print a config's metadata and versions as JSON"
		prettyUsage = "print for people instead of JSON, the content included"
	}
	usage := "manage configs: files mounted into replicas"
	if kind == cluster.KindSecret {
		usage = "manage secrets: files mounted into replicas, sealed in the state"
	}
	return &cli.Command{
		Name:  k,
		Usage: usage,
		Subcommands: []*cli.Command{
			{
				Name: "create", Usage: "create a " + k + " from a file or standard input (-)", ArgsUsage: "NAME FILE|-",
				Flags:  []cli.Flag{labelFlag},
				Action: func(c *cli.Context) error { return runObjectCreate(c, stdio, kind) },
			},
			{Name: "ls", Aliases: []string{"list"}, Usage: "list " + kind.Plural(), Action: func(c *cli.Context) error { return runObjectLs(c, stdio, kind) }},
			{
				Name: "inspect", Usage: inspectUsage, ArgsUsage: "NAME [NAME...]",
				Flags:  []cli.Flag{&cli.BoolFlag{Name: "pretty", Usage: prettyUsage}},
				Action: func(c *cli.Context) error { return runObjectInspect(c, stdio, kind) },
			},
			{
				Name: "update", Usage: "give a " + k + " new content and roll it out to the services that mount it", ArgsUsage: "NAME FILE|-",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "dry-run", Usage: "show the plan, change nothing"},
					&cli.BoolFlag{Name: "detailed-exitcode", Usage: "exit 0 when nothing changes, 2 when something does (or would), 3 when replicas are left pending, 1 on error"},
					&cli.DurationFlag{Name: "timeout", Usage: "bound each service's rolling update (overrides x-drover.update_timeout)", DefaultText: "x-drover.update_timeout, else 10m"},
				},
				Action: jsonOutcome(stdio, func(c *cli.Context, stdio IO) error { return runObjectUpdate(c, stdio, kind) }),
			},
			{Name: "rm", Aliases: []string{"remove"}, Usage: "remove " + kind.Plural() + " no service mounts", ArgsUsage: "NAME [NAME...]", Action: func(c *cli.Context) error { return runObjectRm(c, stdio, kind) }},
		},
	}
}

// readObjectInput reads FILE or standard input ("-"), bounded by the
// size a config or secret may have.
func readObjectInput(stdio IO, kind cluster.ObjectKind, name string) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		if stdio.Stdin == nil {
			return nil, errors.New("no standard input")
		}
		r = stdio.Stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, cluster.MaxObjectSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > cluster.MaxObjectSize {
		return nil, fmt.Errorf("%s: a %s may hold at most %d bytes", name, kind, cluster.MaxObjectSize)
	}
	return data, nil
}

func parseLabels(list []string) (map[string]string, error) {
	if len(list) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--label %q: use K=V", kv)
		}
		out[k] = v
	}
	return out, nil
}

// objectInput reads a create's or update's content and opens the run's
// environment with the state key (made when there is none) to seal it.
func objectInput(c *cli.Context, stdio IO, kind cluster.ObjectKind, file string) ([]byte, *runEnv, *state.Key, error) {
	data, err := readObjectInput(stdio, kind, file)
	if err != nil {
		return nil, nil, nil, err
	}
	e, err := newEnv(c, stdio)
	if err != nil {
		return nil, nil, nil, err
	}
	key, err := e.stateKey(true)
	if err != nil {
		e.close()
		return nil, nil, nil, err
	}
	return data, e, key, nil
}

func runObjectCreate(c *cli.Context, stdio IO, kind cluster.ObjectKind) error {
	if c.NArg() != 2 {
		return fmt.Errorf("usage: drover %s create [--label K=V] NAME FILE|-", kind)
	}
	name, file := c.Args().Get(0), c.Args().Get(1)
	if err := cluster.ValidObjectName(kind, name); err != nil {
		return err
	}
	labels, err := parseLabels(c.StringSlice("label"))
	if err != nil {
		return err
	}
	data, e, key, err := objectInput(c, stdio, kind, file)
	if err != nil {
		return err
	}
	defer e.close()
	var id string
	err = e.editState(c, func(s *state.State) (string, error) {
		if _, err := s.Object(kind, name); err == nil {
			return "", fmt.Errorf("%s %s already exists: give it new content with `drover %s update %s FILE`", kind, name, kind, name)
		}
		now := time.Now().UTC()
		if id, _, err = s.PutContent(kind, name, data, key, now); err != nil {
			return "", err
		}
		s.Objects(kind)[name].Labels = labels
		return fmt.Sprintf("created %s %s (version %s)", kind, name, id), nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdio.Stdout, name)
	return nil
}

func runObjectRm(c *cli.Context, stdio IO, kind cluster.ObjectKind) error {
	if c.NArg() == 0 {
		return fmt.Errorf("usage: drover %s rm NAME [NAME...]", kind)
	}
	e, err := newEnv(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	var removed []string
	var errs []error
	err = e.editState(c, func(s *state.State) (string, error) {
		for _, name := range c.Args().Slice() {
			if err := s.RemoveObject(kind, name); err != nil {
				errs = append(errs, err)
				continue
			}
			removed = append(removed, name)
		}
		if len(removed) == 0 {
			return "", nil
		}
		return "removed " + string(kind) + " " + strings.Join(removed, ","), nil
	})
	for _, n := range removed {
		fmt.Fprintln(stdio.Stdout, n)
	}
	return errors.Join(append([]error{err}, errs...)...)
}

// objectView is what ls and inspect show of an object: never content.
type objectView struct {
	Name     string            `json:"name"`
	Labels   map[string]string `json:"labels,omitempty"`
	Stack    string            `json:"stack,omitempty"`
	Created  time.Time         `json:"created"`
	Updated  time.Time         `json:"updated"`
	Version  string            `json:"version"`
	Size     int               `json:"size"`
	Versions []versionView     `json:"versions"`
	Services []string          `json:"services"`
}

type versionView struct {
	ID       string    `json:"id"`
	Created  time.Time `json:"created"`
	Size     int       `json:"size"`
	Services []string  `json:"services,omitempty"` // current or earlier generations that mount it
}

func viewObject(s *state.State, kind cluster.ObjectKind, o *state.Object) objectView {
	v := objectView{Name: o.Name, Labels: o.Labels, Stack: o.Stack, Created: o.Created, Updated: o.Updated,
		Versions: []versionView{}, Services: s.Users(kind, o.Name)}
	if v.Services == nil {
		v.Services = []string{}
	}
	if cur := o.Current(); cur != nil {
		v.Version, v.Size = cur.ID, cur.Size
	}
	for _, ver := range o.Versions {
		v.Versions = append(v.Versions, versionView{ID: ver.ID, Created: ver.Created, Size: ver.Size, Services: versionUsers(s, kind, o.Name, ver.ID)})
	}
	return v
}

// versionUsers names the services with a kept generation that mounts the
// version.
func versionUsers(s *state.State, kind cluster.ObjectKind, name, id string) []string {
	var out []string
	mounts := func(svc *cluster.Service) bool {
		for _, f := range svc.Container.Files {
			if f.Kind == kind && f.Name == name && f.Version == id {
				return true
			}
		}
		return false
	}
	for _, st := range s.StackNames() {
		for _, sn := range sortedKeys(s.Stacks[st].Services) {
			sv := s.Stacks[st].Services[sn]
			use := mounts(sv.Current)
			for _, g := range sv.Previous {
				use = use || mounts(g.Spec)
			}
			if use {
				out = append(out, sv.Current.FullName())
			}
		}
	}
	sort.Strings(out)
	return out
}

func runObjectLs(c *cli.Context, stdio IO, kind cluster.ObjectKind) error {
	e, s, err := loadState(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	views := []objectView{}
	for _, n := range s.ObjectNames(kind) {
		o, _ := s.Object(kind, n)
		views = append(views, viewObject(s, kind, o))
	}
	if e.output == "json" {
		return writeJSON(stdio.Stdout, views)
	}
	t := newTable(stdio.Stdout, "NAME", "VERSION", "SIZE", "CREATED", "UPDATED", "SERVICES")
	for _, v := range views {
		t.row(v.Name, v.Version, strconv.Itoa(v.Size), v.Created.Local().Format(tableTime), v.Updated.Local().Format(tableTime), dash(strings.Join(v.Services, ",")))
	}
	return t.flush()
}

func runObjectInspect(c *cli.Context, stdio IO, kind cluster.ObjectKind) error {
	if c.NArg() == 0 {
		return fmt.Errorf("usage: drover %s inspect [--pretty] NAME [NAME...]", kind)
	}
	e, s, err := loadState(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	var views []objectView
	var objs []*state.Object
	for _, n := range c.Args().Slice() {
		o, err := s.Object(kind, n)
		if err != nil {
			return err
		}
		objs = append(objs, o)
		views = append(views, viewObject(s, kind, o))
	}
	if !c.Bool("pretty") {
		return writeJSON(stdio.Stdout, views)
	}
	for i, v := range views {
		if i > 0 {
			fmt.Fprintln(stdio.Stdout)
		}
		fmt.Fprintf(stdio.Stdout, "Name:      %s\n", v.Name)
		for _, k := range sortedKeys(v.Labels) {
			fmt.Fprintf(stdio.Stdout, "Label:     %s=%s\n", k, v.Labels[k])
		}
		if v.Stack != "" {
			fmt.Fprintf(stdio.Stdout, "Stack:     %s (declared in its compose files)\n", v.Stack)
		}
		fmt.Fprintf(stdio.Stdout, "Created:   %s\nUpdated:   %s\nVersion:   %s (%d bytes)\n", v.Created.Local().Format(tableTime), v.Updated.Local().Format(tableTime), v.Version, v.Size)
		fmt.Fprintf(stdio.Stdout, "Versions:  %d\nServices:  %s\n", len(v.Versions), dash(strings.Join(v.Services, ", ")))
		if kind == cluster.KindConfig {
			if cur := objs[i].Current(); cur != nil {
				fmt.Fprintf(stdio.Stdout, "Data:\n%s", cur.Data)
				if len(cur.Data) > 0 && cur.Data[len(cur.Data)-1] != '\n' {
					fmt.Fprintln(stdio.Stdout)
				}
			}
		}
	}
	return nil
}

// runObjectUpdate gives an object new content and every service that
// mounts it a new generation with it: a rolling update through the
// service's update_config, rolled back (to the previous content, which is
// kept) when it fails.
func runObjectUpdate(c *cli.Context, stdio IO, kind cluster.ObjectKind) error {
	if c.NArg() != 2 {
		return fmt.Errorf("usage: drover %s update NAME FILE|-", kind)
	}
	name, file := c.Args().Get(0), c.Args().Get(1)
	data, e, key, err := objectInput(c, stdio, kind, file)
	if err != nil {
		return err
	}
	defer e.close()
	var scope []string
	return e.runChange(c, change{
		ScopeOf: func(*state.State) []string { return scope },
		Mutate: func(s *state.State) (string, error) {
			o, err := s.Object(kind, name)
			if err != nil {
				return "", err
			}
			if o.Stack != "" {
				e.log.Warn().Str(string(kind), name).Str("stack", o.Stack).
					Msg("this " + string(kind) + " comes from the compose files of its stack: the next deploy of the stack puts their content back")
			}
			id, changed, err := s.PutContent(kind, name, data, key, time.Now().UTC())
			if err != nil {
				return "", err
			}
			services := rollObject(s, kind, name, id, commandLine(c))
			scope = stacksOf(s, services)
			if scope == nil {
				scope = []string{""} // no service mounts it: change no stack
			}
			if !changed && len(services) == 0 {
				return "", nil
			}
			summary := fmt.Sprintf("%s %s: version %s", kind, name, id)
			if len(services) > 0 {
				summary += ", rolling out to " + strings.Join(services, ",")
			}
			return summary, nil
		},
	})
}

// rollObject gives each service whose current spec mounts an older
// version of the object a new generation mounting version id.
func rollObject(s *state.State, kind cluster.ObjectKind, name, id, command string) []string {
	who, _ := whoami()
	now := time.Now().UTC()
	var out []string
	for _, stn := range s.StackNames() {
		st := s.Stacks[stn]
		for _, sn := range sortedKeys(st.Services) {
			sv := st.Services[sn]
			next := withVersion(sv.Current, kind, name, id)
			if next == nil {
				continue
			}
			next.Generation = sv.NextGeneration()
			sv.Push(next, state.GenerationMeta{Generation: next.Generation, Time: now, By: who, Command: command,
				Changes: []string{string(kind) + " " + name + " updated"}})
			out = append(out, next.FullName())
		}
	}
	return out
}

// withVersion returns a copy of svc mounting version id of the object, or
// nil when it does not mount the object or mounts that version already.
func withVersion(svc *cluster.Service, kind cluster.ObjectKind, name, id string) *cluster.Service {
	changed := false
	files := append([]cluster.FileMount(nil), svc.Container.Files...)
	for i := range files {
		if files[i].Kind == kind && files[i].Name == name && files[i].Version != id {
			files[i].Version = id
			changed = true
		}
	}
	if !changed {
		return nil
	}
	cp := *svc
	cp.Container.Files = files
	return &cp
}

func stacksOf(s *state.State, services []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, full := range services {
		if st, _, ok := s.FindService(full); ok && !seen[st.Name] {
			seen[st.Name] = true
			out = append(out, st.Name)
		}
	}
	return out
}

// resolveObjects puts the configs and secrets a stack's compose files
// declare into the store (a changed content is a new version) and gives
// every file mount of the stack's services the version it needs. An
// external one must already be in the store.
func resolveObjects(s *state.State, stack *cluster.Stack, key *state.Key, now time.Time) error {
	type ref struct {
		kind cluster.ObjectKind
		name string
	}
	ids := map[ref]string{}
	var errs []error
	for _, o := range stack.Objects {
		r := ref{o.Kind, o.Name}
		if o.External {
			stored, err := s.Object(o.Kind, o.Name)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s %s is external: %w; create it with `drover %s create %s FILE`", o.Kind, o.Name, state.ErrNoObject, o.Kind, o.Name))
				continue
			}
			ids[r] = stored.Current().ID
			continue
		}
		if stored, err := s.Object(o.Kind, o.Name); err == nil && stored.Stack != stack.Name {
			owner := "was made with `drover " + string(o.Kind) + " create`"
			if stored.Stack != "" {
				owner = "belongs to stack " + stored.Stack
			}
			errs = append(errs, fmt.Errorf("%s %s (from %s) is already in drover's store and %s: declare it external: true, or give it another name", o.Kind, o.Name, o.Origin, owner))
			continue
		}
		id, _, err := s.PutContent(o.Kind, o.Name, o.Data, key, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s (from %s): %w", o.Kind, o.Name, o.Origin, err))
			continue
		}
		stored, _ := s.Object(o.Kind, o.Name)
		stored.Stack, stored.Labels = stack.Name, o.Labels
		ids[r] = id
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, svc := range stack.Services {
		for i := range svc.Container.Files {
			f := &svc.Container.Files[i]
			f.Version = ids[ref{f.Kind, f.Name}]
		}
	}
	return nil
}

// editState changes only the state document (no host is contacted),
// through run.Deps.Edit. An edit that did part of its work (rm of several
// names, one refused) is recorded, and its error returned.
func (e *runEnv) editState(c *cli.Context, edit func(s *state.State) (string, error)) error {
	st, err := e.store()
	if err != nil {
		return err
	}
	d := e.deps(st)
	var editErr error
	_, err = d.Edit(c.Context, commandLine(c), func(s *state.State) (run.Record, error) {
		summary, err := edit(s)
		editErr = err
		if summary == "" {
			return run.Record{}, nil // nothing to write; editErr tells why
		}
		r := run.Record{Summary: summary}
		if err != nil {
			r.Result = "failed"
		}
		return r, nil
	})
	return errors.Join(err, editErr)
}
