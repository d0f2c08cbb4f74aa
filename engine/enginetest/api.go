package enginetest

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/api/types/volume"
)

// API replays recorded engine documents at the HTTP level: the inspect
// documents of a real engine (AddContainer), networks, volumes, images.
// It serves the read endpoints drover uses and refuses every change
// (501); every request is recorded. For a host whose state changes, with
// behaviours and faults, use Host.
type API struct {
	// APIVersion is what /_ping reports; "" means "1.41" (Docker 20.10).
	APIVersion string
	// Stuck makes every request but /_ping hang until the client gives
	// up, as a stopped dockerd (kill -STOP) does.
	Stuck atomic.Bool

	mu         sync.Mutex
	info       system.Info
	containers []*stored // inspect documents, as the engine sends them
	networks   []network.Summary
	volumes    []*volume.Volume
	images     []image.Summary
	calls      []string

	srv  *http.Server
	ln   *pipeListener
	once sync.Once
}

// NewAPI returns a fake engine that reports info.
func NewAPI(info system.Info) *API {
	a := &API{info: info}
	a.ln = &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
	a.srv = &http.Server{Handler: a}
	return a
}

// AddContainer adds a container by its inspect document (what `docker
// inspect` prints for one container, or GET /containers/{id}/json).
func (a *API) AddContainer(inspect json.RawMessage) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.containers = append(a.containers, newStored(inspect))
}

// stored is one container: its inspect document, and what lists and
// lookups need of it, decoded once.
type stored struct {
	raw json.RawMessage
	summary
}

func newStored(raw json.RawMessage) *stored {
	s := &stored{raw: raw}
	json.Unmarshal(raw, &s.summary)
	return s
}

func (s *stored) is(ref string) bool {
	return s.ID == ref || strings.TrimPrefix(s.Name, "/") == ref || (len(ref) >= 12 && strings.HasPrefix(s.ID, ref))
}

// AddNetwork, AddVolume and AddImage add objects to the lists.
func (a *API) AddNetwork(n network.Summary) {
	a.mu.Lock()
	a.networks = append(a.networks, n)
	a.mu.Unlock()
}
func (a *API) AddVolume(v volume.Volume) {
	a.mu.Lock()
	a.volumes = append(a.volumes, &v)
	a.mu.Unlock()
}
func (a *API) AddImage(i image.Summary) { a.mu.Lock(); a.images = append(a.images, i); a.mu.Unlock() }

// Calls returns the requests served so far, as "METHOD /path" without the
// version prefix.
func (a *API) Calls() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.calls...)
}

// Dial opens a new stream to the fake, as `docker system dial-stdio`
// would: one end of a net.Pipe whose other end the fake serves.
func (a *API) Dial(ctx context.Context) (net.Conn, error) {
	a.once.Do(func() { go a.srv.Serve(a.ln) })
	client, server := net.Pipe()
	select {
	case a.ln.conns <- server:
		return client, nil
	case <-a.ln.done:
		return nil, errors.New("enginetest: api closed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close stops serving.
func (a *API) Close() error {
	a.ln.Close()
	return a.srv.Close()
}

var versionPrefix = regexp.MustCompile(`^/v[0-9]+\.[0-9]+`)

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := versionPrefix.ReplaceAllString(r.URL.Path, "")
	if a.Stuck.Load() && path != "/_ping" {
		<-r.Context().Done()
		return
	}
	// One request at a time: the fake's state needs no finer locking.
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, r.Method+" "+path)
	switch {
	case path == "/_ping":
		v := a.APIVersion
		if v == "" {
			v = "1.41"
		}
		w.Header().Set("Api-Version", v)
		w.Header().Set("Ostype", "linux")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write([]byte("OK"))
		}
	case r.Method != http.MethodGet:
		apiError(w, http.StatusNotImplemented, "enginetest: "+r.Method+" "+path+" is not replayed")
	case path == "/info":
		writeJSON(w, a.info)
	case path == "/containers/json":
		a.listContainers(w, r)
	case strings.HasPrefix(path, "/containers/") && strings.HasSuffix(path, "/json"):
		a.inspectContainer(w, strings.TrimSuffix(strings.TrimPrefix(path, "/containers/"), "/json"))
	case path == "/networks":
		a.listNetworks(w, r)
	case path == "/volumes":
		a.listVolumes(w, r)
	case path == "/images/json":
		writeJSON(w, a.images)
	case strings.HasPrefix(path, "/images/") && strings.HasSuffix(path, "/json"):
		a.inspectImage(w, strings.TrimSuffix(strings.TrimPrefix(path, "/images/"), "/json"))
	default:
		apiError(w, http.StatusNotFound, "page not found")
	}
}

// summary is the part of an inspect document the list and its filters use.
type summary struct {
	ID     string `json:"Id"`
	Name   string
	Image  string
	Config struct{ Labels map[string]string }
	State  struct{ Status string }
}

func (a *API) listContainers(w http.ResponseWriter, r *http.Request) {
	args, err := filters.FromJSON(r.URL.Query().Get("filters"))
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	all := r.URL.Query().Get("all") == "1" || r.URL.Query().Get("all") == "true"
	out := []container.Summary{}
	for _, s := range a.containers {
		if !all && s.State.Status != "running" {
			continue
		}
		if !args.MatchKVList("label", s.Config.Labels) {
			continue
		}
		out = append(out, container.Summary{ID: s.ID, Names: []string{s.Name}, Image: s.Image, Labels: s.Config.Labels, State: container.ContainerState(s.State.Status)})
	}
	writeJSON(w, out)
}

func (a *API) listNetworks(w http.ResponseWriter, r *http.Request) {
	args, err := filters.FromJSON(r.URL.Query().Get("filters"))
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	out := []network.Summary{}
	for _, n := range a.networks {
		if args.MatchKVList("label", n.Labels) {
			out = append(out, n)
		}
	}
	writeJSON(w, out)
}

func (a *API) listVolumes(w http.ResponseWriter, r *http.Request) {
	args, err := filters.FromJSON(r.URL.Query().Get("filters"))
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	out := volume.ListResponse{Volumes: []*volume.Volume{}}
	for _, v := range a.volumes {
		if args.MatchKVList("label", v.Labels) {
			out.Volumes = append(out.Volumes, v)
		}
	}
	writeJSON(w, out)
}

func (a *API) inspectContainer(w http.ResponseWriter, ref string) {
	for _, s := range a.containers {
		if s.is(ref) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(s.raw)
			return
		}
	}
	apiError(w, http.StatusNotFound, "No such container: "+ref)
}

func (a *API) inspectImage(w http.ResponseWriter, ref string) {
	for _, im := range a.images {
		if im.ID == ref || contains(im.RepoTags, ref) || contains(im.RepoTags, ref+":latest") {
			writeJSON(w, image.InspectResponse{ID: im.ID, RepoTags: im.RepoTags})
			return
		}
	}
	apiError(w, http.StatusNotFound, "No such image: "+ref)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// apiError answers as the engine does: {"message": "..."}.
func apiError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// pipeListener hands the server ends of Dial's pipes to http.Server.
type pipeListener struct {
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "enginetest" }
