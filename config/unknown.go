package config

import (
	"os"
	"slices"
	"strings"
)

// Unknown is a PARLEY_* variable in the environment that Parley does not
// read, usually a misspelling; Closest is the real variable it most likely
// meant ("" when none is close).
type Unknown struct {
	Name    string
	Closest string
}

func (u Unknown) String() string {
	if u.Closest == "" {
		return u.Name + " is not a Parley variable (parley --help lists them); it is ignored"
	}
	return u.Name + " is not a Parley variable; did you mean " + u.Closest + "? It is ignored"
}

// maxTypo is the largest edit distance reported as a misspelling.
const maxTypo = 2

// UnknownVariables lists the PARLEY_* variables of environ (nil: the
// process environment) that no field of Config reads, sorted by name.
// PARLEY_TEST_* belong to the test suite and are skipped.
func UnknownVariables(environ map[string]string) []Unknown {
	if environ == nil {
		environ = map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			environ[k] = v
		}
	}
	known := Variables()
	var out []Unknown
	for name := range environ {
		if !strings.HasPrefix(name, Prefix) || strings.HasPrefix(name, Prefix+"TEST_") {
			continue
		}
		if slices.ContainsFunc(known, func(v Var) bool { return v.Name == name }) {
			continue
		}
		u := Unknown{Name: name}
		best := maxTypo + 1
		for _, v := range known {
			if d := levenshtein(name, v.Name); d < best {
				best, u.Closest = d, v.Name
			}
		}
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b Unknown) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// levenshtein is the edit distance between a and b (insertions,
// deletions and substitutions of bytes; the names are ASCII).
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
