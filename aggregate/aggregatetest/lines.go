package aggregatetest

import (
	"fmt"
	"slices"
	"strings"

	"github.com/recapi/recapi/aggregate"
)

// Lines renders records one a line, key and counts, sorted, for tests to
// compare: a failure shows which count of which record is off.
func Lines(recs []aggregate.Record) []string {
	opt := func(s *string) string {
		if s == nil {
			return "-"
		}
		return *s
	}
	var out []string
	for _, r := range recs {
		var params []string
		for _, p := range r.Params {
			params = append(params, p.Name+": "+p.Type)
		}
		caller := "-"
		if r.Caller != nil {
			caller = r.Caller.Name()
		}
		out = append(out, fmt.Sprintf("%s(%s) %s from %s returns %s yields %s python %s: calls %d resumptions %d raised %d created %d partial %v",
			r.Function.Name(), strings.Join(params, ", "), r.CodeKind, caller, opt(r.Returns), opt(r.Yields), r.Python,
			r.Calls, r.Resumptions, r.Raised, r.Created, r.Partial))
	}
	slices.Sort(out)
	return out
}
