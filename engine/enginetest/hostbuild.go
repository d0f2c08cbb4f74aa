package enginetest

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/image"

	"github.com/drover-sh/drover/engine"
)

// Builds of the fake engine (POST /build with a tar context, the classic
// builder's JSON stream), image labels, tags and removal.

// BuildRequest is one POST /build the host answered, as a test sees it.
type BuildRequest struct {
	Dockerfile string
	Labels     map[string]string
	Args       map[string]string
	Target     string
	Platform   string
	NoCache    bool
	// ContextBytes is the size of the tar context the request carried;
	// Files the names in it.
	ContextBytes int64
	Files        []string
}

// Builds returns the build requests the host answered, in order.
func (h *Host) Builds() []BuildRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]BuildRequest(nil), h.builds...)
}

// AddLabelledImage makes an image present with labels (an image a build
// left, or one of another cluster) and returns its ID.
func (h *Host) AddLabelledImage(ref string, labels map[string]string) string {
	id := h.AddImage(ref)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.setLabels(id, labels)
	return id
}

func (h *Host) setLabels(id string, labels map[string]string) {
	if h.imageLabels == nil {
		h.imageLabels = map[string]map[string]string{}
	}
	h.imageLabels[id] = copyMap(labels)
}

// build serves POST /build: it reads the whole context, fails as the
// classic builder does when the Dockerfile is not in it, and makes an
// image whose ID is a digest of what the build depends on (the files'
// names and contents, the Dockerfile's name, args, target, platform and
// labels), so an unchanged build gives the same ID, as the builder's
// cache does.
func (h *Host) build(r *http.Request) (any, error) {
	q := r.URL.Query()
	req := BuildRequest{Dockerfile: first(q, "dockerfile"), Target: first(q, "target"), Platform: first(q, "platform"), NoCache: first(q, "nocache") == "1"}
	if req.Dockerfile == "" {
		req.Dockerfile = "Dockerfile"
	}
	for k, dst := range map[string]any{"labels": &req.Labels, "buildargs": &req.Args} {
		if v := first(q, k); v != "" {
			if err := json.Unmarshal([]byte(v), dst); err != nil {
				return nil, errf(http.StatusBadRequest, "%s: %s", k, err)
			}
		}
	}
	sum := sha256.New()
	counted := &countingReader{r: r.Body}
	tr := tar.NewReader(counted)
	for {
		hd, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, errf(http.StatusBadRequest, "the build context is not a tar: %s", err)
		}
		req.Files = append(req.Files, hd.Name)
		fmt.Fprintf(sum, "file %s %o\n", hd.Name, hd.Mode)
		io.Copy(sum, tr)
	}
	io.Copy(io.Discard, counted)
	req.ContextBytes = counted.n
	h.builds = append(h.builds, req)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	found := false
	for _, f := range req.Files {
		found = found || f == req.Dockerfile
	}
	if !found {
		enc.Encode(map[string]string{"error": "Cannot locate specified Dockerfile: " + req.Dockerfile})
		return stream(b.Bytes()), nil
	}
	fmt.Fprintf(sum, "dockerfile %s\ntarget %s\nplatform %s\n", req.Dockerfile, req.Target, req.Platform)
	for _, m := range []map[string]string{req.Args, req.Labels} {
		for _, k := range sortedNames(m) {
			fmt.Fprintf(sum, "%s=%s\n", k, m[k])
		}
		sum.Write([]byte{0})
	}
	id := "sha256:" + hex.EncodeToString(sum.Sum(nil))
	h.setLabels(id, req.Labels)
	h.record([]string{"build", "-"}, "")
	enc.Encode(map[string]string{"stream": "Step 1/1 : FROM scratch\n"})
	enc.Encode(map[string]any{"aux": map[string]string{"ID": id}})
	enc.Encode(map[string]string{"stream": "Successfully built " + id[7:19] + "\n"})
	return stream(b.Bytes()), nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// resolveImage finds an image by reference or ID, with h.mu held.
func (h *Host) resolveImage(name string) (string, bool) {
	if id, ok := h.images[engine.NormalizeRef(name)]; ok {
		return id, true
	}
	if strings.HasPrefix(name, "sha256:") {
		if _, ok := h.imageLabels[name]; ok {
			return name, true
		}
		for _, id := range h.images {
			if id == name {
				return id, true
			}
		}
	}
	return "", false
}

// tagImage serves POST /images/{name}/tag?repo=R&tag=T.
func (h *Host) tagImage(name string, q map[string][]string) (any, error) {
	id, ok := h.resolveImage(name)
	if !ok {
		return nil, errf(http.StatusNotFound, "No such image: %s", name)
	}
	ref := first(q, "repo")
	if t := first(q, "tag"); t != "" {
		ref += ":" + t
	}
	h.images[engine.NormalizeRef(ref)] = id
	h.record([]string{"tag", name, ref}, "")
	return created{nil}, nil
}

// removeImage serves DELETE /images/{name}: a reference loses its tag,
// and the image goes with its last tag; an image a container uses keeps
// its last tag (409), as does an image removed by ID that has several.
func (h *Host) removeImage(name string) (any, error) {
	id, ok := h.resolveImage(name)
	if !ok {
		return nil, errf(http.StatusNotFound, "No such image: %s", name)
	}
	var tags []string
	for ref, v := range h.images {
		if v == id {
			tags = append(tags, ref)
		}
	}
	sort.Strings(tags)
	byID := name == id
	if byID && len(tags) > 1 {
		return nil, errf(http.StatusConflict, "conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories", id[7:19])
	}
	if byID || len(tags) == 1 {
		for _, c := range h.containers {
			if c.ImageID == id {
				return nil, errf(http.StatusConflict, "conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s", name, c.ID[:12], id[7:19])
			}
		}
	}
	var out []image.DeleteResponse
	if !byID {
		delete(h.images, engine.NormalizeRef(name))
		out = append(out, image.DeleteResponse{Untagged: name})
	} else if len(tags) == 1 {
		delete(h.images, tags[0])
		out = append(out, image.DeleteResponse{Untagged: tags[0]})
	}
	if byID || len(tags) == 1 {
		delete(h.imageLabels, id)
		out = append(out, image.DeleteResponse{Deleted: id})
	}
	h.record([]string{"image", "rm", name}, "")
	return out, nil
}
