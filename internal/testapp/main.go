// Command testapp is a tiny static HTTP server used by drover's e2e tests and
// demo. It is built with CGO_ENABLED=0 and packed into FROM-scratch style
// images by internal/testimage.
//
// Environment:
//
//	PORT          listen port (default 8080)
//	VERSION       reported version (default "v1")
//	FAIL_HEALTH=1 /health answers 500 (as does the existence of /tmp/unhealthy)
//	CRASH=1       exit 1 at start
//	CRASH_AFTER   exit 1 after this duration (e.g. 5s)
//	START_DELAY   sleep this long before listening (e.g. 2s)
//	SHOW_ENV      comma-separated extra variable names to report in GET /
//	HEALTH_FILE   /health answers 500 while this file is missing or its
//	              content holds the word "unhealthy" (a mounted config or
//	              secret can make a replica sick)
//	UDP_PORT      also answer each datagram on this UDP port with
//	              "HOSTNAME DATAGRAM" (the routing mesh's UDP tests)
//
// Endpoints:
//
//	GET /           {"version":..,"hostname":..,"platform":..,"env":{..},"started":..}
//	                (platform: the binary's GOOS/GOARCH, e.g. linux/386)
//	GET /health     200 "ok" or 500 "unhealthy"
//	GET /env?name=X raw value of X (404 when unset)
//
// Subcommands, so that an image without a shell can check and poke itself:
//
//	/app -check URL   GET URL, exit 0 on 2xx, 1 otherwise (3s timeout)
//	/app -touch PATH  create PATH (e.g. /tmp/unhealthy)
//	/app -rm PATH     remove PATH
//	/app -cat PATH    print PATH's content (a mounted config or secret)
//	/app -stat PATH   print PATH's permission bits, uid and gid ("0444 0 0")
//
// SIGTERM and SIGINT shut the server down gracefully and exit 0.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"
)

// unhealthyFile makes /health fail while it exists.
var unhealthyFile = "/tmp/unhealthy"

func main() {
	if len(os.Args) >= 2 {
		switch os.Args[1] {
		case "-check", "--check":
			os.Exit(check(os.Args[2:], os.Stderr))
		case "-touch", "--touch":
			os.Exit(touch(os.Args[2:]))
		case "-rm", "--rm":
			os.Exit(remove(os.Args[2:]))
		case "-cat", "--cat":
			os.Exit(cat(os.Args[2:]))
		case "-stat", "--stat":
			os.Exit(stat(os.Args[2:]))
		case "-h", "-help", "--help":
			fmt.Println("usage: app | app -check URL | app -touch PATH | app -rm PATH")
			return
		}
	}
	os.Exit(serve())
}

func check(args []string, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: app -check URL")
		return 2
	}
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(args[0])
	if err != nil {
		fmt.Fprintln(stderr, "check:", err)
		return 1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintln(stderr, "check:", resp.Status)
		return 1
	}
	return 0
}

func touch(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: app -touch PATH")
		return 2
	}
	f, err := os.OpenFile(args[0], os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	f.Close()
	return 0
}

func remove(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: app -rm PATH")
		return 2
	}
	if err := os.Remove(args[0]); err != nil && !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func cat(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: app -cat PATH")
		return 2
	}
	b, err := os.ReadFile(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	os.Stdout.Write(b)
	return 0
}

func stat(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: app -stat PATH")
		return 2
	}
	st, err := os.Stat(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	uid, gid := -1, -1
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		uid, gid = int(sys.Uid), int(sys.Gid)
	}
	kind := "file"
	if st.IsDir() {
		kind = "dir"
	}
	fmt.Printf("%04o %d %d %s\n", st.Mode().Perm(), uid, gid, kind)
	return 0
}

func envDuration(name string) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: %v", name, v, err)
	}
	return d, nil
}

func serve() int {
	log.SetFlags(0)
	log.SetPrefix("testapp: ")
	if os.Getenv("CRASH") == "1" {
		log.Print("CRASH=1: exiting with status 1")
		return 1
	}
	startDelay, err := envDuration("START_DELAY")
	if err != nil {
		log.Print(err)
		return 2
	}
	crashAfter, err := envDuration("CRASH_AFTER")
	if err != nil {
		log.Print(err)
		return 2
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)

	if startDelay > 0 {
		log.Printf("START_DELAY: sleeping %s", startDelay)
		select {
		case <-time.After(startDelay):
		case s := <-sigs:
			log.Printf("%s during start delay: exiting", s)
			return 0
		}
	}

	app := newApp()
	srv := &http.Server{Handler: app.handler(), ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		log.Print(err)
		return 1
	}
	log.Printf("version %s listening on %s", app.version, ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if up := os.Getenv("UDP_PORT"); up != "" {
		pc, err := net.ListenPacket("udp", ":"+up)
		if err != nil {
			log.Print(err)
			return 1
		}
		defer pc.Close()
		go serveUDP(pc, app.hostname)
	}

	var crash <-chan time.Time
	if crashAfter > 0 {
		crash = time.After(crashAfter)
	}
	select {
	case s := <-sigs:
		log.Printf("%s: shutting down", s)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			log.Printf("shutdown: %v", err)
		}
		return 0
	case <-crash:
		log.Printf("CRASH_AFTER=%s: exiting with status 1", crashAfter)
		return 1
	case err := <-errc:
		log.Print(err)
		return 1
	}
}

type app struct {
	version  string
	hostname string
	platform string // the binary's: which variant of a multi-platform image runs
	started  time.Time
	getenv   func(string) string
	environ  func() []string
	exists   func(string) bool
}

func newApp() *app {
	v := os.Getenv("VERSION")
	if v == "" {
		v = "v1"
	}
	h, _ := os.Hostname()
	return &app{
		version:  v,
		hostname: h,
		platform: runtime.GOOS + "/" + runtime.GOARCH,
		started:  time.Now().UTC(),
		getenv:   os.Getenv,
		environ:  os.Environ,
		exists: func(p string) bool {
			_, err := os.Stat(p)
			return err == nil
		},
	}
}

// selectedEnv is what GET / reports: VERSION, PORT, every APP_* and DROVER_*
// variable, and the names listed in SHOW_ENV.
func (a *app) selectedEnv() map[string]string {
	out := map[string]string{}
	extra := map[string]bool{"VERSION": true, "PORT": true}
	for _, n := range strings.Split(a.getenv("SHOW_ENV"), ",") {
		if n = strings.TrimSpace(n); n != "" {
			extra[n] = true
		}
	}
	for _, kv := range a.environ() {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if extra[k] || strings.HasPrefix(k, "APP_") || strings.HasPrefix(k, "DROVER_") {
			out[k] = v
		}
	}
	return out
}

func (a *app) healthy() bool {
	if f := a.getenv("HEALTH_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil || strings.Contains(string(b), "unhealthy") {
			return false
		}
	}
	return a.getenv("FAIL_HEALTH") != "1" && !a.exists(unhealthyFile)
}

func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		body := struct {
			Version  string            `json:"version"`
			Hostname string            `json:"hostname"`
			Platform string            `json:"platform"`
			Env      map[string]string `json:"env"`
			Started  string            `json:"started"`
		}{a.version, a.hostname, a.platform, a.selectedEnv(), a.started.Format(time.RFC3339Nano)}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		_ = enc.Encode(body)
	})
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !a.healthy() {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "unhealthy")
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		if name == "" {
			// list the names, one per line, for debugging
			var names []string
			for _, kv := range a.environ() {
				if k, _, ok := strings.Cut(kv, "="); ok {
					names = append(names, k)
				}
			}
			sort.Strings(names)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(w, strings.Join(names, "\n")+"\n")
			return
		}
		for _, kv := range a.environ() {
			if k, v, ok := strings.Cut(kv, "="); ok && k == name {
				w.Header().Set("Content-Type", "application/octet-stream")
				io.WriteString(w, v)
				return
			}
		}
		http.Error(w, "not set: "+name, http.StatusNotFound)
	})
	return mux
}

// serveUDP answers each datagram with "NAME DATAGRAM".
func serveUDP(pc net.PacketConn, name string) {
	buf := make([]byte, 64*1024)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		pc.WriteTo(append([]byte(name+" "), buf[:n]...), from)
	}
}
