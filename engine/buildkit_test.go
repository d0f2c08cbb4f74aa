package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types"
	controlapi "github.com/moby/buildkit/api/services/control"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// trace is one moby.buildkit.trace message of the build's JSON stream.
func trace(t *testing.T, st *controlapi.StatusResponse) string {
	t.Helper()
	b, err := st.MarshalVT()
	if err != nil {
		t.Fatal(err)
	}
	aux, _ := json.Marshal(b) // []byte → base64, as the engine sends it
	return `{"id":"moby.buildkit.trace","aux":` + string(aux) + "}\n"
}

func TestReadBuildKit(t *testing.T) {
	now := timestamppb.Now()
	stream := trace(t, &controlapi.StatusResponse{Vertexes: []*controlapi.Vertex{
		{Digest: "sha256:a", Name: "[internal] load build definition from Dockerfile", Started: now},
		{Digest: "sha256:b", Name: "[app 2/2] RUN make"}, // not started yet
	}}) +
		trace(t, &controlapi.StatusResponse{
			Vertexes: []*controlapi.Vertex{{Digest: "sha256:a", Name: "[internal] load build definition from Dockerfile", Started: now, Completed: now},
				{Digest: "sha256:b", Name: "[app 2/2] RUN make", Started: now}},
			Logs: []*controlapi.VertexLog{{Vertex: "sha256:b", Msg: []byte("cc -o app\nok\n")}},
		}) +
		`{"stream":"not a trace\n"}` + "\n" +
		`{"id":"moby.image.id","aux":{"ID":"sha256:f768cf075dbe"}}` + "\n"
	var seen []string
	id, err := readBuildKit("h1", strings.NewReader(stream), func(l string) { seen = append(seen, l) })
	want := []string{"#1 [internal] load build definition from Dockerfile", "#2 [app 2/2] RUN make", "#2 cc -o app", "#2 ok", "not a trace"}
	if err != nil || id != "sha256:f768cf075dbe" || !slices.Equal(seen, want) {
		t.Errorf("id %q err %v lines\n%q\nwant\n%q", id, err, seen, want)
	}

	failed := trace(t, &controlapi.StatusResponse{Vertexes: []*controlapi.Vertex{{Digest: "sha256:c", Name: "[1/1] COPY nope /nope", Error: `"/nope" not found: not found`}}}) +
		`{"errorDetail":{"message":"failed to compute cache key"},"error":"failed to compute cache key"}` + "\n"
	_, err = readBuildKit("h1", strings.NewReader(failed), nil)
	var bf *BuildFailedError
	if !errors.As(err, &bf) || bf.Message != "failed to compute cache key" ||
		!slices.Equal(bf.Lines, []string{"#1 [1/1] COPY nope /nope", `#1 ERROR: "/nope" not found: not found`}) {
		t.Errorf("failed build: %#v", err)
	}
	if _, err := readBuildKit("h1", strings.NewReader(`{"id":"moby.buildkit.trace","aux":"!!"}`+"\n"), nil); !errors.As(err, &bf) {
		t.Errorf("no ID (and a trace that does not decode): %v", err)
	}
}

// TestHijack: POST /session is upgraded on a stream of the API's own
// dialer, with the session's headers; bytes the engine sent right after
// its 101 are not lost; another status is an error.
func TestHijack(t *testing.T) {
	for _, status := range []int{http.StatusSwitchingProtocols, http.StatusBadRequest} {
		client, server := net.Pipe()
		got := make(chan *http.Request, 1)
		go func() {
			br := bufio.NewReader(server)
			req, err := http.ReadRequest(br)
			if err != nil {
				server.Close()
				return
			}
			got <- req
			if status == http.StatusSwitchingProtocols {
				io.WriteString(server, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nhello")
			} else {
				io.WriteString(server, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			}
		}()
		a := &API{host: "h1", dial: func(context.Context, string, string) (net.Conn, error) { return client, nil }}
		sc, err := newClient(http.DefaultTransport)
		if err != nil {
			t.Fatal(err)
		}
		sc.NegotiateAPIVersionPing(types.Ping{APIVersion: "1.41"})
		a.streams = sc
		conn, err := a.hijack(context.Background(), "/session", "h2c", map[string][]string{"X-Docker-Expose-Session-Uuid": {"abc"}})
		req := <-got
		if req.Method != http.MethodPost || req.URL.Path != "/v1.41/session" || req.Header.Get("Upgrade") != "h2c" || req.Header.Get("X-Docker-Expose-Session-Uuid") != "abc" {
			t.Errorf("request %s %s %v", req.Method, req.URL, req.Header)
		}
		if status != http.StatusSwitchingProtocols {
			if err == nil || !strings.Contains(err.Error(), "400") {
				t.Errorf("status %d: err %v", status, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 5)
		if _, err := io.ReadFull(conn, b); err != nil || string(b) != "hello" {
			t.Errorf("after the upgrade read %q, %v", b, err)
		}
		conn.Close()
	}
}
