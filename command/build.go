package command

import (
	"context"
	"errors"
	"fmt"
	"github.com/drover-sh/drover/internal/fanout"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/urfave/cli/v2"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/compose"
	"github.com/drover-sh/drover/engine"
	"github.com/drover-sh/drover/imagebuild"
	"github.com/drover-sh/drover/imagexfer"
	"github.com/drover-sh/drover/planner"
	"github.com/drover-sh/drover/reconcile"
	"github.com/drover-sh/drover/run"
	"github.com/drover-sh/drover/state"
)

// defaultComposeFiles are looked for, in order, when -c is not given
// (drover build), as docker compose does.
var defaultComposeFiles = []string{"compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"}

func buildCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:      "build",
		Usage:     "build the images of services with a build: section (local docker engine, or x-drover.build_on host); deploys nothing",
		ArgsUsage: "[SERVICE...]",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "compose-file", Aliases: []string{"c"}, Usage: "compose `FILE` (repeat to merge several, in order)", DefaultText: "compose.yaml, compose.yml, docker-compose.yaml or docker-compose.yml"},
			&cli.StringFlag{Name: "stack", Usage: "the stack `NAME` the images are for (image names default to STACK_SERVICE)", DefaultText: "the compose file's directory name"},
		},
		Action: func(c *cli.Context) error { return runBuild(c, stdio) },
	}
}

func runBuild(c *cli.Context, stdio IO) error {
	files := c.StringSlice("compose-file")
	if len(files) == 0 {
		for _, f := range defaultComposeFiles {
			if _, err := os.Stat(f); err == nil {
				files = []string{f}
				break
			}
		}
		if len(files) == 0 {
			return fmt.Errorf("no compose file: give one with -c FILE (none of %s here)", strings.Join(defaultComposeFiles, ", "))
		}
	}
	name := c.String("stack")
	if name == "" {
		dir, err := filepath.Abs(filepath.Dir(files[0]))
		if err != nil {
			return err
		}
		name = loader.NormalizeProjectName(filepath.Base(dir))
	}
	e, err := newEnv(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	stack, err := e.loadStack(c, files, name, true)
	if err != nil {
		return err
	}
	if len(stack.Builds) == 0 {
		return fmt.Errorf("%s: no service has a build: section", strings.Join(files, ", "))
	}
	res, err := e.buildImages(c.Context, stack, c.Args().Slice())
	if res == nil {
		res = []imagebuild.Result{}
	}
	if e.output == "json" {
		writeJSON(stdio.Stdout, res)
	} else if len(res) > 0 {
		t := newTable(stdio.Stdout, "SERVICE", "IMAGE", "PLATFORM", "ID", "BUILT ON", "TIME")
		for _, r := range res {
			on := orDefault(r.On, "local engine")
			if r.Reused {
				on += " (reused)"
			}
			for _, v := range r.Variants {
				t.row(r.Service, r.Image, v.Platform, imagebuild.Tag(v.ID), on, fmt.Sprintf("%.1fs", v.Seconds))
			}
		}
		t.flush()
	}
	return err
}

// loadStack loads the compose files as stack name, logging the warnings.
func (e *runEnv) loadStack(c *cli.Context, files []string, name string, build bool) (*cluster.Stack, error) {
	stack, warnings, err := compose.Load(c.Context, compose.Options{Files: files, StackName: name, Environ: osEnviron(), Build: build})
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		e.log.Warn().Msg(w.String())
	}
	return stack, nil
}

// localWhere names the local engine as the docker CLI finds it.
func localWhere() string {
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return "DOCKER_HOST=" + h
	}
	if c := os.Getenv("DOCKER_CONTEXT"); c != "" {
		return "docker context " + c
	}
	return "the docker CLI's current context"
}

// buildImages builds the stack's images (those of only, when given) and
// names each service's image by its build.
func (e *runEnv) buildImages(ctx context.Context, stack *cluster.Stack, only []string) ([]imagebuild.Result, error) {
	local := &imagebuild.Local{Docker: imagebuild.DockerCLI{}, Where: localWhere()}
	var nodesOnce sync.Once
	var nodes []cluster.Node
	remotes := map[string]*imagebuild.Remote{}
	reused := map[string]bool{} // STACK_SERVICE
	onContext := func(o imagebuild.ContextOutcome) {
		if o.Reused != "" {
			reused[o.Service] = true
			return
		}
		e.log.Info().Str("service", o.Service).Int64("bytes", o.Bytes).Str("context", o.Digest).Msgf("build context sent (%s)", humanBytes(o.Bytes))
	}
	defer func() {
		for _, r := range remotes {
			r.Engine.(*engine.Engine).API.Close()
		}
	}()
	res, err := imagebuild.Run(ctx, stack.Name, stack.Builds, only, imagebuild.Options{
		Cluster:   e.inv.Cluster,
		DefaultOn: e.inv.Build.On,
		BuilderFor: func(on string) (imagebuild.Builder, error) {
			if on == "" {
				return local, nil
			}
			if _, ok := e.inv.Host(on); !ok {
				return nil, fmt.Errorf("x-drover.build_on: no host %q in %s", on, e.inv.Path)
			}
			if r, ok := remotes[on]; ok {
				return r, nil
			}
			eng, err := e.builderEngine(ctx, on)
			if err != nil {
				return nil, fmt.Errorf("building on %s: %w", on, err)
			}
			remotes[on] = &imagebuild.Remote{Host: on, Engine: eng, Context: onContext}
			return remotes[on], nil
		},
		Started: func(svc, builder string) { e.log.Info().Str("service", svc).Msg("building with " + builder) },
		Built: func(r imagebuild.Result) {
			if reused[r.Service] && !r.Multi() {
				e.log.Info().Str("service", r.Service).Str("image", r.Image).Str("on", r.On).
					Msgf("unchanged context: image %s reused (nothing sent, nothing built) in %.1fs", r.Image, r.Seconds)
				return
			}
			for _, v := range r.Variants {
				ev := e.log.Info().Str("service", r.Service).Str("image", r.Image).Str("on", orDefault(r.On, "local engine")).Str("builder", string(r.Builder))
				if r.Multi() {
					ev = ev.Str("platform", v.Platform).Str("variant", imagebuild.Tag(v.ID))
				}
				ev.Msgf("built in %.1fs", v.Seconds)
			}
		},
		Warn:   func(svc, msg string) { e.log.Warn().Str("service", svc).Msg(msg) },
		Output: func(svc, line string) { e.log.Debug().Str("service", svc).Msg(line) },
		NodePlatforms: func(name string) []cluster.Platform {
			nodesOnce.Do(func() { nodes = e.buildNodes(ctx) })
			svc := stack.Services[name]
			if svc == nil {
				return nil
			}
			el, err := planner.Eligible(svc, nodes)
			if err != nil {
				return nil // the plan reports a malformed constraint
			}
			var out []cluster.Platform
			for _, n := range el {
				out = append(out, n.Platform())
			}
			return out
		},
	})
	for i, r := range res {
		res[i].Reused = reused[r.Service]
		svc := stack.Services[strings.TrimPrefix(r.Service, stack.Name+"_")]
		if svc != nil {
			svc.Container.Image = r.Image
		}
	}
	return res, err
}

// buildNodes is the scheduler's view of the nodes that answer, with their
// platforms, for a build to know what to build for. It reads the state
// without the lock (node settings only) and asks each host's engine with a
// client of its own: the run's, made later, may be a dry run's.
func (e *runEnv) buildNodes(ctx context.Context) []cluster.Node {
	s := state.New(e.inv.Cluster)
	if st, err := e.store(); err == nil {
		if read, err := st.Read(ctx); err == nil {
			s = read
		}
	}
	nodes := run.Nodes(e.inv.Hosts, s)
	fanout.N(ctx, e.parallel, len(nodes), func(ctx context.Context, i int) error {
		eng, err := e.builderEngine(ctx, nodes[i].Name)
		if err != nil {
			return err
		}
		defer eng.API.Close()
		if f, err := eng.Info(ctx); err == nil {
			nodes[i].Ready, nodes[i].OS, nodes[i].Arch, nodes[i].Variant = true, f.OS, f.Arch, f.Variant
		}
		return nil
	})
	out := nodes[:0]
	for _, n := range nodes {
		if n.Ready {
			out = append(out, n)
		}
	}
	return out
}

// deployBuild is what stack deploy --build adds to a run: the built
// images recorded with their generations, shipped before the apply to the
// hosts that will run them, and older built images pruned after a
// successful rollout.
type deployBuild struct {
	e       *runEnv
	stack   *cluster.Stack
	results []imagebuild.Result
	started time.Time // of the run, for the timings
	built   time.Duration
	shipped time.Duration
	applyAt time.Time
	// previous is each built service's image before this run (STACK_SERVICE
	// → ref): hosts that have it need only the layers the new one adds.
	previous map[string]string
	// fromPlan: the images were built by plan --build --out, and this run
	// applies that plan.
	fromPlan bool
}

// notePrevious remembers the built services' current images, before the
// run's new generations replace them.
func (d *deployBuild) notePrevious(s *state.State) {
	d.previous = map[string]string{}
	st := s.Stacks[d.stack.Name]
	if st == nil {
		return
	}
	for name := range d.stack.Builds {
		if sv := st.Services[name]; sv != nil && sv.Current != nil {
			d.previous[sv.Current.FullName()] = sv.Current.Container.Image
		}
	}
}

// hostLayers gives, for a push of service svc's new image, the layers of
// the image each host runs the service with (the replica the plan
// replaces there, else the service's previous image).
func (d *deployBuild) hostLayers(svc string, p *planner.Plan) func(ctx context.Context, host string) []string {
	return func(ctx context.Context, host string) []string {
		ref := d.previous[svc]
		for _, a := range p.Actions {
			if a.Service == svc && a.Host == host && a.Old != nil && a.Old.Image != "" {
				ref = a.Old.Image
				break
			}
		}
		if ref == "" {
			return nil
		}
		eng, err := d.e.engineFor(ctx, host)
		if err != nil {
			return nil
		}
		layers, err := eng.ImageLayers(ctx, ref)
		if err != nil {
			d.e.log.Debug().Str("host", host).Err(err).Msg("cannot read the previous image's layers: sending the whole image")
			return nil
		}
		return layers
	}
}

// record notes in the state which build produced each service's current
// generation.
func (d *deployBuild) record(s *state.State) {
	st := s.Stacks[d.stack.Name]
	if st == nil {
		return
	}
	for _, r := range d.results {
		sv := st.Services[strings.TrimPrefix(r.Service, d.stack.Name+"_")]
		if sv == nil || sv.Current.Container.Image != r.Image {
			continue
		}
		if sv.Meta.Build != nil && sv.Meta.Build.ID == r.ID {
			continue // an unchanged build: nothing new to record
		}
		sv.Meta.Build = &state.BuildRecord{Image: r.Image, ID: r.ID, On: r.On, Time: time.Now().UTC()}
		if r.Multi() {
			sv.Meta.Build.Variants = map[string]string{}
			for _, v := range r.Variants {
				sv.Meta.Build.Variants[v.Platform] = v.ID
			}
		}
	}
}

// local says whether some image was built by the local engine: its
// platform then counts for placement, as with --push.
func (d *deployBuild) local() bool {
	for _, r := range d.results {
		if r.On == "" {
			return true
		}
	}
	return false
}

// ship sends each built image to the ready hosts where the plan creates
// or replaces a replica of its service and that lack it, from where it
// was built.
func (d *deployBuild) ship(ctx context.Context, w *reconcile.World, p *planner.Plan) error {
	if p.Empty() {
		return nil
	}
	start := time.Now()
	defer func() { d.shipped, d.applyAt = time.Since(start), time.Now() }()
	e := d.e
	ready := map[string]bool{}
	for _, h := range w.Ready() {
		ready[h] = true
	}
	var errs []error
	for _, r := range d.results {
		hosts := map[string]bool{}
		for _, a := range p.Actions {
			if a.Service == r.Service && (a.Kind == planner.Create || a.Kind == planner.Replace) && ready[a.Host] && a.Host != r.On {
				hosts[a.Host] = true
			}
		}
		if len(hosts) == 0 {
			continue
		}
		var src imagexfer.Local = imagexfer.LocalDocker{}
		if r.On != "" {
			eng, err := e.engineFor(ctx, r.On)
			if err != nil {
				return fmt.Errorf("shipping %s from %s: %w", r.Image, r.On, err)
			}
			src = imagexfer.FromHost{Host: r.On, Engine: eng}
		}
		opt := imagexfer.PushOptions{
			Parallel: e.parallel, Observed: observedImages(w), SkipOtherPlatforms: true,
			Warn:       func(host, msg string) { e.log.Warn().Str("host", host).Msg(msg) },
			Reporter:   e.transferReporter("shipping built image"),
			HostLayers: d.hostLayers(r.Service, p),
		}
		var rows []imagexfer.Row
		var err error
		if r.Multi() {
			rows, err = imagexfer.PushVariants(ctx, src, r.Image, shippedVariants(r), e.targets(sortedKeys(hosts)), opt)
		} else {
			rows, err = imagexfer.Push(ctx, src, []string{r.Image}, e.targets(sortedKeys(hosts)), opt)
		}
		for _, row := range rows {
			if row.Result == imagexfer.Pushed || row.Result == imagexfer.UpToDate {
				w.Obs[row.Host].Images[engine.NormalizeRef(row.Image)] = row.ID
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("nothing was changed: shipping the built images failed: %w", errors.Join(errs...))
	}
	return nil
}

// shippedVariants are a multi-platform build's variants as the builder
// names them.
func shippedVariants(r imagebuild.Result) []imagexfer.BuiltVariant {
	var out []imagexfer.BuiltVariant
	for _, v := range r.Variants {
		if p, err := cluster.ParsePlatform(v.Platform); err == nil {
			out = append(out, imagexfer.BuiltVariant{Platform: p, ID: v.ID, Source: v.Image})
		}
	}
	return out
}

// platforms are the platforms of the multi-platform builds, for
// placement (run.Request.ImagePlatforms): a replica may go to any node
// one of the variants runs on.
func (d *deployBuild) platforms() map[string][]cluster.Platform {
	out := map[string][]cluster.Platform{}
	for _, r := range d.results {
		if r.Multi() {
			out[r.Image] = r.Platforms()
		}
	}
	return out
}

// observedImages answers a push from the run's observation.
func observedImages(w *reconcile.World) imagexfer.Observed {
	return func(host, ref string) (string, cluster.Platform) {
		var id string
		if obs := w.Obs[host]; obs != nil {
			id, _ = obs.HasImage(ref)
		}
		for _, h := range w.Hosts {
			if h.Node.Name == host {
				return id, h.Node.Platform()
			}
		}
		return id, cluster.Platform{}
	}
}

// afterRollout logs the run's timings and prunes older built images.
func (d *deployBuild) afterRollout(ctx context.Context, w *reconcile.World, s *state.State) (string, error) {
	if d.applyAt.IsZero() {
		return "", nil // nothing rolled out: nothing to prune
	}
	rollout := time.Since(d.applyAt)
	if d.fromPlan {
		d.e.log.Info().Float64("ship_s", d.shipped.Seconds()).Float64("rollout_s", rollout.Seconds()).
			Msgf("apply: ship %.1fs, rollout %.1fs (built at plan time)", d.shipped.Seconds(), rollout.Seconds())
	} else {
		d.e.log.Info().Float64("build_s", d.built.Seconds()).Float64("ship_s", d.shipped.Seconds()).Float64("rollout_s", rollout.Seconds()).
			Msgf("deploy --build: build %.1fs, ship %.1fs, rollout %.1fs", d.built.Seconds(), d.shipped.Seconds(), rollout.Seconds())
	}
	rows := d.e.pruneImages(ctx, w.Ready(), s, d.e.inv.Build.Keep, false, d.local())
	for _, r := range rows {
		switch r.Result {
		case pruneRemoved:
			d.e.log.Info().Str("host", r.Host).Str("image", r.Image).Msg("pruned an older built image")
		case pruneFailed:
			d.e.log.Warn().Str("host", r.Host).Str("image", r.Image).Msg("pruning older built images failed: " + r.Error + " (drover image prune tries again)")
		}
	}
	return "", nil
}
