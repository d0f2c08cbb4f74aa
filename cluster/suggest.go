package cluster

import "strings"

// Closest is the option nearest to s by edit distance, when it is near
// enough to be a typo (at most a third of the word, and at most 3 edits);
// "" otherwise.
func Closest(s string, options []string) string {
	best, bestD := "", -1
	for _, o := range options {
		d := editDistance(strings.ToLower(s), strings.ToLower(o))
		if bestD < 0 || d < bestD || (d == bestD && o < best) {
			best, bestD = o, d
		}
	}
	limit := min(3, max(1, len(s)/3))
	if bestD < 0 || bestD > limit || bestD == 0 && best == s {
		return ""
	}
	return best
}

// editDistance is the Damerau–Levenshtein distance (with adjacent
// transpositions, the commonest typo) of a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
