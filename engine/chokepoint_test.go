package engine

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

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

// deadlineRT notes the deadline each request arrives with.
type deadlineRT struct{ left []time.Duration }

func (d *deadlineRT) RoundTrip(req *http.Request) (*http.Response, error) {
	left := time.Duration(-1) // no deadline
	if dl, ok := req.Context().Deadline(); ok {
		left = time.Until(dl)
	}
	d.left = append(d.left, left)
	return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
}

// TestChokePointDefaultDeadlines: with Timeouts left zero each call gets
// its kind's default; a stop adds its grace period; a follow has none.
func TestChokePointDefaultDeadlines(t *testing.T) {
	calls := []struct {
		method, path string
		want         time.Duration
	}{
		{http.MethodGet, "/v1.41/info", DefaultReadTimeout},
		{http.MethodPost, "/v1.41/networks/create", DefaultChangeTimeout},
		{http.MethodPost, "/v1.41/containers/x/stop?t=13", DefaultChangeTimeout + 13*time.Second},
		{http.MethodPost, "/v1.41/images/create?fromImage=web&tag=v1", DefaultTransferTimeout},
		{http.MethodGet, "/v1.41/containers/x/logs?stdout=1", DefaultTransferTimeout},
		{http.MethodGet, "/v1.41/containers/x/logs?follow=1", -1},
	}
	next := &deadlineRT{}
	cp := &chokePoint{host: "h1", log: zerolog.Nop(), next: next}
	for _, c := range calls {
		req, _ := http.NewRequest(c.method, "http://docker.example.com"+c.path, nil)
		resp, err := cp.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for i, c := range calls {
		got := next.left[i]
		// The deadline was set just before the request passed on: within
		// a generous second of the limit, never above it.
		if c.want < 0 && got != -1 || c.want >= 0 && (got > c.want || got < c.want-time.Second) {
			t.Errorf("%s %s: %v left, want %v", c.method, c.path, got, c.want)
		}
	}
}
