package proxy

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

func TestDockerHealth(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{
		"healthy":   `{"State":{"Running":true,"Health":{"Status":"healthy"}}}`,
		"unhealthy": `{"State":{"Running":true,"Health":{"Status":"unhealthy"}}}`,
		"starting":  `{"State":{"Running":true,"Health":{"Status":"starting"}}}`,
		"nohc":      `{"State":{"Running":true}}`,
		"stopped":   `{"State":{"Running":false}}`,
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/containers/"), "/json")
		if r.Method != http.MethodGet {
			t.Errorf("method %s: the proxy only reads", r.Method)
		}
		body, ok := states[id]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(body))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	d := NewDockerHealth(sock)
	for id, want := range map[string]bool{"healthy": true, "nohc": true, "unhealthy": false, "starting": false, "stopped": false, "gone": false} {
		got, err := d.ContainerReady(context.Background(), id)
		if got != want {
			t.Errorf("%s: ready %v (%v), want %v", id, got, err, want)
		}
		if !want && err == nil {
			t.Errorf("%s: not ready without a reason", id)
		}
	}
}
