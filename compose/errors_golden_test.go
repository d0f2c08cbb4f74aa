package compose

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestErrorListing keeps the listing of compose files with several
// mistakes in golden files: every mistake in one run, each FILE:LINE:COL,
// with a did-you-mean where one is close.
func TestErrorListing(t *testing.T) {
	files, _ := filepath.Glob("../testdata/compose/errors/*.yml")
	if len(files) < 2 {
		t.Fatal("no ../testdata/compose/errors/*.yml")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, _, err := Load(context.Background(), Options{Files: []string{f}, StackName: "demo"})
			if err == nil {
				t.Fatal("no error")
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".yml") + ".golden"
			if *update {
				os.WriteFile(golden, []byte(got), 0o644)
				return
			}
			want, _ := os.ReadFile(golden)
			if got != string(want) {
				t.Errorf("got\n%s\nwant (%s; -update rewrites it)\n%s", got, golden, want)
			}
		})
	}
}
