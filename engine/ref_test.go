package engine

import "testing"

func TestNormalizeRef(t *testing.T) {
	for in, want := range map[string]string{
		"nginx":                        "nginx:latest",
		"docker.io/library/nginx:1.25": "nginx:1.25",
		"localhost:5000/app":           "localhost:5000/app:latest",
		"localhost:5000/app:v2":        "localhost:5000/app:v2",
		"app@sha256:abc":               "app@sha256:abc",
	} {
		if got := NormalizeRef(in); got != want {
			t.Errorf("NormalizeRef(%q) = %q, want %q", in, got, want)
		}
	}
}
