package imagebuild

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// scriptedDocker answers docker commands from a table: argv joined by
// spaces → stdout, or stderr and a failure.
type scriptedDocker struct {
	out  map[string]string
	fail map[string]string
	ran  []string
}

func (s *scriptedDocker) Run(_ context.Context, args, _ []string, _ io.Reader, stdout, stderr io.Writer) error {
	cmd := strings.Join(args, " ")
	s.ran = append(s.ran, cmd)
	if msg, ok := s.fail[cmd]; ok {
		io.WriteString(stderr, msg)
		return errors.New("exit status 1")
	}
	io.WriteString(stdout, s.out[cmd])
	return nil
}

// TestLocalImages: the local engine's built images are listed with
// their labels (image ls for the IDs, one inspect for all), removed by
// reference, and one in use is ErrImageInUse.
func TestLocalImages(t *testing.T) {
	d := &scriptedDocker{
		out: map[string]string{
			"image ls --quiet --no-trunc --filter label=drover.cluster=c": "sha256:aa\nsha256:bb\nsha256:aa\n",
			"image inspect --format {{json .}} sha256:aa sha256:bb": `{"Id":"sha256:aa","RepoTags":["s_web:aa"],"Config":{"Labels":{"drover.cluster":"c","drover.service":"s_web"}}}` + "\n" +
				`{"Id":"sha256:bb","RepoTags":[],"Config":{"Labels":{"drover.cluster":"c","drover.service":"s_api"}}}` + "\n",
			"info --format {{.ID}}":                   "ABCD:EFGH\n",
			"image inspect --format {{.Id}} s_web:aa": "sha256:aa\n",
		},
		fail: map[string]string{
			"image rm s_web:aa":                         `Error response from daemon: conflict: unable to remove repository reference "s_web:aa" (must force) - container 0123 is using its referenced image aa`,
			"image rm s_api:bb":                         "Error response from daemon: No such image: s_api:bb",
			"image inspect --format {{.Id}} s_web:gone": "Error response from daemon: No such image: s_web:gone",
		},
	}
	l := &Local{Docker: d, Where: "DOCKER_HOST=unix:///x"}
	ctx := context.Background()
	ims, err := l.ImagesLabelled(ctx, LabelCluster, "c")
	if err != nil || len(ims) != 2 || ims[0].ID != "sha256:aa" || ims[0].Tags[0] != "s_web:aa" || ims[1].Labels[LabelService] != "s_api" {
		t.Fatalf("images %+v, %v", ims, err)
	}
	if id, err := l.EngineID(ctx); err != nil || id != "ABCD:EFGH" {
		t.Errorf("engine ID %q, %v", id, err)
	}
	if err := l.RemoveImage(ctx, "s_web:aa"); !errors.Is(err, ErrImageInUse) {
		t.Errorf("in use: %v", err)
	}
	if err := l.RemoveImage(ctx, "s_api:bb"); err == nil || errors.Is(err, ErrImageInUse) || !strings.Contains(err.Error(), "No such image") {
		t.Errorf("missing: %v", err)
	}
	if id, found, err := l.ImageID(ctx, "s_web:aa"); id != "sha256:aa" || !found || err != nil {
		t.Errorf("ImageID: %q %v %v", id, found, err)
	}
	if _, found, err := l.ImageID(ctx, "s_web:gone"); found || err != nil {
		t.Errorf("ImageID of a removed image: found %v, %v", found, err)
	}
	d.out["image ls --quiet --no-trunc --filter label=drover.cluster=none"] = ""
	if ims, err := l.ImagesLabelled(ctx, LabelCluster, "none"); err != nil || len(ims) != 0 || strings.HasPrefix(d.ran[len(d.ran)-1], "image inspect") {
		t.Errorf("no images: %v %v (ran %v)", ims, err, d.ran)
	}
}
