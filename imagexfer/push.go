package imagexfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
	"github.com/drover-sh/drover/internal/fanout"
)

// Local is the engine images are pushed from: the docker CLI of the
// machine running drover (DOCKER_HOST).
type Local interface {
	// Image returns the ID and platform of a local image.
	Image(ctx context.Context, ref string) (engine.ImageFacts, error)
	// Save returns `docker save ref`, gzip'd, in an unlinked temp file.
	Save(ctx context.Context, ref string) (*os.File, error)
}

// Observed answers from an earlier observation (stack deploy --push) the
// ID a host has for ref ("" for none) and the host's platform, instead of
// asking the host again.
type Observed func(host, ref string) (id string, platform cluster.Platform)

// PushOptions tune a push.
type PushOptions struct {
	Parallel int
	Observed Observed // nil: ask each host (docker info, image inspect)
	// SkipOtherPlatforms warns about and skips a host of another platform
	// than the image instead of refusing it: with stack deploy --push the
	// scheduler, which knows the image's platform, places nothing there.
	SkipOtherPlatforms bool
	Warn               func(host, msg string)
	Reporter           Reporter
	// HostLayers, when set, gives the diff IDs of an image a host has that
	// the pushed one may share its first layers with (the service's
	// previous build there); nil for none. The host is then sent the
	// archive without those layers (see thin.go), or the full one if it
	// refuses that.
	HostLayers func(ctx context.Context, host string) []string
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

// Push sends images from the local engine to the targets lacking them
// (compared by image ID), hosts in parallel, never to a host of another
// platform, and checks the ID afterwards. An image the local engine lacks
// stops the push.
func Push(ctx context.Context, local Local, images []string, targets []Target, opt PushOptions) ([]Row, error) {
	par := max(opt.Parallel, 1)
	var rows []Row
	var errs []error
	for _, ref := range images {
		img, err := local.Image(ctx, ref)
		if err != nil {
			SortRows(rows)
			return rows, err
		}
		var mu sync.Mutex
		var need []delivery
		notStarted := fanout.Each(ctx, par, targets, func(ctx context.Context, _ int, t Target) error {
			cur, plat, h, err := pushFacts(ctx, t, ref, opt.Observed)
			row := Row{Host: t.Name, Image: ref, Platform: img.Platform.String(), ID: img.ID}
			mu.Lock()
			defer mu.Unlock()
			mismatch := img.Platform.Known() && plat.Known() && !plat.Runs(img.Platform)
			switch {
			case err != nil:
				row.Result, row.Error = Failed, engine.Reason(err)
				errs = append(errs, fmt.Errorf("%s: %w", t.Name, err))
			case mismatch && opt.SkipOtherPlatforms:
				e := &PlatformMismatchError{Image: ref, ImagePlatform: img.Platform, Host: t.Name, HostPlatform: plat}
				if opt.Warn != nil {
					opt.Warn(t.Name, e.Error())
				}
				row.Result, row.Error = Skipped, e.Error()
			case mismatch:
				e := &PlatformMismatchError{Image: ref, ImagePlatform: img.Platform, Host: t.Name, HostPlatform: plat}
				row.Result, row.Error = Refused, e.Error()
				errs = append(errs, e)
			case cur == img.ID:
				row.Result = UpToDate
			default:
				need = append(need, delivery{host: t.Name, h: h, image: ref, id: img.ID, platform: img.Platform.String()})
				return nil
			}
			rows = append(rows, row)
			return nil
		})
		for i, err := range notStarted {
			if err != nil {
				rows = append(rows, Row{Host: targets[i].Name, Image: ref, Platform: img.Platform.String(), ID: img.ID, Result: Failed, Error: engine.Reason(err)})
				errs = append(errs, fmt.Errorf("%s: %w", targets[i].Name, err))
			}
		}
		if len(need) == 0 {
			continue
		}
		f, err := local.Save(ctx, ref)
		if err != nil {
			SortRows(rows)
			return rows, err
		}
		for i := range need {
			need[i].file = f
			if need[i].h == nil {
				// Observed answered the facts: connect now to send.
				t := targetNamed(targets, need[i].host)
				if need[i].h, err = t.Connect(ctx); err != nil {
					need[i].h = failingHost{err}
				}
			}
		}
		sent, sendErrs := deliverThin(ctx, f, need, par, opt)
		f.Close()
		rows, errs = append(rows, sent...), append(errs, sendErrs...)
	}
	SortRows(rows)
	return rows, errors.Join(errs...)
}

// pushFacts is what a target has of ref and its platform: from the
// observation when there is one, else from the host.
func pushFacts(ctx context.Context, t Target, ref string, obs Observed) (id string, p cluster.Platform, h Host, err error) {
	if obs != nil {
		id, p = obs(t.Name, ref)
		return id, p, nil, nil
	}
	if h, err = t.Connect(ctx); err != nil {
		return "", p, nil, err
	}
	info, err := h.Info(ctx)
	if err != nil {
		return "", p, nil, err
	}
	p = cluster.Platform{OS: info.OS, Arch: info.Arch, Variant: info.Variant}
	f, _, err := h.ImageFacts(ctx, ref)
	return f.ID, p, h, err
}

func targetNamed(ts []Target, name string) Target {
	for _, t := range ts {
		if t.Name == name {
			return t
		}
	}
	return Target{Name: name, Connect: func(context.Context) (Host, error) { return nil, fmt.Errorf("no target %s", name) }}
}

// failingHost fails every call with err: a host that could not be
// connected to for the transfer.
type failingHost struct{ err error }

func (f failingHost) Info(context.Context) (engine.Facts, error) { return engine.Facts{}, f.err }
func (f failingHost) ImageFacts(context.Context, string) (engine.ImageFacts, bool, error) {
	return engine.ImageFacts{}, false, f.err
}
func (f failingHost) Load(context.Context, io.Reader) (string, error) { return "", f.err }

// deliverThin delivers f to the hosts of need; those that have the image's
// first layers (HostLayers) get it without them, and the full archive if
// they refuse that.
func deliverThin(ctx context.Context, f *os.File, need []delivery, par int, opt PushOptions) ([]Row, []error) {
	if opt.HostLayers == nil {
		return deliver(ctx, need, par, Pushed, opt.Reporter)
	}
	files, diffIDs, err := archiveLayers(f)
	if err != nil {
		if opt.Warn != nil {
			opt.Warn("", "sending whole images: "+err.Error())
		}
		return deliver(ctx, need, par, Pushed, opt.Reporter)
	}
	thin := map[int]*os.File{}
	defer func() {
		for _, tf := range thin {
			tf.Close()
		}
	}()
	skipped := map[string]int{}
	var thinDs, fullDs []delivery
	for _, d := range need {
		n := commonLayers(diffIDs, opt.HostLayers(ctx, d.host))
		if n == 0 {
			fullDs = append(fullDs, d)
			continue
		}
		tf, ok := thin[n]
		if !ok {
			if tf, err = thinArchive(f, files, n); err != nil {
				fullDs = append(fullDs, d)
				continue
			}
			thin[n] = tf
		}
		d.file, d.skipped = tf, n
		skipped[d.host] = n
		thinDs = append(thinDs, d)
	}
	rows, _ := deliver(ctx, thinDs, par, Pushed, opt.Reporter)
	var out []Row
	for _, r := range rows {
		if r.Result != Failed {
			out = append(out, r)
			continue
		}
		if opt.Warn != nil {
			opt.Warn(r.Host, fmt.Sprintf("the archive without the %d layers the host has was refused (%s): sending the whole image", skipped[r.Host], r.Error))
		}
		for _, d := range need {
			if d.host == r.Host {
				d.file, d.skipped = f, 0
				fullDs = append(fullDs, d)
			}
		}
	}
	full, errs := deliver(ctx, fullDs, par, Pushed, opt.Reporter)
	return append(out, full...), errs
}
