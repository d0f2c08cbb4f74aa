// Package testimage builds Docker images without Docker: it writes the
// "docker save" archive format (docker-archive: manifest.json, one
// <config-digest>.json per image, one <diff-id>/layer.tar per layer) that
// `docker load` accepts on every engine since 1.10.
//
// Images are single-layer, FROM-scratch style: a few files (typically a static
// binary at /app) and an image config (entrypoint, env, ports, labels,
// healthcheck). Output is deterministic: fixed timestamps, owners and order,
// so the same inputs always give the same layer digest and image ID.
package testimage

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"
)

// Epoch is the timestamp of every file and image this package writes.
var Epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// File is one entry of an image's layer.
type File struct {
	Path string // inside the image, e.g. "/app" or "tmp/"
	Mode int64  // permission bits incl. sticky/setuid (0755, 01777, ...)
	Dir  bool   // a directory (Data ignored)
	Data []byte
}

// Healthcheck is the image config's healthcheck.
type Healthcheck struct {
	Test        []string // e.g. {"CMD", "/app", "-check", "http://127.0.0.1:8080/health"}
	Interval    time.Duration
	Timeout     time.Duration
	StartPeriod time.Duration
	Retries     int
}

// Image describes one image to write.
type Image struct {
	Tags         []string // "repo:tag"; at least one
	Files        []File
	Entrypoint   []string
	Cmd          []string
	Env          []string // "K=V"
	ExposedPorts []string // "8080/tcp" (a bare "8080" means tcp)
	Labels       map[string]string
	Healthcheck  *Healthcheck
	WorkingDir   string
	User         string
	StopSignal   string
	Architecture string // default "amd64"
	OS           string // default "linux"
}

// Built is the result for one image of an archive.
type Built struct {
	Tags    []string
	ID      string // "sha256:<config digest>", what `docker images --no-trunc` shows
	DiffID  string // "sha256:<layer digest>"
	Config  []byte
	LayerSz int64
}

// Layer returns the uncompressed, deterministic tar of files. Missing parent
// directories are added (mode 0755); entries are sorted by path.
func Layer(files []File) ([]byte, error) {
	entries := map[string]File{}
	for _, f := range files {
		p := strings.Trim(path.Clean("/"+f.Path), "/")
		if p == "" || p == "." {
			return nil, fmt.Errorf("testimage: bad path %q", f.Path)
		}
		if _, dup := entries[p]; dup {
			return nil, fmt.Errorf("testimage: duplicate path %q", f.Path)
		}
		if strings.HasSuffix(f.Path, "/") {
			f.Dir = true
		}
		entries[p] = f
	}
	for p := range entries {
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := entries[d]; !ok {
				entries[d] = File{Path: d, Dir: true, Mode: 0o755}
			}
		}
	}
	for p := range entries {
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			if !entries[d].Dir {
				return nil, fmt.Errorf("testimage: %q is a file and the parent of %q", d, p)
			}
		}
	}
	names := make([]string, 0, len(entries))
	for p := range entries {
		names = append(names, p)
	}
	sort.Strings(names)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range names {
		f := entries[p]
		h := &tar.Header{
			Name:    p,
			Mode:    f.Mode,
			ModTime: Epoch,
			Format:  tar.FormatPAX,
		}
		if f.Dir {
			h.Typeflag = tar.TypeDir
			h.Name = p + "/"
			if h.Mode == 0 {
				h.Mode = 0o755
			}
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.Data))
			if h.Mode == 0 {
				h.Mode = 0o644
			}
		}
		// USTAR when it fits (it always does for our small trees): no PAX
		// records, so nothing varies between Go versions.
		if len(h.Name) <= 100 {
			h.Format = tar.FormatUSTAR
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if !f.Dir {
			if _, err := tw.Write(f.Data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

type healthJSON struct {
	Test        []string `json:"Test"`
	Interval    int64    `json:"Interval,omitempty"`
	Timeout     int64    `json:"Timeout,omitempty"`
	StartPeriod int64    `json:"StartPeriod,omitempty"`
	Retries     int      `json:"Retries,omitempty"`
}

type containerConfig struct {
	User         string              `json:"User,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Env          []string            `json:"Env,omitempty"`
	Entrypoint   []string            `json:"Entrypoint,omitempty"`
	Cmd          []string            `json:"Cmd,omitempty"`
	Healthcheck  *healthJSON         `json:"Healthcheck,omitempty"`
	WorkingDir   string              `json:"WorkingDir,omitempty"`
	Labels       map[string]string   `json:"Labels,omitempty"`
	StopSignal   string              `json:"StopSignal,omitempty"`
}

type historyJSON struct {
	Created   string `json:"created"`
	CreatedBy string `json:"created_by"`
	Comment   string `json:"comment,omitempty"`
}

type configJSON struct {
	Architecture string          `json:"architecture"`
	OS           string          `json:"os"`
	Created      string          `json:"created"`
	Author       string          `json:"author,omitempty"`
	Config       containerConfig `json:"config"`
	RootFS       struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
	History []historyJSON `json:"history"`
}

// Config returns the image config JSON for img whose only layer has diffID
// ("sha256:...").
func Config(img Image, diffID string) ([]byte, error) {
	var c configJSON
	c.Architecture = img.Architecture
	if c.Architecture == "" {
		c.Architecture = "amd64"
	}
	c.OS = img.OS
	if c.OS == "" {
		c.OS = "linux"
	}
	c.Created = Epoch.Format(time.RFC3339)
	c.Author = "drover testimage"
	cc := containerConfig{
		User:       img.User,
		Env:        img.Env,
		Entrypoint: img.Entrypoint,
		Cmd:        img.Cmd,
		WorkingDir: img.WorkingDir,
		StopSignal: img.StopSignal,
	}
	if len(img.Labels) > 0 {
		cc.Labels = img.Labels
	}
	for _, p := range img.ExposedPorts {
		if !strings.Contains(p, "/") {
			p += "/tcp"
		}
		if cc.ExposedPorts == nil {
			cc.ExposedPorts = map[string]struct{}{}
		}
		cc.ExposedPorts[p] = struct{}{}
	}
	for _, e := range img.Env {
		if !strings.Contains(e, "=") {
			return nil, fmt.Errorf("testimage: env %q is not K=V", e)
		}
	}
	if hc := img.Healthcheck; hc != nil {
		if len(hc.Test) == 0 {
			return nil, fmt.Errorf("testimage: healthcheck without Test")
		}
		cc.Healthcheck = &healthJSON{
			Test:        hc.Test,
			Interval:    int64(hc.Interval),
			Timeout:     int64(hc.Timeout),
			StartPeriod: int64(hc.StartPeriod),
			Retries:     hc.Retries,
		}
	}
	c.Config = cc
	c.RootFS.Type = "layers"
	c.RootFS.DiffIDs = []string{diffID}
	c.History = []historyJSON{{Created: c.Created, CreatedBy: "drover testimage: single layer", Comment: strings.Join(img.Tags, " ")}}
	return json.Marshal(c)
}

type manifestEntry struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

// WriteArchive writes a docker-archive tarball holding images (layers shared
// between images are written once) and reports each image's ID.
func WriteArchive(w io.Writer, images ...Image) ([]Built, error) {
	if len(images) == 0 {
		return nil, fmt.Errorf("testimage: no images")
	}
	type blob struct {
		name string
		data []byte
		dir  bool
	}
	var blobs []blob
	seen := map[string]bool{}
	var manifest []manifestEntry
	var built []Built
	tagSeen := map[string]bool{}
	for _, img := range images {
		if len(img.Tags) == 0 {
			return nil, fmt.Errorf("testimage: image without tag")
		}
		for _, t := range img.Tags {
			if err := checkTag(t); err != nil {
				return nil, err
			}
			if tagSeen[t] {
				return nil, fmt.Errorf("testimage: tag %q used twice", t)
			}
			tagSeen[t] = true
		}
		layer, err := Layer(img.Files)
		if err != nil {
			return nil, err
		}
		ld := digest(layer)
		cfg, err := Config(img, "sha256:"+ld)
		if err != nil {
			return nil, err
		}
		cd := digest(cfg)
		if !seen[ld] {
			seen[ld] = true
			blobs = append(blobs,
				blob{name: ld + "/", dir: true},
				blob{name: ld + "/VERSION", data: []byte("1.0")},
				blob{name: ld + "/layer.tar", data: layer})
		}
		if !seen[cd] {
			seen[cd] = true
			blobs = append(blobs, blob{name: cd + ".json", data: cfg})
		}
		manifest = append(manifest, manifestEntry{Config: cd + ".json", RepoTags: img.Tags, Layers: []string{ld + "/layer.tar"}})
		built = append(built, Built{Tags: img.Tags, ID: "sha256:" + cd, DiffID: "sha256:" + ld, Config: cfg, LayerSz: int64(len(layer))})
	}
	mj, err := json.Marshal(manifest)
	if err != nil {
		return nil, err
	}
	blobs = append(blobs, blob{name: "manifest.json", data: mj})

	tw := tar.NewWriter(w)
	for _, b := range blobs {
		h := &tar.Header{Name: b.name, ModTime: Epoch, Format: tar.FormatUSTAR}
		if b.dir {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		} else {
			h.Typeflag, h.Mode, h.Size = tar.TypeReg, 0o644, int64(len(b.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if !b.dir {
			if _, err := tw.Write(b.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return built, nil
}

func checkTag(t string) error {
	i := strings.LastIndex(t, ":")
	if i <= 0 || i == len(t)-1 || strings.Contains(t[i:], "/") {
		return fmt.Errorf("testimage: tag %q must be repo:tag", t)
	}
	if t != strings.ToLower(t[:i])+t[i:] {
		return fmt.Errorf("testimage: repository in %q must be lowercase", t)
	}
	return nil
}

// PseudoRandom returns n bytes that look random (incompressible) but are the
// same for the same seed on every machine: SHA-256 in counter mode.
func PseudoRandom(seed string, n int) []byte {
	out := make([]byte, 0, n+sha256.Size)
	var ctr [8]byte
	for i := uint64(0); len(out) < n; i++ {
		for j := range ctr {
			ctr[j] = byte(i >> (8 * j))
		}
		s := sha256.Sum256(append([]byte(seed), ctr[:]...))
		out = append(out, s[:]...)
	}
	return out[:n]
}

// AppHealthcheck is the healthcheck of the test app images: the app checks
// itself (the images have no shell and no curl).
func AppHealthcheck(port string) *Healthcheck {
	if port == "" {
		port = "8080"
	}
	return &Healthcheck{
		Test:     []string{"CMD", "/app", "-check", "http://127.0.0.1:" + port + "/health"},
		Interval: time.Second,
		Timeout:  5 * time.Second,
		Retries:  3,
	}
}
