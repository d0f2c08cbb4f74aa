package command

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestLoadOrCreateKeyConcurrent: many first runs at once make one key;
// every one of them gets that key, none reads a partial file, and no
// temporary file is left.
func TestLoadOrCreateKeyConcurrent(t *testing.T) {
	for round := 0; round < 20; round++ {
		dir := filepath.Join(t.TempDir(), "cfg", "drover")
		path := filepath.Join(dir, "c.key")
		const n = 16
		ids := make([]string, n)
		created := make([]bool, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				k, c, err := loadOrCreateKey(path)
				errs[i], created[i] = err, c
				if err == nil {
					ids[i] = k.ID()
				}
			}()
		}
		close(start)
		wg.Wait()
		makers := 0
		for i := 0; i < n; i++ {
			if errs[i] != nil {
				t.Fatalf("round %d, run %d: %v", round, i, errs[i])
			}
			if ids[i] != ids[0] {
				t.Fatalf("round %d: runs got different keys %s and %s", round, ids[0], ids[i])
			}
			if created[i] {
				makers++
			}
		}
		if makers != 1 {
			t.Fatalf("round %d: %d runs say they created the key", round, makers)
		}
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("key file: %v %v", err, fi)
		}
		left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
		if len(left) != 0 {
			t.Fatalf("temporary files left: %v", left)
		}
	}
}

func TestLoadOrCreateKeyKeepsExisting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.key")
	k1, c1, err := loadOrCreateKey(path)
	if err != nil || !c1 {
		t.Fatal(err, c1)
	}
	k2, c2, err := loadOrCreateKey(path)
	if err != nil || c2 || k2.ID() != k1.ID() {
		t.Fatalf("second call: %v created=%v", err, c2)
	}
	os.WriteFile(path, []byte("not a key\n"), 0o600)
	if _, _, err := loadOrCreateKey(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("damaged key file: %v", err)
	}
}
