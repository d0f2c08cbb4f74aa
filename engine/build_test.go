package engine

import (
	"errors"
	"strings"
	"testing"
)

func TestReadBuild(t *testing.T) {
	ok := `{"stream":"Step 1/2 : FROM scratch\n"}
{"stream":"\n"}
{"stream":"Step 2/2 : COPY app /app\n"}
{"stream":" ---\u003e f768cf075dbe\n"}
{"aux":{"ID":"sha256:f768cf075dbec30deb11e48c681b2556f5ea19291d1d7faf69b7815a28f99d62"}}
{"stream":"Successfully built f768cf075dbe\n"}
`
	var seen []string
	id, err := readBuild("h1", strings.NewReader(ok), func(l string) { seen = append(seen, l) })
	if err != nil || id != "sha256:f768cf075dbec30deb11e48c681b2556f5ea19291d1d7faf69b7815a28f99d62" || len(seen) != 4 {
		t.Errorf("id %q err %v lines %q", id, err, seen)
	}
	failed := `{"stream":"Step 1/2 : FROM scratch\n"}
{"stream":"Step 2/2 : COPY nope /nope\n"}
{"errorDetail":{"message":"COPY failed: file not found in build context"},"error":"COPY failed: file not found in build context"}
`
	_, err = readBuild("h1", strings.NewReader(failed), nil)
	var bf *BuildFailedError
	if !errors.As(err, &bf) || bf.Host != "h1" || !strings.HasPrefix(bf.Message, "COPY failed") || len(bf.Lines) != 2 {
		t.Errorf("failed build: %#v", err)
	}
	if _, err := readBuild("h1", strings.NewReader(`{"stream":"x\n"}`), nil); !errors.As(err, &bf) {
		t.Errorf("no ID: %v", err)
	}
}
