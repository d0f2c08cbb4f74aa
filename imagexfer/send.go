package imagexfer

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drover-sh/drover/internal/fanout"
)

// Reporter is told how transfers go, for progress on slow links. The
// package never prints; NopReporter ignores everything.
type Reporter interface {
	// Sending: an archive of bytes is about to go to hosts.
	Sending(image string, bytes int64, hosts []string)
	// Progress of one host's stream, at most every ProgressEvery.
	Progress(host, image string, sent, total int64, elapsed time.Duration)
	// Done: one host finished (n of all hosts the image goes to).
	Done(row Row, n, of int)
}

// NopReporter reports nothing.
type NopReporter struct{}

func (NopReporter) Sending(string, int64, []string)                      {}
func (NopReporter) Progress(string, string, int64, int64, time.Duration) {}
func (NopReporter) Done(Row, int, int)                                   {}

// ProgressEvery is how often Reporter.Progress is called per stream.
const ProgressEvery = 2 * time.Second

// delivery is one archive to one host.
type delivery struct {
	host     string
	h        Host
	image    string
	id       string // expected on the host afterwards
	platform string // for the row
	file     *os.File
	skipped  int // layers left out of file (the host has them)
}

// deliver streams each delivery's file into its host's `docker load`, at
// most par at once, and checks the image ID afterwards. Deliveries of one
// image share one file (read through section readers).
func deliver(ctx context.Context, ds []delivery, par int, ok Result, rep Reporter) ([]Row, []error) {
	if rep == nil {
		rep = NopReporter{}
	}
	byImage := map[string][]string{}
	for _, d := range ds {
		byImage[d.image] = append(byImage[d.image], d.host)
	}
	done := map[string]*atomic.Int32{}
	for img, hosts := range byImage {
		sort.Strings(hosts)
		var size int64
		for _, d := range ds {
			if d.image == img {
				if fi, err := d.file.Stat(); err == nil {
					size = fi.Size()
				}
				break
			}
		}
		rep.Sending(img, size, hosts)
		done[img] = &atomic.Int32{}
	}
	var (
		mu   sync.Mutex
		rows []Row
		errs []error
	)
	finish := func(d delivery, row Row, err error) {
		if err != nil {
			row.Result, row.Error = Failed, err.Error()
		}
		rep.Done(row, int(done[d.image].Add(1)), len(byImage[d.image]))
		mu.Lock()
		defer mu.Unlock()
		rows = append(rows, row)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s %s: %w", d.host, verb(ok), d.image, err))
		}
	}
	rowOf := func(d delivery) Row {
		return Row{Host: d.host, Image: d.image, Platform: d.platform, ID: d.id, Result: ok, LayersSkipped: d.skipped}
	}
	notStarted := fanout.Each(ctx, par, ds, func(ctx context.Context, _ int, d delivery) error {
		row := rowOf(d)
		start := time.Now()
		fi, err := d.file.Stat()
		if err == nil {
			row.Bytes = fi.Size()
			r := &progressReader{r: io.NewSectionReader(d.file, 0, fi.Size()), start: start, last: start, every: ProgressEvery,
				report: func(sent int64, elapsed time.Duration) { rep.Progress(d.host, d.image, sent, fi.Size(), elapsed) }}
			err = loadOnto(ctx, d.h, r, d.image, d.id)
		}
		row.Seconds = time.Since(start).Seconds()
		finish(d, row, err)
		return nil
	})
	for i, err := range notStarted {
		if err != nil {
			finish(ds[i], rowOf(ds[i]), err)
		}
	}
	return rows, errs
}

func verb(r Result) string {
	if r == Pushed {
		return "push"
	}
	return "load"
}

// loadOnto loads a gzip'd docker archive and checks the host has ref as id.
func loadOnto(ctx context.Context, h Host, r io.Reader, ref, id string) error {
	if _, err := h.Load(ctx, r); err != nil {
		return err
	}
	got, ok, err := h.ImageFacts(ctx, ref)
	if err != nil {
		return err
	}
	if !ok || got.ID != id {
		return fmt.Errorf("after loading, %s is %q, expected %s", ref, got.ID, id)
	}
	return nil
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
