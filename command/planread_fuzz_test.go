package command

import "testing"

// FuzzParsePlanFile: any plan file is accepted or refused, never a panic;
// what is accepted, apply's comparisons work on. Seeds in testdata/fuzz are
// plan files `drover plan -o` wrote on the lab.
func FuzzParsePlanFile(f *testing.F) {
	f.Add([]byte(`{"format":1,"stack":"s","files":[{"path":"/c.yml","sha256":"13c9371e11b5b7c1cb312fb4719330fa1b2ae8a90363032bc66d8223c68b7069"}],"plan":{"actions":[{"kind":"replace","old":null}]}}`))
	f.Add([]byte(`{"format":1,"plan":null}`))
	f.Add([]byte(`{"format":1,"stack":"s","files":[],"plan":{}} []`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sp, err := parsePlanFile("plan.json", data)
		if err != nil {
			return
		}
		if sp.Plan == nil || len(sp.Files) == 0 {
			t.Fatalf("accepted a plan file apply cannot use: %+v", sp)
		}
		actionKeys(sp.Plan)
	})
}

func TestParsePlanFileRefuses(t *testing.T) {
	const good = `{"format":1,"stack":"s","files":[{"path":"/c.yml","sha256":"13c9371e11b5b7c1cb312fb4719330fa1b2ae8a90363032bc66d8223c68b7069"}],"plan":{"actions":[]}}`
	if _, err := parsePlanFile("p.json", []byte(good)); err != nil {
		t.Fatalf("good plan file: %v", err)
	}
	for _, bad := range []string{
		good + "\n{}",
		`{"format":2,"stack":"s","files":[{"path":"/c.yml","sha256":"13c9371e11b5b7c1cb312fb4719330fa1b2ae8a90363032bc66d8223c68b7069"}],"plan":{}}`,
		`{"format":1,"stack":"s","files":[{"path":"/c.yml","sha256":"13c9371e11b5b7c1cb312fb4719330fa1b2ae8a90363032bc66d8223c68b7069"}],"plan":null}`,
		`{"format":1,"stack":"","files":[{"path":"/c.yml","sha256":"13c9371e11b5b7c1cb312fb4719330fa1b2ae8a90363032bc66d8223c68b7069"}],"plan":{}}`,
		`{"format":1,"stack":"s","files":[{"path":"","sha256":"13c9371e11b5b7c1cb312fb4719330fa1b2ae8a90363032bc66d8223c68b7069"}],"plan":{}}`,
		`{"format":1,"stack":"s","files":[{"path":"/c.yml","sha256":"nothex"}],"plan":{}}`,
		`{"format":1,"stack":"s","files":[],"plan":{}}`,
	} {
		if _, err := parsePlanFile("p.json", []byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}
