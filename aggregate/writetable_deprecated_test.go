package aggregate_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/aggregate/aggregatetest"
	"github.com/recapi/recapi/internal/table"
)

// The deprecated copy of table.Write writes what table.Write does, for as
// long as recapid calls it.
func TestWriteTableIsTableWrite(t *testing.T) {
	sample := aggregate.Summarize(aggregatetest.Sample().Records)
	evil := aggregate.Summarize([]aggregate.Record{{
		Function: fn("evil", "f\x1b[2J\tx"),
		Params:   []aggregate.Param{p("a", pk, "evil.T\x07")},
		Calls:    1,
	}})
	for _, s := range [][]aggregate.FunctionSummary{sample, evil, nil} {
		for _, top := range []int{0, 1, 3, 20} {
			var want, got bytes.Buffer
			require.NoError(t, table.Write(&want, s, top))
			require.NoError(t, aggregate.WriteTable(&got, s, top))
			assert.Equal(t, want.String(), got.String())
		}
	}
}
