package cluster

import (
	"reflect"
	"testing"
)

func TestHostPathRoundTrip(t *testing.T) {
	f := FileMount{Kind: KindSecret, Name: "db_password.v2", Version: "0123456789abcdef", Target: "/run/secrets/db", UID: 1000, GID: 33, Mode: 0o400}
	p := f.HostPath("prod")
	if p != "/var/lib/drover/secrets/prod/db_password.v2/0123456789abcdef-1000-33-0400" {
		t.Fatalf("HostPath = %s", p)
	}
	got, ok := ParseHostPath("prod", p)
	f.Target = "" // not in the path
	if !ok || !reflect.DeepEqual(got, f) {
		t.Errorf("ParseHostPath = %+v %v", got, ok)
	}
	for _, bad := range []string{
		f.HostPath("staging"), // another cluster's
		"/var/lib/drover/secrets/prod/db/.tmp-abc",
		"/var/lib/drover/secrets/prod/db/0123-0-0-0444/x",
		"/var/lib/drover/volumes/prod/db/0123-0-0-0444",
		"/var/lib/drover/configs/prod/db/XYZ-0-0-0444",
		"/var/lib/drover/configs/prod/db/0123-0-0-1777",
		"/var/lib/drover/configs/prod/db/0123-0-0-444", // not as HostPath writes it
		"/srv/db",
	} {
		if _, ok := ParseHostPath("prod", bad); ok {
			t.Errorf("ParseHostPath(%q) accepted", bad)
		}
	}
}

func TestFileMountCheck(t *testing.T) {
	ok := FileMount{Kind: KindConfig, Name: "app", Version: "ab12", Target: "/app.conf", Mode: 0o444}
	if err := ok.Check(); err != nil {
		t.Error(err)
	}
	for _, f := range []FileMount{
		{Kind: KindConfig, Name: "app", Target: "/x", Mode: 0o444},                     // unresolved
		{Kind: KindConfig, Name: "../etc", Version: "ab12", Target: "/x", Mode: 0o444}, // escapes
		{Kind: KindConfig, Name: "app", Version: "ab12", Target: "/x", Mode: 0o4755},   // setuid
		{Kind: KindConfig, Name: "app", Version: "AB;rm", Target: "/x", Mode: 0o444},   // not hex
	} {
		if f.Check() == nil {
			t.Errorf("Check(%+v) passed", f)
		}
	}
	m := ok.Mount("prod")
	if m.Type != "bind" || !m.ReadOnly || m.Source != ok.HostPath("prod") || m.Target != "/app.conf" {
		t.Errorf("Mount = %+v", m)
	}
}

func TestDescribeFileChanges(t *testing.T) {
	db := FileMount{Kind: KindSecret, Name: "db", Version: "aa", Target: "/run/secrets/db", Mode: 0o444}
	db2 := db
	db2.Version = "bb"
	app := FileMount{Kind: KindConfig, Name: "app", Version: "cc", Target: "/app", Mode: 0o444}
	got := DescribeFileChanges([]FileMount{db, app}, []FileMount{db2})
	want := []string{"config app removed", "secret db changed"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := DescribeFileChanges(nil, []FileMount{app}); !reflect.DeepEqual(got, []string{"config app added"}) {
		t.Errorf("added: %q", got)
	}
	if got := DescribeFileChanges([]FileMount{db}, []FileMount{db}); got != nil {
		t.Errorf("unchanged: %q", got)
	}
}
