package compose

import (
	"context"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/drover-sh/drover/cluster"
)

const buildCompose = `
secrets:
  npmrc: {file: ./npmrc}
  token: {environment: TOKEN}
services:
  web:
    build:
      context: ./web
      dockerfile: Dockerfile.prod
      args: {VERSION: "2", UNSET: null}
      target: prod
      labels: {team: a}
      cache_from: ["type=local,src=/tmp/c"]
      extra_hosts: ["db:10.0.0.5"]
      secrets: [npmrc, token]
      ssh: [default]
      tags: [web:extra]
      privileged: true
    x-drover: {build_on: h1}
  api:
    image: registry.example.com:5000/team/api:1.0
    build: ./api
  job:
    image: busybox
`

func TestBuildSections(t *testing.T) {
	path := writeCompose(t, buildCompose)
	st, warnings := mustLoad(t, Options{Files: []string{path}, StackName: "Shop", Build: true})
	dir := filepath.Dir(path)
	web := st.Builds["web"]
	if web == nil {
		t.Fatalf("no build for web: %+v", st.Builds)
	}
	want := &cluster.Build{
		Service: "web", Repository: "shop_web",
		Context: filepath.Join(dir, "web"), Dockerfile: "Dockerfile.prod",
		Args: map[string]string{"VERSION": "2"}, Target: "prod", Labels: map[string]string{"team": "a"},
		CacheFrom: []string{"type=local,src=/tmp/c"}, ExtraHosts: []string{"db:10.0.0.5"},
		Secrets: []cluster.BuildSecret{{ID: "npmrc", File: filepath.Join(dir, "npmrc")}, {ID: "token", Env: "TOKEN"}},
		SSH:     []string{"default"}, On: "h1",
	}
	web.Platforms, web.CacheTo = nil, nil
	if !reflect.DeepEqual(web, want) {
		t.Errorf("web build:\n got %+v\nwant %+v", web, want)
	}
	if got := st.Services["web"].Container.Image; got != "shop_web" {
		t.Errorf("web image %q, want shop_web (tagged once built)", got)
	}
	api := st.Builds["api"]
	if api == nil || api.Repository != "registry.example.com:5000/team/api" || !api.ImageGiven || api.Context != filepath.Join(dir, "api") {
		t.Errorf("api build: %+v", api)
	}
	if _, ok := st.Builds["job"]; ok {
		t.Error("job has no build: section")
	}
	keys := warningKeys(warnings)
	for _, k := range []string{"web/build.tags", "web/build.privileged"} {
		if !slices.Contains(keys, k) {
			t.Errorf("no warning %s in %v", k, keys)
		}
	}
	for _, k := range keys {
		if k == "web/build" || k == "api/build" || strings.HasPrefix(k, "web/build.args") {
			t.Errorf("warning %s: the key is honoured", k)
		}
	}
}

func TestBuildWithoutFlag(t *testing.T) {
	path := writeCompose(t, "services:\n  api:\n    image: team/api:1.0\n    build: ./api\n")
	st, warnings := mustLoad(t, Options{Files: []string{path}})
	if len(st.Builds) != 0 || st.Services["api"].Container.Image != "team/api:1.0" {
		t.Errorf("without --build the image runs as written: %+v %+v", st.Builds, st.Services["api"].Container)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0].Message, "ignored without --build") {
		t.Errorf("warnings: %v", warnings)
	}
	_, _, err := Load(context.Background(), Options{Files: []string{writeCompose(t, "services:\n  web:\n    image: x\n    x-drover: {build_on: h1}\n")}, StackName: "s", Build: true})
	if err == nil || !strings.Contains(err.Error(), "x-drover.build_on: the service has no build: section") {
		t.Errorf("build_on without build: %v", err)
	}
}

func TestRepository(t *testing.T) {
	for _, tc := range []struct{ image, want string }{
		{"", "st_web"},
		{"app", "app"},
		{"app:1", "app"},
		{"reg:5000/a/app:1", "reg:5000/a/app"},
		{"reg:5000/app", "reg:5000/app"},
		{"app@sha256:abc", "app"},
	} {
		if got := repository(tc.image, "St", "web"); got != tc.want {
			t.Errorf("repository(%q) = %q, want %q", tc.image, got, tc.want)
		}
	}
}
