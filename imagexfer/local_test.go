package imagexfer

import (
	"context"
	"strings"
	"testing"
)

// TestLocalDockerWithoutCLI: a machine without the docker CLI is told so,
// not that the image is missing.
func TestLocalDockerWithoutCLI(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := LocalDocker{}.Image(context.Background(), "web:v1")
	if err == nil || !strings.Contains(err.Error(), "no docker CLI in PATH") {
		t.Errorf("Image: %v", err)
	}
	if _, err := (LocalDocker{}).Save(context.Background(), "web:v1"); err == nil || !strings.Contains(err.Error(), "docker save web:v1") {
		t.Errorf("Save: %v", err)
	}
}

func TestLocalEngineDown(t *testing.T) {
	for msg, want := range map[string]bool{
		"Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?": true,
		"error during connect: Get \"http://%2F%2F.%2Fpipe%2Fdocker_engine/v1.45/images/x/json\"":           true,
		"Error response from daemon: No such image: web:v1":                                                 false,
		"Error: No such image: web:v1": false,
	} {
		if got := localEngineDown(msg); got != want {
			t.Errorf("localEngineDown(%q) = %v", msg, got)
		}
	}
}
