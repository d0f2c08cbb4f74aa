package hostfiles

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/drover-sh/drover/cluster"
)

const clusterName = "prod"

var store = map[string]string{
	"secret/db/aaaa":  "pw-1",
	"secret/db/bbbb":  "pw-2",
	"config/app/cccc": "colour=blue\n",
}

func content(kind cluster.ObjectKind, name, version string) ([]byte, error) {
	v, ok := store[string(kind)+"/"+name+"/"+version]
	if !ok {
		return nil, errors.New("version " + version + " is no longer in drover's store")
	}
	return []byte(v), nil
}

var (
	dbV1  = cluster.FileMount{Kind: cluster.KindSecret, Name: "db", Version: "aaaa", Target: "/run/secrets/db", Mode: 0o400, UID: 1000, GID: 1000}
	dbV2  = cluster.FileMount{Kind: cluster.KindSecret, Name: "db", Version: "bbbb", Target: "/run/secrets/db", Mode: 0o400, UID: 1000, GID: 1000}
	appV1 = cluster.FileMount{Kind: cluster.KindConfig, Name: "app", Version: "cccc", Target: "/app.conf", Mode: 0o444}
)

func TestSyncWritesMissingFilesWithModeAndOwner(t *testing.T) {
	fs := newFakeFS()
	res, err := Sync(context.Background(), fs, clusterName, []cluster.FileMount{dbV1, appV1, dbV1}, content)
	if err != nil {
		t.Fatal(err)
	}
	if res.Written != 2 || res.Repaired != 0 || res.Held != 2 {
		t.Errorf("result %+v, want 2 written, 2 held", res)
	}
	f := fs.files["/var/lib/drover/secrets/prod/db/aaaa-1000-1000-0400"]
	if string(f.data) != "pw-1" || f.mode != 0o400 || f.uid != 1000 || f.gid != 1000 {
		t.Errorf("secret file %+v", f)
	}
	for _, d := range []string{"/var/lib/drover/secrets", "/var/lib/drover/secrets/prod", "/var/lib/drover/configs", "/var/lib/drover/configs/prod", "/var/lib/drover/secrets/prod/db"} {
		if fs.dirs[d] != 0o700 {
			t.Errorf("directory %s has mode %o, want 0700", d, fs.dirs[d])
		}
	}
	// A second sync reads and compares, writes nothing.
	fs.calls = nil
	res, err = Sync(context.Background(), fs, clusterName, []cluster.FileMount{dbV1, appV1}, content)
	if err != nil || res.Written+res.Repaired != 0 {
		t.Errorf("second sync: %+v %v", res, err)
	}
	for _, c := range fs.calls {
		if strings.HasPrefix(c, "write") || strings.HasPrefix(c, "rewrite") {
			t.Errorf("second sync wrote: %s", c)
		}
	}
}

func TestSyncRepairsAlteredFilesInPlace(t *testing.T) {
	for _, tc := range []struct {
		name  string
		alter func(f *fakeFile)
	}{
		{"content, same size", func(f *fakeFile) { f.data = []byte("pw-X") }},
		{"content, other size", func(f *fakeFile) { f.data = []byte("tampered") }},
		{"mode", func(f *fakeFile) { f.mode = 0o666 }},
		{"owner", func(f *fakeFile) { f.uid = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFakeFS()
			if _, err := Sync(context.Background(), fs, clusterName, []cluster.FileMount{dbV1}, content); err != nil {
				t.Fatal(err)
			}
			p := dbV1.HostPath(clusterName)
			f := fs.files[p]
			inode := f.inode
			tc.alter(&f)
			fs.files[p] = f
			res, err := Sync(context.Background(), fs, clusterName, []cluster.FileMount{dbV1}, content)
			if err != nil || res.Repaired != 1 || res.Written != 0 {
				t.Fatalf("repair: %+v %v", res, err)
			}
			got := fs.files[p]
			if string(got.data) != "pw-1" || got.mode != 0o400 || got.uid != 1000 {
				t.Errorf("repaired file %+v", got)
			}
			if got.inode != inode {
				t.Error("the repair replaced the file: running containers keep the altered inode")
			}
		})
	}
}

func TestSyncRemovedFileIsWrittenAgain(t *testing.T) {
	fs := newFakeFS()
	Sync(context.Background(), fs, clusterName, []cluster.FileMount{dbV1}, content)
	delete(fs.files, dbV1.HostPath(clusterName))
	res, err := Sync(context.Background(), fs, clusterName, []cluster.FileMount{dbV1}, content)
	if err != nil || res.Written != 1 {
		t.Errorf("%+v %v", res, err)
	}
}

func TestSyncErrorsNameTheObjectNotTheValue(t *testing.T) {
	fs := newFakeFS()
	gone := cluster.FileMount{Kind: cluster.KindSecret, Name: "db", Version: "dddd", Target: "/x", Mode: 0o444}
	_, err := Sync(context.Background(), fs, clusterName, []cluster.FileMount{gone, dbV1}, content)
	if err == nil || !strings.Contains(err.Error(), "secret db") || !strings.Contains(err.Error(), "dddd") {
		t.Fatalf("error %v, want one naming secret db and its version", err)
	}
	if strings.Contains(err.Error(), "pw-1") {
		t.Errorf("error holds a secret value: %v", err)
	}
	if _, ok := fs.files[dbV1.HostPath(clusterName)]; !ok {
		t.Error("one missing version stopped the delivery of the others")
	}
	unresolved := dbV1
	unresolved.Version = ""
	if _, err := Sync(context.Background(), fs, clusterName, []cluster.FileMount{unresolved}, content); err == nil {
		t.Error("a mount without a version was delivered")
	}
}

func TestPruneKeepsWhatIsMounted(t *testing.T) {
	fs := newFakeFS()
	Sync(context.Background(), fs, clusterName, []cluster.FileMount{dbV1, dbV2, appV1}, content)
	// Another cluster's file and a torn temporary file of ours.
	other := dbV1.HostPath("staging")
	fs.files[other] = fakeFile{data: []byte("x")}
	tmp := "/var/lib/drover/secrets/prod/db/.tmp-0123"
	fs.files[tmp] = fakeFile{data: []byte("pw")}

	res, err := Prune(context.Background(), fs, clusterName, map[string]bool{dbV2.HostPath(clusterName): true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Removed != 3 || res.Held != 1 {
		t.Errorf("prune %+v, want 3 removed (db v1, app, the temporary file), 1 held", res)
	}
	if _, ok := fs.files[dbV2.HostPath(clusterName)]; !ok {
		t.Error("the mounted version was removed")
	}
	if _, ok := fs.files[other]; !ok {
		t.Error("another cluster's file was removed")
	}
	if _, ok := fs.dirs["/var/lib/drover/configs/prod/app"]; ok {
		t.Error("the emptied object directory was left")
	}
	// Nothing mounted: everything of the cluster goes.
	res, _ = Prune(context.Background(), fs, clusterName, nil)
	if res.Removed != 1 || res.Held != 0 || len(fs.files) != 1 {
		t.Errorf("second prune %+v, files left %v", res, fmt.Sprint(len(fs.files)))
	}
}
