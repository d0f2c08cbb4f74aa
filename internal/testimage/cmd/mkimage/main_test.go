package main

import (
	"os"
	"runtime"
	"testing"
)

func TestImageArch(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	other := "386"
	if runtime.GOARCH == "386" {
		other = "amd64"
	}
	for _, tc := range []struct {
		name, want string
		bin        []byte
		got        string
		fails      bool
	}{
		{name: "the binary's own", bin: bin, got: runtime.GOARCH},
		{name: "-arch agrees", want: runtime.GOARCH, bin: bin, got: runtime.GOARCH},
		{name: "-arch disagrees", want: other, bin: bin, fails: true},
		{name: "not ELF", bin: []byte("#!/bin/sh\n"), got: "amd64"},
		{name: "not ELF, -arch", want: "arm64", bin: []byte("#!/bin/sh\n"), got: "arm64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := imageArch(tc.want, tc.bin)
			if tc.fails {
				if err == nil {
					t.Fatalf("imageArch(%q) = %q, want an error", tc.want, got)
				}
				return
			}
			if err != nil || got != tc.got {
				t.Fatalf("imageArch(%q) = %q, %v; want %q", tc.want, got, err, tc.got)
			}
		})
	}
}
