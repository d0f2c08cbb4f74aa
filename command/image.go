package command

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
	"github.com/drover-sh/drover/imagexfer"
	"github.com/drover-sh/drover/reconcile"
)

func imageCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:  "image",
		Usage: "move images to hosts without a registry",
		Subcommands: []*cli.Command{
			{
				Name:      "push",
				Usage:     "send images from the local docker engine (DOCKER_HOST) to hosts that lack them",
				ArgsUsage: "IMAGE [IMAGE...]",
				Flags:     []cli.Flag{&cli.StringSliceFlag{Name: "hosts", Usage: "only these hosts (comma-separated; default: all)"}},
				Action:    func(c *cli.Context) error { return runImagePush(c, stdio) },
			},
			{
				Name:      "load",
				Usage:     "load a `docker save` or OCI archive (multi-platform too) onto hosts, each its own platform's variant",
				ArgsUsage: "FILE",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "tag", Usage: "name the image `NAME:TAG` instead of the archive's name"},
					&cli.StringSliceFlag{Name: "hosts", Usage: "only these hosts (comma-separated; default: all)"},
				},
				Action: func(c *cli.Context) error { return runImageLoad(c, stdio) },
			},
			{
				Name:      "ls",
				Usage:     "per host, the images the state's stacks use: present or not, ID, platform, size",
				ArgsUsage: "[IMAGE...]",
				Flags:     []cli.Flag{&cli.StringSliceFlag{Name: "hosts", Usage: "only these hosts (comma-separated; default: all)"}},
				Action:    func(c *cli.Context) error { return runImageLs(c, stdio) },
			},
			imagePruneCommand(stdio),
		},
	}
}

func runImagePush(c *cli.Context, stdio IO) error {
	if c.NArg() == 0 {
		return fmt.Errorf("usage: drover image push IMAGE [IMAGE...] [--hosts h1,h2]")
	}
	e, err := newEnv(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	hosts, err := e.hostsFlag(c)
	if err != nil {
		return err
	}
	rows, err := imagexfer.Push(c.Context, localEngine{}, c.Args().Slice(), e.targets(hosts), imagexfer.PushOptions{
		Parallel: e.parallel, Reporter: e.transferReporter("pushing image"),
	})
	if e.output == "json" {
		writeJSON(stdio.Stdout, rows)
	} else {
		t := newTable(stdio.Stdout, "HOST", "IMAGE", "RESULT", "SIZE", "TIME")
		for _, r := range rows {
			res := string(r.Result)
			if r.Error != "" {
				res += ": " + r.Error
			}
			size, secs := "-", "-"
			if r.Bytes > 0 {
				size, secs = humanBytes(r.Bytes), fmt.Sprintf("%.1fs", r.Seconds)
			}
			t.row(r.Host, r.Image, res, size, secs)
		}
		t.flush()
	}
	return err
}

// targets are the hosts as transfer targets over the run's pool.
func (e *runEnv) targets(hosts []string) []imagexfer.Target {
	out := make([]imagexfer.Target, len(hosts))
	for i, h := range hosts {
		out[i] = imagexfer.Target{Name: h, Connect: func(ctx context.Context) (imagexfer.Host, error) { return e.engineFor(ctx, h) }}
	}
	return out
}

// transferReporter logs an image transfer's progress.
func (e *runEnv) transferReporter(sending string) imagexfer.Reporter {
	return &logReporter{log: e.log, sending: sending}
}

type logReporter struct {
	log     zerolog.Logger
	sending string
}

func (l *logReporter) Sending(image string, bytes int64, hosts []string) {
	l.log.Info().Str("image", image).Int64("bytes", bytes).Strs("hosts", hosts).Msg(l.sending)
}

func (l *logReporter) Progress(host, image string, sent, total int64, elapsed time.Duration) {
	l.log.Info().Str("host", host).Str("image", image).Msgf("sent %s of %s (%s/s)", humanBytes(sent), humanBytes(total), humanBytes(int64(float64(sent)/max(elapsed.Seconds(), 0.001))))
}

func (l *logReporter) Done(r imagexfer.Row, n, of int) {
	took := time.Duration(r.Seconds * float64(time.Second))
	ev := l.log.Info().Str("host", r.Host).Str("image", r.Image).Str("result", string(r.Result)).Int64("bytes", r.Bytes)
	if r.LayersSkipped > 0 {
		ev = ev.Int("layers_skipped", r.LayersSkipped)
	}
	ev.Msgf("%d/%d hosts done (%s in %s, %s/s)", n, of, humanBytes(r.Bytes), took.Round(100*time.Millisecond), humanBytes(int64(float64(r.Bytes)/max(r.Seconds, 0.001))))
}

// hostsFlag is --hosts, checked against the inventory; all hosts without it.
func (e *runEnv) hostsFlag(c *cli.Context) ([]string, error) {
	hs := c.StringSlice("hosts")
	if len(hs) == 0 {
		return e.inv.Names(), nil
	}
	var hosts []string
	for _, h := range hs {
		for _, n := range strings.Split(h, ",") {
			if _, ok := e.inv.Host(n); !ok {
				return nil, fmt.Errorf("--hosts: no host %q in %s", n, e.inv.Path)
			}
			hosts = append(hosts, n)
		}
	}
	return hosts, nil
}

// localImageID asks the local docker engine for an image's ID.
func localImageID(ctx context.Context, ref string) (string, error) {
	f, err := localImage(ctx, ref)
	return f.ID, err
}

// localImage asks the local docker engine for an image's ID and platform.
func localImage(ctx context.Context, ref string) (engine.ImageFacts, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", "image", "inspect", "--format", "{{json .}}", ref)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		where := os.Getenv("DOCKER_HOST")
		if where == "" {
			where = "the default socket"
		}
		msg := strings.TrimSpace(stderr.String())
		if errors.Is(err, exec.ErrNotFound) {
			return engine.ImageFacts{}, fmt.Errorf("reading image %s from the local docker engine: no docker CLI in PATH on this machine (install it, or run drover where images are built)", ref)
		}
		if localEngineDown(msg) {
			return engine.ImageFacts{}, fmt.Errorf("reading image %s: the local docker engine (%s) is unreachable: %s; start it, or point DOCKER_HOST (or `docker context use`) at one", ref, where, msg)
		}
		return engine.ImageFacts{}, fmt.Errorf("image %s not found in the local docker engine (%s): %s", ref, where, msg)
	}
	return engine.ParseImageFacts(out)
}

// localEngineDown reports whether the docker CLI's message says it could
// not reach its engine (rather than that the image is missing).
func localEngineDown(stderr string) bool {
	for _, s := range []string{"Cannot connect to the Docker daemon", "Is the docker daemon running", "error during connect", "permission denied while trying to connect"} {
		if strings.Contains(stderr, s) {
			return true
		}
	}
	return false
}

// saveImage writes `docker save ref`, gzip-compressed, to a temp file.
func saveImage(ctx context.Context, ref string) (*os.File, error) {
	f, err := os.CreateTemp("", "drover-image-*.tar.gz")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name()) // unlinked: gone when closed, even if we crash
	zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", "save", ref)
	cmd.Stdout = zw
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		f.Close()
		return nil, fmt.Errorf("docker save %s: %w: %s", ref, err, strings.TrimSpace(stderr.String()))
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// localEngine is the docker CLI of the machine running drover.
type localEngine struct{}

func (localEngine) Image(ctx context.Context, ref string) (engine.ImageFacts, error) {
	return localImage(ctx, ref)
}

func (localEngine) Save(ctx context.Context, ref string) (*os.File, error) {
	return saveImage(ctx, ref)
}

// pushForPlan is stack deploy --push: every image of the stack found in the
// local engine goes to the ready hosts that lack it.
func (e *runEnv) pushForPlan(ctx context.Context, w *reconcile.World, stack *cluster.Stack) error {
	seen := map[string]bool{}
	var images []string
	for _, svc := range stack.Services {
		if ref := svc.Container.Image; !seen[ref] {
			seen[ref] = true
			if _, err := localImageID(ctx, ref); err != nil {
				e.log.Warn().Str("image", ref).Msg("not in the local engine; hosts must have or pull it")
				continue
			}
			images = append(images, ref)
		}
	}
	sort.Strings(images)
	observed := func(host, ref string) (string, cluster.Platform) {
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
	rows, err := imagexfer.Push(ctx, localEngine{}, images, e.targets(w.Ready()), imagexfer.PushOptions{
		Parallel: e.parallel, Observed: observed, SkipOtherPlatforms: true,
		Warn:     func(host, msg string) { e.log.Warn().Str("host", host).Msg(msg) },
		Reporter: e.transferReporter("pushing image"),
	})
	if err == nil {
		// Loaded images count as present for the apply's image check.
		for _, r := range rows {
			if r.Result == imagexfer.Pushed || r.Result == imagexfer.UpToDate {
				w.Obs[r.Host].Images[engine.NormalizeRef(r.Image)] = r.ID
			}
		}
	}
	return err
}
