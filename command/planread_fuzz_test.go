package command

import (
	"errors"
	"strings"
	"testing"
)

const goodPlanFile = `{"format":2,"stack":"s","files":[{"path":"/c.yml","sha256":"13c9371e11b5b7c1cb312fb4719330fa1b2ae8a90363032bc66d8223c68b7069"}],"observed":"ab","desired":{"name":"s","services":{}},"plan":{"actions":[]}}`

// FuzzParsePlanFile: any plan file is accepted or refused, never a panic;
// what is accepted, apply can give its specs to and carry out.
func FuzzParsePlanFile(f *testing.F) {
	f.Add([]byte(goodPlanFile))
	f.Add([]byte(`{"format":2,"stack":"s","files":[{"path":"/c.yml","sha256":"13c9371e11b5b7c1cb312fb4719330fa1b2ae8a90363032bc66d8223c68b7069"}],"observed":"ab","desired":{"name":"s","services":{"web":{"current":{"name":"web","stack":"s"}}}},"plan":{"actions":[{"kind":"replace","service":"s_web","slot":"1","host":"h1","old":null}]}}`))
	f.Add([]byte(`{"format":1,"stack":"s","files":[{"path":"/c.yml","sha256":"13c9371e11b5b7c1cb312fb4719330fa1b2ae8a90363032bc66d8223c68b7069"}],"plan":{"actions":[{"kind":"replace","old":null}]}}`))
	f.Add([]byte(`{"format":2,"plan":null}`))
	f.Add([]byte(builtPlanFile))
	f.Add([]byte(`{"format":2,"stack":"s","files":[],"plan":{}} []`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sp, err := parsePlanFile("plan.json", data)
		if err != nil {
			return
		}
		if sp.Plan == nil || len(sp.Files) == 0 || sp.Desired == nil {
			t.Fatalf("accepted a plan file apply cannot use: %+v", sp)
		}
		attachSpecs(sp.Plan, sp.Desired)
	})
}

func TestParsePlanFileRefuses(t *testing.T) {
	if _, err := parsePlanFile("p.json", []byte(goodPlanFile)); err != nil {
		t.Fatalf("good plan file: %v", err)
	}
	rolled := strings.Replace(goodPlanFile, `"actions":[]`, `"actions":[{"kind":"replace","service":"s_web","slot":"1","host":"h1","old":{"id":"a","state":"running"}}],"rollouts":[{"service":"s_web","batches":[["1"]]}]`, 1)
	if _, err := parsePlanFile("p.json", []byte(rolled)); err != nil {
		t.Fatalf("a plan file with a rollout: %v", err)
	}
	for _, bad := range []string{
		goodPlanFile + "\n{}",
		strings.Replace(goodPlanFile, `"format":2`, `"format":4`, 1),
		strings.Replace(goodPlanFile, `"plan":{"actions":[]}`, `"plan":null`, 1),
		strings.Replace(goodPlanFile, `"stack":"s"`, `"stack":""`, 1),
		strings.Replace(goodPlanFile, `"path":"/c.yml"`, `"path":""`, 1),
		strings.Replace(goodPlanFile, `"sha256":"13c9371e11b5b7c1cb312fb4719330fa1b2ae8a90363032bc66d8223c68b7069"`, `"sha256":"nothex"`, 1),
		strings.Replace(goodPlanFile, `"files":[{"path":"/c.yml","sha256":"13c9371e11b5b7c1cb312fb4719330fa1b2ae8a90363032bc66d8223c68b7069"}]`, `"files":[]`, 1),
		strings.Replace(goodPlanFile, `"observed":"ab"`, `"observed":""`, 1),
		strings.Replace(goodPlanFile, `"desired":{"name":"s","services":{}}`, `"desired":null`, 1),
		strings.Replace(goodPlanFile, `"desired":{"name":"s"`, `"desired":{"name":"t"`, 1),
		strings.Replace(goodPlanFile, `"services":{}`, `"services":{"web":{"current":null}}`, 1),
		strings.Replace(goodPlanFile, `"actions":[]`, `"actions":[{"kind":"replace","service":"s_web","slot":"1","host":"h1"}]`, 1),
		strings.Replace(goodPlanFile, `"actions":[]`, `"actions":[{"kind":"explode","service":"s_web","slot":"1","host":"h1"}]`, 1),
		// A rolling replace its rollout leaves out, or puts in twice.
		strings.Replace(goodPlanFile, `"actions":[]`, `"actions":[{"kind":"replace","service":"s_web","slot":"1","host":"h1","old":{"id":"a","state":"running"}}]`, 1),
		strings.Replace(goodPlanFile, `"actions":[]`, `"actions":[{"kind":"replace","service":"s_web","slot":"1","host":"h1","old":{"id":"a","state":"running"}}],"rollouts":[{"service":"s_web","batches":[["1"],["1"]]}]`, 1),
		strings.Replace(goodPlanFile, `"actions":[]`, `"actions":[],"rollouts":[{"service":"s_web","batches":[["1"]]}]`, 1),
		strings.Replace(goodPlanFile, `"actions":[]`, `"actions":[],"networks":[{"kind":"create","host":"","name":"n"}]`, 1),
	} {
		if _, err := parsePlanFile("p.json", []byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// An old plan file (format 1: apply planned again) is refused with a
// clear word, as a stale plan, never planned again.
func TestParsePlanFileOldFormat(t *testing.T) {
	old := `{"format":1,"created":"2026-11-30T10:00:00Z","by":"me","cluster":"c","stack":"s","files":[{"path":"/c.yml","sha256":"13c9371e11b5b7c1cb312fb4719330fa1b2ae8a90363032bc66d8223c68b7069"}],"prune":false,"lineage":"l","serial":3,"desired_digest":"00","plan":{"actions":[]}}`
	_, err := parsePlanFile("p.json", []byte(old))
	if !errors.Is(err, ErrStalePlan) || !strings.Contains(err.Error(), "format 1 was written by an older drover") || !strings.Contains(err.Error(), "make a new plan") {
		t.Fatalf("old plan file: %v", err)
	}
}

// builtPlanFile is a format 3 plan file: s_web runs the image plan
// --build built on h1.
const builtPlanFile = `{"format":3,"stack":"s","files":[{"path":"/c.yml","sha256":"13c9371e11b5b7c1cb312fb4719330fa1b2ae8a90363032bc66d8223c68b7069"}],"observed":"ab",` +
	`"desired":{"name":"s","services":{"web":{"current":{"name":"web","stack":"s","container":{"image":"s_web:aaaaaaaaaaaa"}}}}},"plan":{"actions":[]},` +
	`"builds":[{"service":"s_web","image":"s_web:aaaaaaaaaaaa","id":"sha256:aaaaaaaaaaaa1","on":"h1"}]}`

// TestParsePlanFileBuilds: a format 3 file carries builds of the
// services its desired stack runs with those images; a format 2 file
// with builds, a build of another image or service, or without an ID is
// refused.
func TestParsePlanFileBuilds(t *testing.T) {
	sp, err := parsePlanFile("p.json", []byte(builtPlanFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(sp.Builds) != 1 || sp.Builds[0].On != "h1" || sp.format() != 3 {
		t.Errorf("builds %+v, format %d", sp.Builds, sp.format())
	}
	for _, tc := range []struct{ edit, want string }{
		{strings.Replace(builtPlanFile, `"format":3`, `"format":2`, 1), "format 2 plan files carry none"},
		{strings.Replace(builtPlanFile, `"image":"s_web:aaaaaaaaaaaa","id"`, `"image":"s_web:bbbbbbbbbbbb","id"`, 1), "runs s_web:aaaaaaaaaaaa in the desired stack, not the built s_web:bbbbbbbbbbbb"},
		{strings.Replace(builtPlanFile, `"service":"s_web"`, `"service":"s_api"`, 1), "s_api is not a service of stack s"},
		{strings.Replace(builtPlanFile, `"id":"sha256:aaaaaaaaaaaa1"`, `"id":""`, 1), "service, image and id must be set"},
	} {
		if _, err := parsePlanFile("p.json", []byte(tc.edit)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.edit, err, tc.want)
		}
	}
}

// TestBuiltImageGone: the refusal names the image and the builder, and is
// a stale plan.
func TestBuiltImageGone(t *testing.T) {
	gone := &BuiltImageGoneError{Image: "s_web:aaaaaaaaaaaa", ID: "sha256:aaaaaaaaaaaa1", Builder: "host h1"}
	if !errors.Is(gone, ErrStalePlan) || gone.Error() != "the plan's built image s_web:aaaaaaaaaaaa is no longer on host h1, where it was built: make a new plan with `drover plan --build --out` (nothing was changed)" {
		t.Errorf("%v", gone)
	}
	other := &BuiltImageGoneError{Image: "s_web:v1", ID: "sha256:aaaaaaaaaaaa1", Builder: "the local engine (DOCKER_HOST=unix:///x)", Now: "sha256:bbbbbbbbbbbb2"}
	if !strings.Contains(other.Error(), "s_web:v1 (ID aaaaaaaaaaaa) names another image (bbbbbbbbbbbb) on the local engine (DOCKER_HOST=unix:///x)") {
		t.Errorf("%v", other)
	}
}
