package engine

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/docker/docker/api/types/build"
	controlapi "github.com/moby/buildkit/api/services/control"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/filesync"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
	"github.com/tonistiigi/fsutil"
)

// BuildKitSource is what a BuildKit build reads from the machine running
// drover, through the build's session: the context and Dockerfile
// directories (the engine asks for the files it needs, honouring the
// context's .dockerignore itself), the secrets and the ssh agents.
type BuildKitSource struct {
	ContextDir    string
	DockerfileDir string // the directory holding the Dockerfile
	Secrets       []BuildKitSecret
	SSH           []string // "default" or "ID=PATH[,PATH]", as `docker build --ssh`
}

// BuildKitSecret is a build secret: a file or an environment variable of
// this process, read only when the engine asks for it.
type BuildKitSecret struct {
	ID, File, Env string
}

// BuildKit builds with the engine's BuildKit (API version 2 builds): the
// context is served from this machine over a session on the same SSH
// connection (POST /session), so no docker CLI is needed on either side
// and no secret leaves this process except to the build that mounts it.
// o.Dockerfile is the file's name inside src.DockerfileDir.
// sent is how many bytes the session sent the engine (the files it asked
// for, the secrets, the protocol).
func (e *Engine) BuildKit(ctx context.Context, src BuildKitSource, o BuildOptions, out func(line string)) (id string, sent int64, err error) {
	if e.API == nil {
		return "", 0, fmt.Errorf("%s: build %w", e.Host, errNeedsAPI)
	}
	id, sent, err = e.API.buildKit(ctx, src, o, out)
	e.audit([]string{"build", "--builder=buildkit", src.ContextDir}, err)
	return id, sent, err
}

func (a *API) buildKit(ctx context.Context, src BuildKitSource, o BuildOptions, out func(string)) (string, int64, error) {
	if _, err := a.ready(ctx); err != nil {
		return "", 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sess, err := newBuildSession(ctx, src)
	if err != nil {
		return "", 0, fmt.Errorf("%s: build session: %w", a.host, err)
	}
	defer sess.Close()
	// The session holds its stream for the whole build: a fresh one.
	sessErr := make(chan error, 1)
	var sent atomic.Int64
	go func() {
		sessErr <- sess.Run(ctx, func(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
			c, err := a.hijack(ctx, "/session", proto, meta)
			if err != nil {
				return nil, err
			}
			return &countingConn{Conn: c, n: &sent}, nil
		})
	}()
	args := map[string]*string{}
	for k, v := range o.Args {
		args[k] = &v
	}
	buildID := make([]byte, 12)
	rand.Read(buildID)
	resp, err := a.streams.ImageBuild(ctx, nil, build.ImageBuildOptions{
		Version: build.BuilderBuildKit, SessionID: sess.ID(), RemoteContext: "client-session", BuildID: hex.EncodeToString(buildID),
		Dockerfile: o.Dockerfile, BuildArgs: args, Target: o.Target, Labels: o.Labels,
		CacheFrom: o.CacheFrom, NoCache: o.NoCache, PullParent: o.Pull, NetworkMode: o.Network,
		ExtraHosts: o.ExtraHosts, Platform: o.Platform,
	})
	if err != nil {
		return "", 0, a.classify(err)
	}
	defer resp.Body.Close()
	id, err := readBuildKit(a.host, resp.Body, out)
	var bf *BuildFailedError
	if errors.As(err, &bf) {
		// A session that could not start fails the build with "no active
		// session": say why.
		select {
		case serr := <-sessErr:
			if serr != nil {
				bf.Message += " (the build session: " + serr.Error() + ")"
			}
		default:
		}
	}
	return id, sent.Load(), err
}

// countingConn counts what is written to the engine.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func newBuildSession(ctx context.Context, src BuildKitSource) (*session.Session, error) {
	// The engine keeps the files it was sent under the session's shared
	// key and the directory's name, and sends for the next build with that
	// key only what changed: one key per context (as docker's CLI does),
	// so that two services' contexts do not take turns replacing it.
	key := sha256.Sum256([]byte(src.ContextDir + "\x00" + src.DockerfileDir))
	sess, err := session.NewSession(ctx, "drover-"+hex.EncodeToString(key[:16]))
	if err != nil {
		return nil, err
	}
	cfs, err := fsutil.NewFS(src.ContextDir)
	if err != nil {
		return nil, fmt.Errorf("build context %s: %w", src.ContextDir, err)
	}
	dfs, err := fsutil.NewFS(src.DockerfileDir)
	if err != nil {
		return nil, fmt.Errorf("Dockerfile directory %s: %w", src.DockerfileDir, err)
	}
	sess.Allow(filesync.NewFSSyncProvider(filesync.StaticDirSource{"context": cfs, "dockerfile": dfs}))
	var secrets []secretsprovider.Source
	for _, s := range src.Secrets {
		secrets = append(secrets, secretsprovider.Source{ID: s.ID, FilePath: s.File, Env: s.Env})
	}
	store, err := secretsprovider.NewStore(secrets)
	if err != nil {
		return nil, fmt.Errorf("build secrets: %w", err)
	}
	sess.Allow(secretsprovider.NewSecretProvider(store))
	if len(src.SSH) > 0 {
		var agents []sshprovider.AgentConfig
		for _, s := range src.SSH {
			id, paths, _ := strings.Cut(s, "=")
			c := sshprovider.AgentConfig{ID: id}
			if paths != "" {
				c.Paths = strings.Split(paths, ",")
			}
			agents = append(agents, c)
		}
		p, err := sshprovider.NewSSHAgentProvider(agents)
		if err != nil {
			return nil, fmt.Errorf("build ssh: %w", err)
		}
		sess.Allow(p)
	}
	return sess, nil
}

// readBuildKit reads a BuildKit build's JSON stream. Its progress comes
// as moby.buildkit.trace messages (protobuf status updates), written out
// as lines the way `docker build --progress plain` shows them, without
// digests and timings: "#3 [app 2/3] RUN …", "#3 output", "#3 ERROR: …".
func readBuildKit(host string, r io.Reader, out func(string)) (string, error) {
	var lines []string
	emit := func(l string) {
		lines = append(lines, l)
		if out != nil {
			out(l)
		}
	}
	num := map[string]int{} // vertex digest → its number
	started := map[string]bool{}
	failed := map[string]bool{}
	n := func(d string) int {
		if _, ok := num[d]; !ok {
			num[d] = len(num) + 1
		}
		return num[d]
	}
	var id string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var m struct {
			ID     string          `json:"id"`
			Stream string          `json:"stream"`
			Error  string          `json:"error"`
			Aux    json.RawMessage `json:"aux"`
		}
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		switch m.ID {
		case "moby.image.id":
			var a struct{ ID string }
			if json.Unmarshal(m.Aux, &a) == nil && a.ID != "" {
				id = a.ID
			}
		case "moby.buildkit.trace":
			var b []byte
			var st controlapi.StatusResponse
			if json.Unmarshal(m.Aux, &b) != nil || st.UnmarshalVT(b) != nil {
				continue
			}
			for _, v := range st.Vertexes {
				if (v.Started != nil || v.Error != "") && !started[string(v.Digest)] {
					started[string(v.Digest)] = true
					emit(fmt.Sprintf("#%d %s", n(string(v.Digest)), v.Name))
				}
				if v.Error != "" && !failed[string(v.Digest)] {
					failed[string(v.Digest)] = true
					emit(fmt.Sprintf("#%d ERROR: %s", n(string(v.Digest)), v.Error))
				}
			}
			for _, l := range st.Logs {
				for _, t := range strings.Split(strings.TrimRight(string(l.Msg), "\n"), "\n") {
					if strings.TrimSpace(t) != "" {
						emit(fmt.Sprintf("#%d %s", n(string(l.Vertex)), t))
					}
				}
			}
		}
		streamLines(m.Stream, emit)
		if m.Error != "" {
			return "", &BuildFailedError{Host: host, Message: strings.TrimSpace(m.Error), Lines: lines}
		}
	}
	return buildEnd(host, sc, id, lines)
}

// hijack opens a stream to the engine and upgrades it to proto on path
// (POST /session → h2c), as docker's DialHijack does over its own dialer.
func (a *API) hijack(ctx context.Context, path, proto string, meta map[string][]string) (net.Conn, error) {
	conn, err := a.dial(ctx, "tcp", "docker")
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://docker/v"+a.streams.ClientVersion()+path, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	for k, v := range meta {
		req.Header[k] = v
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", proto)
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s: POST %s: %w", a.host, path, err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s: POST %s: %w", a.host, path, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		conn.Close()
		return nil, fmt.Errorf("%s: POST %s: %s, want 101 Switching Protocols", a.host, path, resp.Status)
	}
	return &bufferedConn{Conn: conn, r: br}, nil
}

// bufferedConn reads what the response's reader buffered first.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
