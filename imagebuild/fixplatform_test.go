package imagebuild

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"testing"

	"github.com/drover-sh/drover/cluster"
)

// saveArchive is a small `docker save` archive of one image.
func saveArchive(t *testing.T, config string) []byte {
	t.Helper()
	sum := sha256.Sum256([]byte(config))
	cfgName := hex.EncodeToString(sum[:]) + ".json"
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name, body string) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		io.WriteString(tw, body)
	}
	add("abc/layer.tar", "layer bytes")
	add(cfgName, config)
	add("manifest.json", `[{"Config":"`+cfgName+`","RepoTags":["s_web:1"],"Layers":["abc/layer.tar"]}]`)
	add("repositories", `{"s_web":{"1":"abc"}}`)
	tw.Close()
	return buf.Bytes()
}

func TestSetPlatform(t *testing.T) {
	in := saveArchive(t, `{"architecture":"amd64","os":"linux","config":{"Env":["A=1"],"Labels":{"drover.service":"s_web"}},"rootfs":{"type":"layers","diff_ids":["sha256:1"]}}`)
	var out bytes.Buffer
	id, err := setPlatform(bytes.NewReader(in), &out, "sha256:orig", cluster.Platform{OS: "linux", Arch: "arm", Variant: "v7"})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(&out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name], _ = io.ReadAll(tr)
	}
	var ms []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &ms); err != nil || len(ms) != 1 || ms[0].RepoTags != nil || ms[0].Config != id[7:]+".json" {
		t.Fatalf("manifest %s (%v), id %s", files["manifest.json"], err, id)
	}
	cfg := files[ms[0].Config]
	if sum := sha256.Sum256(cfg); "sha256:"+hex.EncodeToString(sum[:]) != id {
		t.Errorf("the ID is not the config's digest")
	}
	var c struct {
		OS, Architecture, Variant string
		Config                    struct {
			Env    []string
			Labels map[string]string
		}
	}
	json.Unmarshal(cfg, &c)
	if c.OS != "linux" || c.Architecture != "arm" || c.Variant != "v7" || c.Config.Env[0] != "A=1" ||
		c.Config.Labels[LabelService] != "s_web" || c.Config.Labels[LabelPlatformOf] != "sha256:orig" {
		t.Errorf("config %s", cfg)
	}
	if string(files["abc/layer.tar"]) != "layer bytes" || files["repositories"] != nil {
		t.Errorf("files %v", files)
	}
	// The same image gives the same copy.
	var again bytes.Buffer
	if id2, _ := setPlatform(bytes.NewReader(in), &again, "sha256:orig", cluster.Platform{OS: "linux", Arch: "arm", Variant: "v7"}); id2 != id {
		t.Errorf("not deterministic: %s, %s", id, id2)
	}
}
