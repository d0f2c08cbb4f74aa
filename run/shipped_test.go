package run

import (
	"testing"

	"github.com/drover-sh/drover/cluster"
)

// TestWithShipped: the variants a run ships replace what was found of the
// image, and the hosts' copies of it do not count; other images stay.
func TestWithShipped(t *testing.T) {
	amd := cluster.Platform{OS: "linux", Arch: "amd64"}
	i386 := cluster.Platform{OS: "linux", Arch: "386"}
	images := map[string][]cluster.Platform{"s_web:set": {amd}, "other:1": {amd}}
	copies := map[string]map[string]cluster.Platform{"h4": {"s_web:set": amd, "other:1": amd}}
	images, copies = withShipped(images, copies, map[string][]cluster.Platform{"s_web:set": {i386, amd}})
	if len(images["s_web:set"]) != 2 || len(images["other:1"]) != 1 {
		t.Errorf("images %v", images)
	}
	if _, ok := copies["h4"]["s_web:set"]; ok || len(copies["h4"]) != 1 {
		t.Errorf("copies %v", copies)
	}
	if got, _ := withShipped(nil, nil, map[string][]cluster.Platform{"a:1": {amd}}); len(got["a:1"]) != 1 {
		t.Errorf("from nothing: %v", got)
	}
}
