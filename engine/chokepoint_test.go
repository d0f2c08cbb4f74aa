package engine

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

type countingRT struct{ n int }

func (c *countingRT) RoundTrip(*http.Request) (*http.Response, error) {
	c.n++
	return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
}

func TestChokePointDryRun(t *testing.T) {
	for _, tc := range []struct {
		method string
		passes bool
	}{
		{http.MethodGet, true}, {http.MethodHead, true},
		{http.MethodPost, false}, {http.MethodDelete, false}, {http.MethodPut, false},
	} {
		next := &countingRT{}
		cp := &chokePoint{host: "h1", dryRun: true, log: zerolog.Nop(), next: next}
		req, _ := http.NewRequest(tc.method, "http://docker.example.com/v1.41/containers/x/start", nil)
		_, err := cp.RoundTrip(req)
		if tc.passes != (err == nil) || tc.passes != (next.n == 1) {
			t.Errorf("%s under dry run: err %v, reached the engine %d times", tc.method, err, next.n)
		}
		if !tc.passes && (!errors.Is(err, ErrDryRun) || !strings.Contains(err.Error(), "h1: "+tc.method+" /v1.41/containers/x/start")) {
			t.Errorf("%s: error %v", tc.method, err)
		}
	}
	next := &countingRT{}
	cp := &chokePoint{host: "h1", log: zerolog.Nop(), next: next}
	req, _ := http.NewRequest(http.MethodPost, "http://docker.example.com/v1.41/containers/create", nil)
	if _, err := cp.RoundTrip(req); err != nil || next.n != 1 {
		t.Errorf("POST without dry run: %v", err)
	}
}
