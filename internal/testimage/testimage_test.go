package testimage

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

func sample(tag, version string, hc bool) Image {
	img := Image{
		Tags:         []string{tag},
		Files:        []File{{Path: "/app", Mode: 0o755, Data: []byte("#!binary")}, {Path: "tmp/", Mode: 0o1777}},
		Entrypoint:   []string{"/app"},
		Env:          []string{"VERSION=" + version},
		ExposedPorts: []string{"8080"},
		Labels:       map[string]string{"a": "b"},
	}
	if hc {
		img.Healthcheck = AppHealthcheck("")
	}
	return img
}

func readTar(t *testing.T, b []byte) (map[string][]byte, map[string]*tar.Header, []string) {
	t.Helper()
	files := map[string][]byte{}
	hdrs := map[string]*tar.Header{}
	var order []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		files[h.Name] = data
		hdrs[h.Name] = h
		order = append(order, h.Name)
	}
	return files, hdrs, order
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestArchive(t *testing.T) {
	var a, b bytes.Buffer
	imgs := []Image{sample("drover-test/app:v1", "v1", true), sample("drover-test/app:v2", "v2", false)}
	built, err := WriteArchive(&a, imgs...)
	if err != nil {
		t.Fatal(err)
	}
	built2, err := WriteArchive(&b, imgs...)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) || built[0].ID != built2[0].ID {
		t.Fatal("output is not deterministic")
	}
	if built[0].ID == built[1].ID || built[0].DiffID != built[1].DiffID {
		t.Fatalf("ids: %+v", built)
	}

	files, _, _ := readTar(t, a.Bytes())
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest) != 2 {
		t.Fatalf("manifest: %+v", manifest)
	}
	layerFiles := 0
	for name := range files {
		if strings.HasSuffix(name, "/layer.tar") {
			layerFiles++
		}
	}
	if layerFiles != 1 {
		t.Errorf("shared layer written %d times", layerFiles)
	}
	for i, m := range manifest {
		cfgBytes := files[m.Config]
		if "sha256:"+sum(cfgBytes) != built[i].ID || m.Config != sum(cfgBytes)+".json" {
			t.Errorf("config digest mismatch for %s", m.Config)
		}
		layer := files[m.Layers[0]]
		var cfg struct {
			Architecture, OS string
			Config           struct {
				Entrypoint   []string
				Env          []string
				ExposedPorts map[string]struct{}
				Healthcheck  *struct {
					Test     []string
					Interval int64
					Retries  int
				}
			} `json:"config"`
			RootFS struct {
				Type    string   `json:"type"`
				DiffIDs []string `json:"diff_ids"`
			} `json:"rootfs"`
		}
		if err := json.Unmarshal(cfgBytes, &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.Architecture != "amd64" || cfg.OS != "linux" || cfg.RootFS.Type != "layers" {
			t.Errorf("config: %s", cfgBytes)
		}
		if len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != "sha256:"+sum(layer) {
			t.Errorf("diff_ids %v, layer sha %s", cfg.RootFS.DiffIDs, sum(layer))
		}
		if _, ok := cfg.Config.ExposedPorts["8080/tcp"]; !ok {
			t.Errorf("ports %v", cfg.Config.ExposedPorts)
		}
		if (cfg.Config.Healthcheck != nil) != (i == 0) {
			t.Errorf("image %d healthcheck %+v", i, cfg.Config.Healthcheck)
		}
		if i == 0 && (cfg.Config.Healthcheck.Interval != 1e9 || cfg.Config.Healthcheck.Retries != 3 ||
			strings.Join(cfg.Config.Healthcheck.Test, " ") != "CMD /app -check http://127.0.0.1:8080/health") {
			t.Errorf("healthcheck %+v", cfg.Config.Healthcheck)
		}

		lf, lh, order := readTar(t, layer)
		if strings.Join(order, ",") != "app,tmp/" {
			t.Errorf("layer entries %v", order)
		}
		if lh["app"].Mode != 0o755 || string(lf["app"]) != "#!binary" || lh["app"].Uid != 0 {
			t.Errorf("app entry %+v", lh["app"])
		}
		if lh["tmp/"].Mode != 0o1777 || lh["tmp/"].Typeflag != tar.TypeDir {
			t.Errorf("tmp entry %+v", lh["tmp/"])
		}
		if !lh["app"].ModTime.Equal(Epoch) {
			t.Errorf("mtime %v", lh["app"].ModTime)
		}
	}
}

func TestLayerParents(t *testing.T) {
	l, err := Layer([]File{{Path: "data/x/blob.bin", Data: PseudoRandom("s", 100)}, {Path: "data/", Mode: 0o700}})
	if err != nil {
		t.Fatal(err)
	}
	_, h, order := readTar(t, l)
	if strings.Join(order, ",") != "data/,data/x/,data/x/blob.bin" {
		t.Fatalf("order %v", order)
	}
	if h["data/"].Mode != 0o700 || h["data/x/"].Mode != 0o755 || h["data/x/blob.bin"].Mode != 0o644 {
		t.Errorf("modes")
	}
	if _, err := Layer([]File{{Path: "a", Data: nil}, {Path: "a/b"}}); err == nil {
		t.Error("file as parent accepted")
	}
	if _, err := Layer([]File{{Path: "a"}, {Path: "/a"}}); err == nil {
		t.Error("duplicate accepted")
	}
}

func TestPseudoRandom(t *testing.T) {
	a, b := PseudoRandom("x", 1000), PseudoRandom("x", 1000)
	if !bytes.Equal(a, b) || len(a) != 1000 || bytes.Equal(a, PseudoRandom("y", 1000)) {
		t.Fatal("PseudoRandom")
	}
	// pinned: the big test image must have the same ID on every machine
	if got := sum(PseudoRandom("drover", 1000)); got != "7454eb102eb47de6f4a20b5fe03098a8f118679d70c5e69417868f9c920b913a" {
		t.Fatal(got)
	}
}

func TestBadInput(t *testing.T) {
	var buf bytes.Buffer
	for _, img := range []Image{
		{Files: []File{{Path: "app"}}},
		{Tags: []string{"notag"}, Files: []File{{Path: "app"}}},
		{Tags: []string{"Upper/app:v1"}, Files: []File{{Path: "app"}}},
		{Tags: []string{"a:v1"}, Files: []File{{Path: "app"}}, Env: []string{"NOEQ"}},
	} {
		if _, err := WriteArchive(&buf, img); err == nil {
			t.Errorf("accepted %+v", img)
		}
	}
	if _, err := WriteArchive(&buf, sample("a:v1", "v1", false), sample("a:v1", "v2", false)); err == nil {
		t.Error("duplicate tag accepted")
	}
}
