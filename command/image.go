package command

import (
	"context"
	"fmt"
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
	rows, err := imagexfer.Push(c.Context, imagexfer.LocalDocker{}, c.Args().Slice(), e.targets(hosts), imagexfer.PushOptions{
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
	if r.Platform != "" && r.Result == imagexfer.Pushed {
		ev = ev.Str("platform", r.Platform)
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

// pushForPlan is stack deploy --push: every image of the stack found in the
// local engine goes to the ready hosts that lack it.
func (e *runEnv) pushForPlan(ctx context.Context, w *reconcile.World, stack *cluster.Stack) error {
	seen := map[string]bool{}
	var images []string
	for _, svc := range stack.Services {
		if ref := svc.Container.Image; !seen[ref] {
			seen[ref] = true
			if _, err := (imagexfer.LocalDocker{}).Image(ctx, ref); err != nil {
				e.log.Warn().Str("image", ref).Msg("not in the local engine; hosts must have or pull it")
				continue
			}
			images = append(images, ref)
		}
	}
	sort.Strings(images)
	rows, err := imagexfer.Push(ctx, imagexfer.LocalDocker{}, images, e.targets(w.Ready()), imagexfer.PushOptions{
		Parallel: e.parallel, Observed: observedImages(w), SkipOtherPlatforms: true,
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
