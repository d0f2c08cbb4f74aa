package command

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
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
		},
	}
}

// pushRow is one (host, image) outcome.
type pushRow struct {
	Host    string  `json:"host"`
	Image   string  `json:"image"`
	ID      string  `json:"id"`
	Result  string  `json:"result"` // pushed | up to date | refused | skipped | failed
	Bytes   int64   `json:"bytes,omitempty"`
	Seconds float64 `json:"seconds,omitempty"`
	Error   string  `json:"error,omitempty"`
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
	rows, err := e.pushImages(c.Context, c.Args().Slice(), hosts, nil, nil)
	if e.output == "json" {
		writeJSON(stdio.Stdout, rows)
	} else {
		t := newTable(stdio.Stdout, "HOST", "IMAGE", "RESULT", "SIZE", "TIME")
		for _, r := range rows {
			res := r.Result
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
		return nil, fmt.Errorf("docker save %s: %v: %s", ref, err, strings.TrimSpace(stderr.String()))
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// pushImages sends images to the hosts lacking them, hosts in parallel,
// and checks the ID afterwards. have, when given, answers from an earlier
// observation which image ID a host has for a reference.
//
// An image goes only to hosts whose platform it runs on: platformOf, when
// given, answers a host's platform from an earlier observation; without
// it the host's engine is asked.
func (e *runEnv) pushImages(ctx context.Context, images, hosts []string, have func(host, ref string) (string, bool), platformOf func(host string) cluster.Platform) ([]pushRow, error) {
	var rows []pushRow
	var errs []error
	for _, ref := range images {
		local, err := localImage(ctx, ref)
		if err != nil {
			return rows, err
		}
		id := local.ID
		// Which hosts need it?
		var mu sync.Mutex
		var need []string
		var wg sync.WaitGroup
		sem := make(chan struct{}, e.parallel)
		for _, h := range hosts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				var cur string
				var plat cluster.Platform
				var err error
				if have != nil {
					cur, _ = have(h, ref)
					plat = platformOf(h)
				} else {
					var eng *engine.Engine
					var facts engine.Facts
					if eng, err = e.engineFor(ctx, h); err == nil {
						if facts, err = eng.Info(ctx); err == nil {
							plat = cluster.Platform{OS: facts.OS, Arch: facts.Arch, Variant: facts.Variant}
							cur, err = eng.ImageID(ctx, ref)
						}
					}
				}
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					rows = append(rows, pushRow{Host: h, Image: ref, ID: id, Result: "failed", Error: engine.Reason(err)})
					errs = append(errs, fmt.Errorf("%s: %w", h, err))
				case local.Platform.Known() && plat.Known() && !plat.Runs(local.Platform):
					err := &PlatformMismatchError{Image: ref, ImagePlatform: local.Platform, Host: h, HostPlatform: plat}
					if have != nil {
						// stack deploy --push: the planner places no
						// replica there, so the host only goes without.
						e.log.Warn().Str("host", h).Str("image", ref).Msg(err.Error())
						rows = append(rows, pushRow{Host: h, Image: ref, ID: id, Result: "skipped", Error: err.Error()})
						break
					}
					rows = append(rows, pushRow{Host: h, Image: ref, ID: id, Result: "refused", Error: err.Error()})
					errs = append(errs, err)
				case cur == id:
					rows = append(rows, pushRow{Host: h, Image: ref, ID: id, Result: "up to date"})
				default:
					need = append(need, h)
				}
			}()
		}
		wg.Wait()
		if len(need) == 0 {
			continue
		}
		sort.Strings(need)
		f, err := saveImage(ctx, ref)
		if err != nil {
			return rows, err
		}
		fi, _ := f.Stat()
		e.log.Info().Str("image", ref).Int64("bytes", fi.Size()).Strs("hosts", need).Msg("pushing image")
		var hostsDone atomic.Int32
		for _, h := range need {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				start := time.Now()
				r := &progressReader{r: io.NewSectionReader(f, 0, fi.Size()), every: 2 * time.Second, last: start, report: func(sent int64, elapsed time.Duration) {
					e.log.Info().Str("host", h).Str("image", ref).Msgf("sent %s of %s (%s/s)", humanBytes(sent), humanBytes(fi.Size()), humanBytes(int64(float64(sent)/elapsed.Seconds())))
				}}
				r.start = start
				err := e.loadOnto(ctx, h, r, ref, id)
				took := time.Since(start)
				row := pushRow{Host: h, Image: ref, ID: id, Result: "pushed", Bytes: fi.Size(), Seconds: took.Seconds()}
				if err != nil {
					row.Result, row.Error = "failed", err.Error()
				}
				n := hostsDone.Add(1)
				e.log.Info().Str("host", h).Str("image", ref).Str("result", row.Result).
					Msgf("%d/%d hosts done (%s in %s, %s/s)", n, len(need), humanBytes(fi.Size()), took.Round(100*time.Millisecond), humanBytes(int64(float64(fi.Size())/max(took.Seconds(), 0.001))))
				mu.Lock()
				rows = append(rows, row)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: push %s: %w", h, ref, err))
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		f.Close()
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Image != rows[j].Image {
			return rows[i].Image < rows[j].Image
		}
		return rows[i].Host < rows[j].Host
	})
	return rows, errors.Join(errs...)
}

func (e *runEnv) loadOnto(ctx context.Context, host string, r io.Reader, ref, id string) error {
	eng, err := e.engineFor(ctx, host)
	if err != nil {
		return err
	}
	if _, err := eng.Load(ctx, r); err != nil {
		return err
	}
	got, err := eng.ImageID(ctx, ref)
	if err != nil {
		return err
	}
	if got != id {
		return fmt.Errorf("after loading, %s has %s as %s, expected %s", host, ref, got, id)
	}
	return nil
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
	have := func(host, ref string) (string, bool) {
		if obs := w.Obs[host]; obs != nil {
			return obs.HasImage(ref)
		}
		return "", false
	}
	platformOf := func(host string) cluster.Platform {
		for _, h := range w.Hosts {
			if h.Node.Name == host {
				return h.Node.Platform()
			}
		}
		return cluster.Platform{}
	}
	rows, err := e.pushImages(ctx, images, w.Ready(), have, platformOf)
	if err == nil {
		// Loaded images count as present for the apply's image check.
		for _, r := range rows {
			if r.Result == "pushed" || r.Result == "up to date" {
				w.Obs[r.Host].Images[engine.NormalizeRef(r.Image)] = r.ID
			}
		}
	}
	return err
}

// progressReader reports how much it has read, at most once per interval:
// progress of an image transfer on a slow link.
type progressReader struct {
	r           io.Reader
	every       time.Duration
	start, last time.Time
	sent        int64
	report      func(sent int64, elapsed time.Duration)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.sent += int64(n)
	if now := time.Now(); now.Sub(p.last) >= p.every {
		p.last = now
		p.report(p.sent, now.Sub(p.start))
	}
	return n, err
}

// PlatformMismatchError refuses to send an image to a host of another
// platform: it could not run there.
type PlatformMismatchError struct {
	Image         string
	ImagePlatform cluster.Platform
	Host          string
	HostPlatform  cluster.Platform
}

func (e *PlatformMismatchError) Error() string {
	return fmt.Sprintf("%s: not sending %s: the image is %s, the host is %s", e.Host, e.Image, e.ImagePlatform, e.HostPlatform)
}
