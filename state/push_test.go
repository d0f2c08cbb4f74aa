package state

import (
	"errors"
	"testing"
)

func TestPreparePush(t *testing.T) {
	cur := &State{Lineage: "A", Serial: 5}
	cases := []struct {
		name          string
		lineage       string
		serial        int64
		force         bool
		refused       bool
		wantLineage   string
		wantSerial    int64
		wantNoteEmpty bool
	}{
		{"newer serial", "A", 7, false, false, "A", 7, true},
		{"same serial", "A", 5, false, true, "", 0, false},
		{"older serial", "A", 2, false, true, "", 0, false},
		{"other lineage", "B", 9, false, true, "", 0, false},
		{"forced older serial goes up", "A", 2, true, false, "A", 6, false},
		{"forced newer serial kept", "A", 9, true, false, "A", 9, true},
		{"forced other lineage takes the stored one", "B", 1, true, false, "A", 6, false},
		{"forced other lineage, higher serial", "B", 40, true, false, "A", 6, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			next := &State{Lineage: c.lineage, Serial: c.serial}
			note, err := PreparePush(cur, next, c.force)
			if c.refused {
				if !errors.Is(err, ErrPushRefused) {
					t.Fatalf("err %v, want refused", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if next.Lineage != c.wantLineage || next.Serial != c.wantSerial || (note == "") != c.wantNoteEmpty {
				t.Errorf("got lineage %s serial %d note %q", next.Lineage, next.Serial, note)
			}
		})
	}
	next := &State{Lineage: "B", Serial: 1}
	if _, err := PreparePush(nil, next, false); err != nil || next.Lineage != "B" || next.Serial != 1 {
		t.Errorf("push to an empty store: %v %+v", err, next)
	}
}
