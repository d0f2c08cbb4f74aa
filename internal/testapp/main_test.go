package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testApp(env map[string]string, files map[string]bool) *app {
	return &app{
		version:  "v7",
		hostname: "box",
		platform: "linux/386",
		started:  time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		getenv:   func(k string) string { return env[k] },
		environ: func() []string {
			var out []string
			for k, v := range env {
				out = append(out, k+"="+v)
			}
			return out
		},
		exists: func(p string) bool { return files[p] },
	}
}

func get(t *testing.T, h http.Handler, url string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", url, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

func TestRoot(t *testing.T) {
	a := testApp(map[string]string{
		"VERSION": "v7", "PORT": "9000", "APP_COLOR": "blue", "DROVER_SERVICE": "web",
		"SECRET": "hidden", "EXTRA": "shown", "SHOW_ENV": "EXTRA, NOPE",
	}, nil)
	code, body := get(t, a.handler(), "/")
	if code != 200 {
		t.Fatalf("code %d", code)
	}
	var got struct {
		Version, Hostname, Platform, Started string
		Env                                  map[string]string
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if got.Version != "v7" || got.Hostname != "box" || got.Platform != "linux/386" || got.Started != "2024-01-02T03:04:05Z" {
		t.Errorf("got %+v", got)
	}
	want := map[string]string{"VERSION": "v7", "PORT": "9000", "APP_COLOR": "blue", "DROVER_SERVICE": "web", "EXTRA": "shown"}
	if len(got.Env) != len(want) {
		t.Errorf("env = %v, want %v", got.Env, want)
	}
	for k, v := range want {
		if got.Env[k] != v {
			t.Errorf("env[%s] = %q, want %q", k, got.Env[k], v)
		}
	}
	if code, _ := get(t, a.handler(), "/nope"); code != 404 {
		t.Errorf("/nope: %d", code)
	}
}

func TestHealth(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   map[string]string
		files map[string]bool
		code  int
		body  string
	}{
		{"ok", nil, nil, 200, "ok"},
		{"fail env", map[string]string{"FAIL_HEALTH": "1"}, nil, 500, "unhealthy"},
		{"fail env other value", map[string]string{"FAIL_HEALTH": "0"}, nil, 200, "ok"},
		{"fail file", nil, map[string]bool{unhealthyFile: true}, 500, "unhealthy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, testApp(tc.env, tc.files).handler(), "/health")
			if code != tc.code || body != tc.body {
				t.Errorf("got %d %q, want %d %q", code, body, tc.code, tc.body)
			}
		})
	}
}

func TestEnvRaw(t *testing.T) {
	tricky := "a b\t'\"$HOME`x`\\n;&|*?{}[]=é\x01end "
	a := testApp(map[string]string{"TRICKY": tricky, "EMPTY": "", "EQ": "k=v=w"}, nil)
	h := a.handler()
	for name, want := range map[string]string{"TRICKY": tricky, "EMPTY": "", "EQ": "k=v=w"} {
		code, body := get(t, h, "/env?name="+name)
		if code != 200 || body != want {
			t.Errorf("%s: got %d %q, want %q", name, code, body, want)
		}
	}
	if code, _ := get(t, h, "/env?name=UNSET"); code != 404 {
		t.Errorf("UNSET: %d", code)
	}
	if code, body := get(t, h, "/env"); code != 200 || !strings.Contains(body, "TRICKY\n") {
		t.Errorf("/env: %d %q", code, body)
	}
}

func TestCheck(t *testing.T) {
	srv := httptest.NewServer(testApp(map[string]string{"FAIL_HEALTH": "1"}, nil).handler())
	defer srv.Close()
	if rc := check([]string{srv.URL + "/"}, io.Discard); rc != 0 {
		t.Errorf("check / = %d", rc)
	}
	if rc := check([]string{srv.URL + "/health"}, io.Discard); rc != 1 {
		t.Errorf("check /health = %d", rc)
	}
	if rc := check([]string{"http://127.0.0.1:1/"}, io.Discard); rc != 1 {
		t.Errorf("check closed port = %d", rc)
	}
	if rc := check(nil, io.Discard); rc != 2 {
		t.Errorf("check no args = %d", rc)
	}
}

func TestTouchRm(t *testing.T) {
	p := filepath.Join(t.TempDir(), "unhealthy")
	if touch([]string{p}) != 0 {
		t.Fatal("touch")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	if remove([]string{p}) != 0 || remove([]string{p}) != 0 {
		t.Fatal("rm")
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatal("still there")
	}
}
