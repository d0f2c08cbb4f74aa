package command

import (
	"context"
	"errors"
	"fmt"
	"github.com/drover-sh/drover/internal/fanout"
	"sort"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/drover-sh/drover/engine"
	"github.com/drover-sh/drover/imagebuild"
	"github.com/drover-sh/drover/state"
)

func imagePruneCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:  "prune",
		Usage: "remove drover-built images of older generations from the hosts and the local engine (keeps the newest --keep generations of each service)",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "keep", Usage: "generations of each service whose built images stay", DefaultText: "the inventory's build.keep, else 3"},
			&cli.StringSliceFlag{Name: "hosts", Usage: "only these hosts (comma-separated; default: all, and the local engine)"},
			&cli.BoolFlag{Name: "dry-run", Usage: "show what would be removed, remove nothing"},
		},
		Action: func(c *cli.Context) error { return runImagePrune(c, stdio) },
	}
}

// pruneResult is what prune did with one image on one host.
type pruneResult string

const (
	pruneRemoved pruneResult = "removed"
	pruneWould   pruneResult = "would remove"
	pruneInUse   pruneResult = "in use"
	pruneFailed  pruneResult = "failed"
)

type pruneRow struct {
	Host    string      `json:"host"`
	Image   string      `json:"image"`
	ID      string      `json:"id"`
	Service string      `json:"service"`
	Result  pruneResult `json:"result"`
	Error   string      `json:"error,omitempty"`
}

func runImagePrune(c *cli.Context, stdio IO) error {
	e, st, err := newEnvStore(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	hosts, err := e.hostsFlag(c)
	if err != nil {
		return err
	}
	keep := e.inv.Build.Keep
	if c.IsSet("keep") {
		if keep = c.Int("keep"); keep < 1 {
			return fmt.Errorf("--keep %d: must be at least 1 (the current generation)", keep)
		}
	}
	s, err := e.readState(c.Context, st)
	if err != nil {
		return err
	}
	// The local engine, where builds without build_on are made, unless
	// the prune is limited to some hosts.
	rows := e.pruneImages(c.Context, hosts, s, keep, c.Bool("dry-run"), !c.IsSet("hosts"))
	var errs []string
	if e.output == "json" {
		writeJSON(stdio.Stdout, rows)
	} else {
		t := newTable(stdio.Stdout, "HOST", "IMAGE", "SERVICE", "RESULT")
		for _, r := range rows {
			res := string(r.Result)
			if r.Error != "" {
				res += ": " + r.Error
			}
			t.row(r.Host, r.Image, r.Service, res)
		}
		t.flush()
	}
	for _, r := range rows {
		if r.Result == pruneFailed {
			errs = append(errs, r.Host+": "+r.Image+": "+r.Error)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("image prune: %s", strings.Join(errs, "; "))
	}
	return nil
}

// keptBuilds gives, per service (STACK_SERVICE), the image IDs of the
// builds prune keeps (every variant of a multi-platform build): those of the current generation, of the keep-1
// generations before it, and of the current one's rollback target.
func keptBuilds(s *state.State, keep int) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, st := range s.Stacks {
		for _, sv := range st.Services {
			ids := map[string]bool{}
			if sv.Meta.Build != nil {
				for _, id := range sv.Meta.Build.IDs() {
					ids[id] = true
				}
			}
			for i, g := range sv.Previous {
				if g.Meta.Build == nil {
					continue
				}
				if i < keep-1 || g.Spec.Generation == sv.Meta.Parent {
					for _, id := range g.Meta.Build.IDs() {
						ids[id] = true
					}
				}
			}
			out[sv.Current.FullName()] = ids
		}
	}
	return out
}

// pruneCandidates are the built images of a host that no kept build is.
// The image a kept build's platform-corrected copy was made from stays
// too: the next build reuses it from the build cache.
func pruneCandidates(images []engine.LabelledImage, kept map[string]map[string]bool) []engine.LabelledImage {
	var out []engine.LabelledImage
	source := map[string]bool{}
	for _, im := range images {
		if from := im.Labels[imagebuild.LabelPlatformOf]; from != "" && kept[im.Labels[imagebuild.LabelService]][im.ID] {
			source[from] = true
		}
	}
	for _, im := range images {
		if svc := im.Labels[imagebuild.LabelService]; svc != "" && !kept[svc][im.ID] && !source[im.ID] {
			out = append(out, im)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// localEngineRow is the HOST of prune's rows for the local engine (no
// inventory host name has a space).
const localEngineRow = "local engine"

// imageStore is an engine prune lists and removes built images on: a
// host's (engine.Engine) or the local one (imagebuild.Local).
type imageStore interface {
	ImagesLabelled(ctx context.Context, label, value string) ([]engine.LabelledImage, error)
	RemoveImage(ctx context.Context, ref string) error
}

var (
	_ imageStore = (*engine.Engine)(nil)
	_ imageStore = (*imagebuild.Local)(nil)
)

// pruneImages removes, on each host in parallel, the drover-built images
// of this cluster that no kept build is. An image a container still uses
// stays (the engine refuses it). With local, the local engine (where
// builds without build_on are made) is pruned too, unless it is one of
// the hosts' engines (then it is pruned as that host), or does not
// answer (a machine without docker: nothing of it to prune).
func (e *runEnv) pruneImages(ctx context.Context, hosts []string, s *state.State, keep int, dryRun, local bool) []pruneRow {
	kept := keptBuilds(s, keep)
	var mu sync.Mutex
	var rows []pruneRow
	add := func(r pruneRow) {
		mu.Lock()
		rows = append(rows, r)
		mu.Unlock()
	}
	engineIDs := map[string]string{} // engine ID → host
	fanout.Each(ctx, e.parallel, hosts, func(ctx context.Context, _ int, h string) error {
		eng, err := e.engineFor(ctx, h)
		if err != nil {
			add(pruneRow{Host: h, Result: pruneFailed, Error: engine.Reason(err)})
			return nil
		}
		if local {
			if f, err := eng.Info(ctx); err == nil && f.ID != "" {
				mu.Lock()
				engineIDs[f.ID] = h
				mu.Unlock()
			}
		}
		pruneStore(ctx, h, eng, e.inv.Cluster, kept, dryRun, add)
		return nil
	})
	if local {
		l := &imagebuild.Local{Docker: imagebuild.DockerCLI{}, Where: localWhere()}
		id, err := l.EngineID(ctx)
		switch {
		case err != nil:
			e.log.Debug().Err(err).Msg("no local engine to prune (" + localWhere() + ")")
		case engineIDs[id] != "":
			e.log.Debug().Str("host", engineIDs[id]).Msg("the local engine is this host's: pruned as the host")
		default:
			pruneStore(ctx, localEngineRow, l, e.inv.Cluster, kept, dryRun, add)
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Host != rows[j].Host {
			return rows[i].Host < rows[j].Host
		}
		return rows[i].Image < rows[j].Image
	})
	return rows
}

// pruneStore prunes one engine (where names it in the rows).
func pruneStore(ctx context.Context, where string, st imageStore, clusterName string, kept map[string]map[string]bool, dryRun bool, add func(pruneRow)) {
	images, err := st.ImagesLabelled(ctx, imagebuild.LabelCluster, clusterName)
	if err != nil {
		add(pruneRow{Host: where, Result: pruneFailed, Error: engine.Reason(err)})
		return
	}
	for _, im := range pruneCandidates(images, kept) {
		var refs []string
		for _, tag := range im.Tags {
			if tag != "<none>:<none>" { // an untagged image, as the engine lists it
				refs = append(refs, tag)
			}
		}
		if len(refs) == 0 {
			refs = []string{im.ID}
		}
		for _, ref := range refs {
			r := pruneRow{Host: where, Image: ref, ID: im.ID, Service: im.Labels[imagebuild.LabelService], Result: pruneWould}
			if !dryRun {
				r.Result = pruneRemoved
				if err := st.RemoveImage(ctx, ref); err != nil {
					r.Result = pruneFailed
					if engine.IsConflict(err) || errors.Is(err, imagebuild.ErrImageInUse) {
						r.Result = pruneInUse
					} else {
						r.Error = engine.Reason(err)
					}
				}
			}
			add(r)
		}
	}
}
