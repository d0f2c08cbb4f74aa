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
		strings.Replace(goodPlanFile, `"format":2`, `"format":3`, 1),
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
