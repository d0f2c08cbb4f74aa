package state

import (
	"context"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/cluster"
)

func mustKey(t *testing.T) *Key {
	t.Helper()
	k, err := ParseKey(GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// withService gives s a stack with one service whose current generation
// mounts the given files, and earlier generations mounting prev.
func withService(s *State, files []cluster.FileMount, prev ...[]cluster.FileMount) *Service {
	sv := &Service{}
	for i, p := range prev {
		sv.Push(&cluster.Service{Stack: "st", Name: "web", Generation: i + 1, Container: cluster.ContainerSpec{Image: "x", Files: p}}, GenerationMeta{Generation: i + 1})
	}
	sv.Push(&cluster.Service{Stack: "st", Name: "web", Generation: len(prev) + 1, Container: cluster.ContainerSpec{Image: "x", Files: files}}, GenerationMeta{Generation: len(prev) + 1})
	s.Stacks["st"] = &Stack{Name: "st", Services: map[string]*Service{"web": sv}}
	return sv
}

func TestSecretsAreSealedAndOpen(t *testing.T) {
	k := mustKey(t)
	s := New("c")
	now := time.Now().UTC()
	if _, _, err := s.PutContent(cluster.KindSecret, "db", []byte("hunter2-v1"), k, now); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PutContent(cluster.KindSecret, "db", []byte("hunter2-v2"), k, now); err != nil {
		t.Fatal(err)
	}
	s.PutContent(cluster.KindSecret, "empty", nil, k, now)
	s.PutContent(cluster.KindConfig, "app", []byte("colour=blue"), k, now)

	// Written unsealed: refused by both stores' check.
	if err := checkSealed(s); !errors.Is(err, ErrClearSecret) {
		t.Errorf("checkSealed on a plain state: %v", err)
	}
	l := &Local{Path: filepath.Join(t.TempDir(), "state.json")}
	if err := l.Write(context.Background(), s); !errors.Is(err, ErrClearSecret) {
		t.Errorf("Local.Write of unsealed secrets: %v", err)
	}

	sealed, err := SealEnv(s, k)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := Marshal(sealed)
	for _, v := range []string{"hunter2-v1", "hunter2-v2", base64.StdEncoding.EncodeToString([]byte("hunter2-v1"))} {
		if strings.Contains(string(doc), v) {
			t.Errorf("sealed document holds %q", v)
		}
	}
	if !strings.Contains(string(doc), base64.StdEncoding.EncodeToString([]byte("colour=blue"))) {
		t.Error("the config's content is not in the document")
	}
	if err := checkSealed(sealed); err != nil {
		t.Errorf("checkSealed on the sealed state: %v", err)
	}
	if len(s.Secrets["db"].Versions[0].Data) == 0 {
		t.Error("SealEnv changed its input")
	}
	if !HasSealed(sealed) {
		t.Error("HasSealed misses sealed secrets")
	}

	opened, _ := clone(sealed)
	if err := OpenEnv(opened, k); err != nil {
		t.Fatal(err)
	}
	if got := string(opened.Secrets["db"].Versions[1].Data); got != "hunter2-v1" {
		t.Errorf("opened the older version as %q", got)
	}
	if v := opened.Secrets["empty"].Versions[0]; len(v.Data) != 0 || v.Sealed != "" {
		t.Errorf("empty secret opened as %+v", v)
	}
	other, _ := clone(sealed)
	if err := OpenEnv(other, mustKey(t)); !errors.Is(err, ErrWrongKey) {
		t.Errorf("open with another key: %v", err)
	}
}

func TestVersionIDs(t *testing.T) {
	k1, k2 := mustKey(t), mustKey(t)
	a, _ := VersionID(cluster.KindSecret, []byte("pw"), k1)
	b, _ := VersionID(cluster.KindSecret, []byte("pw"), k1)
	c, _ := VersionID(cluster.KindSecret, []byte("pw"), k2)
	d, _ := VersionID(cluster.KindSecret, []byte("pw2"), k1)
	if a != b || a == c || a == d || len(a) != 16 {
		t.Errorf("secret version IDs: %s %s %s %s (same content and key must agree, nothing else)", a, b, c, d)
	}
	// A plain digest of a guessable password must not be the ID.
	plain, _ := VersionID(cluster.KindConfig, []byte("pw"), nil)
	if a == plain {
		t.Error("a secret's version ID is its plain digest")
	}
	if _, err := VersionID(cluster.KindSecret, []byte("pw"), nil); err == nil {
		t.Error("a secret's version ID without a key")
	}
}

func TestPutContent(t *testing.T) {
	k := mustKey(t)
	s := New("c")
	now := time.Now().UTC()
	id1, changed, err := s.PutContent(cluster.KindConfig, "app", []byte("a"), k, now)
	if err != nil || !changed {
		t.Fatal(err, changed)
	}
	if _, changed, _ := s.PutContent(cluster.KindConfig, "app", []byte("a"), k, now); changed {
		t.Error("the same content made a new version")
	}
	id2, _, _ := s.PutContent(cluster.KindConfig, "app", []byte("b"), k, now)
	// Back to the first content: that version is current again, not a copy.
	id3, changed, _ := s.PutContent(cluster.KindConfig, "app", []byte("a"), k, now)
	o := s.Configs["app"]
	if id3 != id1 || !changed || len(o.Versions) != 2 || o.Versions[0].ID != id1 || o.Versions[1].ID != id2 {
		t.Errorf("versions %+v", o.Versions)
	}
	if _, _, err := s.PutContent(cluster.KindConfig, "bad/name", []byte("a"), k, now); err == nil {
		t.Error("a name with a slash was taken")
	}
	if _, _, err := s.PutContent(cluster.KindConfig, "big", make([]byte, cluster.MaxObjectSize+1), k, now); err == nil {
		t.Error("more than 500 KiB was taken")
	}
}

func TestRemoveObjectInUse(t *testing.T) {
	k := mustKey(t)
	s := New("c")
	id, _, _ := s.PutContent(cluster.KindSecret, "db", []byte("pw"), k, time.Now())
	withService(s, []cluster.FileMount{{Kind: cluster.KindSecret, Name: "db", Version: id, Target: "/run/secrets/db", Mode: 0o444}})
	var inUse *ObjectInUseError
	err := s.RemoveObject(cluster.KindSecret, "db")
	if !errors.As(err, &inUse) || inUse.Services[0] != "st_web" || !strings.Contains(err.Error(), "st_web") {
		t.Fatalf("remove of a used secret: %v", err)
	}
	if err := s.RemoveObject(cluster.KindConfig, "db"); !errors.Is(err, ErrNoObject) {
		t.Errorf("a config of the secret's name: %v", err)
	}
	delete(s.Stacks, "st")
	if err := s.RemoveObject(cluster.KindSecret, "db"); err != nil {
		t.Errorf("remove once unused: %v", err)
	}
}

func TestForgetUnusedVersions(t *testing.T) {
	k := mustKey(t)
	s := New("c")
	now := time.Now()
	v1, _, _ := s.PutContent(cluster.KindSecret, "db", []byte("1"), k, now)
	v2, _, _ := s.PutContent(cluster.KindSecret, "db", []byte("2"), k, now)
	v3, _, _ := s.PutContent(cluster.KindSecret, "db", []byte("3"), k, now)
	s.PutContent(cluster.KindSecret, "db", []byte("4"), k, now) // current, used by nobody yet
	s.Secrets["db"].Stack = "st"
	mount := func(v string) []cluster.FileMount {
		return []cluster.FileMount{{Kind: cluster.KindSecret, Name: "db", Version: v, Target: "/t", Mode: 0o444}}
	}
	// The service runs v3; v2 is its previous generation (rollback); v1
	// is used by nothing.
	withService(s, mount(v3), mount(v2))
	_ = v1
	s.ForgetUnusedVersions()
	var ids []string
	for _, v := range s.Secrets["db"].Versions {
		ids = append(ids, v.ID)
	}
	if len(ids) != 3 || ids[1] != v3 || ids[2] != v2 {
		t.Errorf("kept %v, want the current, %s (in use) and %s (rollback)", ids, v3, v2)
	}
	// A stack's own object goes with the last service that mounts it; one
	// made with `secret create` stays.
	s.PutContent(cluster.KindSecret, "made-by-hand", []byte("x"), k, now)
	delete(s.Stacks, "st")
	s.ForgetUnusedVersions()
	if _, ok := s.Secrets["db"]; ok {
		t.Error("the stack's secret outlived the stack")
	}
	if _, ok := s.Secrets["made-by-hand"]; !ok {
		t.Error("a created secret was forgotten")
	}
}

// TestFormatWithFiles: a state with configs, secrets or file mounts is
// written as format 2, which a drover before them refuses instead of
// dropping them; others stay format 1.
func TestFormatWithFiles(t *testing.T) {
	k := mustKey(t)
	s := New("c")
	withService(s, nil)
	sealed, _ := SealEnv(s, k)
	if sealed.Format != 1 {
		t.Errorf("a state without files: format %d", sealed.Format)
	}
	withService(s, []cluster.FileMount{{Kind: cluster.KindConfig, Name: "a", Version: "ab", Target: "/a", Mode: 0o444}})
	if sealed, _ = SealEnv(s, k); sealed.Format != 2 {
		t.Errorf("a state with file mounts: format %d", sealed.Format)
	}
	s = New("c")
	s.PutContent(cluster.KindSecret, "x", []byte("y"), k, time.Now())
	if sealed, _ = SealEnv(s, k); sealed.Format != 2 {
		t.Errorf("a state with a secret: format %d", sealed.Format)
	}
	old := *sealed
	old.Format = 3
	if err := old.Validate("c"); !errors.Is(err, ErrNewerFormat) {
		t.Errorf("format 3: %v", err)
	}
}

func TestManagersRefuseClearSecrets(t *testing.T) {
	c := newFakeCluster("h1", "h2", "h3")
	m := c.managers(nil)
	lk := mustLock(t, m, "alice@lap")
	defer lk.Release(context.Background())
	s := stateAt("lin", 1, "first")
	s.PutContent(cluster.KindSecret, "db", []byte("hunter2"), mustKey(t), time.Now())
	if err := m.Write(context.Background(), s); !errors.Is(err, ErrClearSecret) {
		t.Fatalf("managers Write of an unsealed secret: %v", err)
	}
	for _, h := range c.names {
		for name, f := range c.host(h).files {
			if strings.Contains(string(f.data), "hunter2") {
				t.Errorf("%s: %s holds the secret", h, name)
			}
		}
	}
}
