package enginetest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"

	"github.com/drover-sh/drover/engine"
)

// Images of the fake engine: list, inspect, pull from the Registry, load.

func (h *Host) listImages(q map[string][]string) (any, error) {
	args, err := filters.FromJSON(first(q, "filters"))
	if err != nil {
		return nil, errf(http.StatusBadRequest, "%s", err)
	}
	byID := map[string][]string{}
	for _, ref := range sortedNames(h.images) {
		byID[h.images[ref]] = append(byID[h.images[ref]], ref)
	}
	for id := range h.imageLabels {
		if _, ok := byID[id]; !ok {
			byID[id] = []string{}
		}
	}
	out := make([]image.Summary, 0, len(byID))
	for _, id := range sortedNames(byID) {
		labels := copyMap(h.imageLabels[id])
		if labels == nil {
			labels = map[string]string{}
		}
		if !args.MatchKVList("label", labels) {
			continue
		}
		out = append(out, image.Summary{ID: id, RepoTags: byID[id], RepoDigests: []string{}, Labels: labels, Size: 1 << 20})
	}
	return out, nil
}

func (h *Host) inspectImage(ref string) (any, error) {
	id, ok := h.resolveImage(ref)
	if !ok {
		return nil, errf(http.StatusNotFound, "No such image: %s", ref)
	}
	var tags []string
	for _, r := range sortedNames(h.images) {
		if h.images[r] == id {
			tags = append(tags, r)
		}
	}
	p, ok := h.platforms[id]
	if !ok {
		p = [3]string{h.Facts.OSType, engine.GoArch(h.Facts.Architecture), engine.GoVariant(h.Facts.Architecture)}
	}
	return image.InspectResponse{ID: id, RepoTags: tags, RepoDigests: []string{}, Os: p[0], Architecture: p[1], Variant: p[2], Size: 1 << 20}, nil
}

// pull serves POST /images/create?fromImage=REPO&tag=TAG from the
// registry. Errors before the first byte are HTTP errors, as docker's.
func (h *Host) pull(q map[string][]string) (any, error) {
	ref := first(q, "fromImage")
	if t := first(q, "tag"); t != "" {
		if strings.HasPrefix(t, "sha256:") {
			ref += "@" + t
		} else {
			ref += ":" + t
		}
	}
	norm := engine.NormalizeRef(ref)
	id, ok, repoKnown := h.Registry.lookup(ref)
	if !ok {
		if repoKnown {
			return nil, errf(http.StatusNotFound, "manifest for %s not found: manifest unknown: manifest unknown", norm)
		}
		return nil, errf(http.StatusNotFound, "pull access denied for %s, repository does not exist or may require 'docker login': denied: requested access to the resource is denied", repoOf(norm))
	}
	h.images[norm] = id
	h.record([]string{"pull", norm}, "")
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.Encode(map[string]string{"status": "Pulling from " + repoOf(norm), "id": norm[len(repoOf(norm))+1:]})
	enc.Encode(map[string]string{"status": "Digest: " + id})
	enc.Encode(map[string]string{"status": "Status: Downloaded newer image for " + norm})
	return stream(b.Bytes()), nil
}

// loadImages serves POST /images/load: a `docker save` tar, plain or
// gzip'd (the engine detects the compression).
func (h *Host) loadImages(r *http.Request) (any, error) {
	br := bufio.NewReader(r.Body)
	var in io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, errf(http.StatusInternalServerError, "%s", err)
		}
		in = zr
	}
	type entry struct {
		Config   string
		RepoTags []string
	}
	var manifest []entry
	tr := tar.NewReader(in)
	n := 0
	for {
		hd, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if n == 0 {
				return nil, errf(http.StatusInternalServerError, "unexpected EOF")
			}
			return nil, errf(http.StatusInternalServerError, "Error processing tar file(exit status 1): unexpected EOF")
		}
		n++
		if hd.Name == "manifest.json" {
			if err := json.NewDecoder(tr).Decode(&manifest); err != nil {
				return nil, errf(http.StatusInternalServerError, "Error processing tar file: invalid manifest.json: %s", err)
			}
		}
	}
	if manifest == nil {
		return nil, errf(http.StatusInternalServerError, "open /var/lib/docker/tmp/docker-import/repositories: no such file or directory")
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, m := range manifest {
		hex := strings.TrimSuffix(m.Config, ".json")
		id := "sha256:" + hex[strings.LastIndexByte(hex, '/')+1:]
		if len(m.RepoTags) == 0 {
			enc.Encode(map[string]string{"stream": "Loaded image ID: " + id + "\n"})
		}
		for _, t := range m.RepoTags {
			h.images[engine.NormalizeRef(t)] = id
			enc.Encode(map[string]string{"stream": "Loaded image: " + t + "\n"})
		}
	}
	h.record([]string{"load"}, "")
	return stream(b.Bytes()), nil
}
