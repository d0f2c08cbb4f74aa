package command

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/urfave/cli/v2"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
	"github.com/drover-sh/drover/imagexfer"
	"github.com/drover-sh/drover/internal/fanout"
)

func runImageLoad(c *cli.Context, stdio IO) error {
	if c.NArg() != 1 {
		return fmt.Errorf("usage: drover image load FILE [--tag NAME:TAG] [--hosts h1,h2]")
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
	a, err := imagexfer.Open(c.Args().First())
	if err != nil {
		return err
	}
	defer a.Close()
	for _, im := range a.Images {
		e.log.Info().Str("image", orDefault(c.String("tag"), im.Name)).Str("format", string(a.Format)).
			Str("platforms", cluster.PlatformList(im.Platforms())).Msg("archive read")
	}
	rows, err := imagexfer.LoadArchive(c.Context, a, e.targets(hosts), imagexfer.Options{
		Tag: c.String("tag"), Parallel: e.parallel,
		Warn:     func(host, msg string) { e.log.Warn().Str("host", host).Msg(msg) },
		Reporter: e.transferReporter("loading image"),
	})
	if e.output == "json" {
		writeJSON(stdio.Stdout, rows)
		return err
	}
	t := newTable(stdio.Stdout, "HOST", "IMAGE", "PLATFORM", "RESULT", "SIZE", "TIME")
	for _, r := range rows {
		res := string(r.Result)
		if r.Error != "" && r.Result == imagexfer.Failed {
			res += ": " + r.Error
		}
		size, secs := "-", "-"
		if r.Bytes > 0 {
			size, secs = humanBytes(r.Bytes), fmt.Sprintf("%.1fs", r.Seconds)
		}
		t.row(r.Host, r.Image, dash(r.Platform), res, size, secs)
	}
	t.flush()
	return err
}

// imageRow is one image on one host, for image ls.
type imageRow struct {
	Host     string   `json:"host"`
	Image    string   `json:"image"`
	Present  bool     `json:"present"`
	ID       string   `json:"id,omitempty"`
	Platform string   `json:"platform,omitempty"`
	Size     int64    `json:"size,omitempty"`
	Services []string `json:"services,omitempty"` // of the state that use it
	Error    string   `json:"error,omitempty"`    // the host could not be asked
}

func runImageLs(c *cli.Context, stdio IO) error {
	e, st, err := newEnvStore(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	hosts, err := e.hostsFlag(c)
	if err != nil {
		return err
	}
	s, err := e.readState(c.Context, st)
	if err != nil {
		return err
	}
	users := map[string][]string{}
	for _, svc := range s.Services() {
		users[svc.Container.Image] = append(users[svc.Container.Image], svc.FullName())
	}
	images := sortedKeys(users)
	if c.NArg() > 0 {
		images = c.Args().Slice()
	}
	if len(images) == 0 {
		e.log.Info().Msg("the state's stacks use no image; name images to look for them")
	}
	rows := make([][]imageRow, len(hosts))
	errs := fanout.Each(c.Context, e.parallel, hosts, func(ctx context.Context, i int, h string) error {
		fail := func(err error) error {
			for _, ref := range images {
				rows[i] = append(rows[i], imageRow{Host: h, Image: ref, Services: users[ref], Error: engine.Reason(err)})
			}
			return fmt.Errorf("%s: %w", h, err)
		}
		eng, err := e.engineFor(ctx, h)
		if err != nil {
			return fail(err)
		}
		for _, ref := range images {
			f, ok, err := eng.ImageFacts(ctx, ref)
			if err != nil {
				rows[i] = nil
				return fail(err)
			}
			r := imageRow{Host: h, Image: ref, Present: ok, Services: users[ref]}
			if ok {
				r.ID, r.Platform, r.Size = f.ID, f.Platform.String(), f.Size
			}
			rows[i] = append(rows[i], r)
		}
		return nil
	})
	var all []imageRow
	for _, rs := range rows {
		all = append(all, rs...)
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].Host != all[j].Host {
			return all[i].Host < all[j].Host
		}
		return all[i].Image < all[j].Image
	})
	if all == nil {
		all = []imageRow{}
	}
	if e.output == "json" {
		writeJSON(stdio.Stdout, all)
	} else {
		t := newTable(stdio.Stdout, "HOST", "IMAGE", "PRESENT", "ID", "PLATFORM", "SIZE")
		for _, r := range all {
			present, size := "no", "-"
			switch {
			case r.Error != "":
				present = "unknown: " + r.Error
			case r.Present:
				present, size = "yes", humanBytes(r.Size)
			}
			t.row(r.Host, r.Image, present, dash(shortID(r.ID)), dash(r.Platform), size)
		}
		t.flush()
	}
	return errors.Join(errs...)
}

// shortID is the first 12 hex digits of an image ID, as docker shows it.
func shortID(id string) string {
	const prefix = "sha256:"
	if len(id) > len(prefix)+12 && id[:len(prefix)] == prefix {
		return id[len(prefix) : len(prefix)+12]
	}
	return id
}
