package main

import (
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

func TestSetEnv(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		kv   string
		want []string
	}{
		{[]string{"PATH=/bin", "VERSION=v1"}, "VERSION=multi-v1", []string{"PATH=/bin", "VERSION=multi-v1"}},
		{[]string{"PATH=/bin"}, "VERSION=v2", []string{"PATH=/bin", "VERSION=v2"}},
		{nil, "A=", []string{"A="}},
		{[]string{"VERSIONX=1"}, "VERSION=2", []string{"VERSIONX=1", "VERSION=2"}},
	} {
		in := slices.Clone(tc.env)
		if got := setEnv(tc.env, tc.kv); !slices.Equal(got, tc.want) {
			t.Errorf("setEnv(%q, %q) = %q, want %q", tc.env, tc.kv, got, tc.want)
		}
		if !slices.Equal(in, tc.env) {
			t.Errorf("setEnv changed its input: %q", tc.env)
		}
	}
}

func platformImage(t *testing.T, arch string) v1.Image {
	t.Helper()
	cf, err := empty.Image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	img, err := mutate.ConfigFile(empty.Image, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestPickSource(t *testing.T) {
	amd, i386 := platformImage(t, "amd64"), platformImage(t, "386")
	srcs := []v1.Image{amd, i386}
	for _, tc := range []struct {
		p    v1.Platform
		want v1.Image
	}{
		{v1.Platform{OS: "linux", Architecture: "amd64"}, amd},
		{v1.Platform{OS: "linux", Architecture: "386"}, i386},
		{v1.Platform{OS: "linux", Architecture: "arm64"}, amd}, // none has it: the first, faked
	} {
		if got := pickSource(srcs, tc.p); got != tc.want {
			t.Errorf("pickSource(%s) picked the wrong source", tc.p.String())
		}
	}
}
