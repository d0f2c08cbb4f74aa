package state

import "fmt"

// ErrPushRefused matches the refusals of PreparePush without --force.
var ErrPushRefused = fmt.Errorf("state push refused")

// PreparePush decides how a state document given by hand (`drover state
// push`) replaces the stored one, cur (nil when the store holds none), and
// adjusts next to it. Without force, next must be a newer serial of cur's
// lineage. With force, anything goes, but serials never go back and the
// lineage does not change: next takes cur's lineage and cur's serial plus
// one when it is of another lineage or not newer. Keeping the lineage is
// what lets both backends accept the write through their ordinary checks
// (a managers copy that lagged is then repaired, not a second lineage that
// blocks every read), and what makes saved plans made against cur stale.
// It returns a description of what was adjusted, for the history.
func PreparePush(cur, next *State, force bool) (string, error) {
	if cur == nil {
		return "", nil
	}
	switch {
	case cur.Lineage != next.Lineage && !force:
		return "", fmt.Errorf("%w: it has lineage %s, the stored state %s (--force to replace the stored state anyway)", ErrPushRefused, next.Lineage, cur.Lineage)
	case next.Serial <= cur.Serial && !force:
		return "", fmt.Errorf("%w: it has serial %d, not newer than the stored %d (--force to override)", ErrPushRefused, next.Serial, cur.Serial)
	case cur.Lineage != next.Lineage:
		note := fmt.Sprintf("lineage %s serial %d pushed as serial %d of lineage %s", next.Lineage, next.Serial, cur.Serial+1, cur.Lineage)
		next.Lineage, next.Serial = cur.Lineage, cur.Serial+1
		return note, nil
	case next.Serial <= cur.Serial:
		note := fmt.Sprintf("serial %d pushed as serial %d", next.Serial, cur.Serial+1)
		next.Serial = cur.Serial + 1
		return note, nil
	}
	return "", nil
}
