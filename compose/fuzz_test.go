package compose

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// maxFuzzCompose bounds a fuzzed compose file: compose-go's YAML, merge and
// interpolation are slow enough that big inputs only slow the search down,
// and real compose files that matter here are small.
const maxFuzzCompose = 8 << 10

// FuzzLoad: whatever a compose file holds, Load accepts it as a stack of
// the given name or refuses it with an error; it never panics or hangs.
// Seeds in testdata/fuzz are the repository's compose fixtures.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("services:\n  web:\n    image: nginx\n    deploy: {replicas: 2}\n"))
	f.Add([]byte("services:\n  web:\n    image: ${IMG:?need IMG}\n"))
	f.Add([]byte("services: {a: {image: x, ports: ['80-81:80-81/udp'], healthcheck: {test: [CMD, x], interval: 1s}}}\n"))
	f.Add([]byte("x-a: &a {image: x}\nservices: {a: *a, b: {<<: *a, depends_on: [a]}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzCompose {
			return
		}
		dir := t.TempDir()
		p := filepath.Join(dir, "compose.yml")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		st, _, err := Load(ctx, Options{Files: []string{p}, StackName: "fz", WorkingDir: dir, Environ: []string{"A=1"}})
		if err != nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatal("Load took longer than 20s")
		}
		if st.Name != "fz" {
			t.Fatalf("stack named %q", st.Name)
		}
		for name, svc := range st.Services {
			if svc == nil || svc.Stack != "fz" || svc.Name != name {
				t.Fatalf("service %q: %+v", name, svc)
			}
			svc.Container.Hash()
		}
	})
}
