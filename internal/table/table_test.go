package table_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/aggregate/aggregatetest"
	"github.com/recapi/recapi/internal/table"
	"github.com/recapi/recapi/internal/testutil"
)

func TestWrite(t *testing.T) {
	sum := aggregate.Summarize(aggregatetest.Sample().Records)
	tests := []struct {
		name string
		top  int
	}{
		{name: "table_all", top: 0},
		{name: "table_top3", top: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, table.Write(&buf, sum, tt.top))
			testutil.Golden(t, tt.name, buf.Bytes())
		})
	}
}

func TestWriteEscapesControlCharacters(t *testing.T) {
	// __qualname__ can be set to anything; a snapshot from another host
	// must not move the terminal's cursor.
	recs := []aggregate.Record{{
		Function: aggregate.Function{Module: "evil", Qualname: "f\x1b[2J\tx"},
		Params:   []aggregate.Param{{Name: "a", Kind: aggregate.KindPositionalOrKeyword, Type: "evil.T\x07"}},
		Calls:    1,
	}}
	var buf bytes.Buffer
	require.NoError(t, table.Write(&buf, aggregate.Summarize(recs), 0))
	assert.NotContains(t, buf.String(), "\x1b")
	assert.NotContains(t, buf.String(), "\x07")
	assert.Contains(t, buf.String(), `evil.f\x1b[2J\tx`)
	assert.Contains(t, buf.String(), `a: evil.T\a`)
}

func TestWriteEmpty(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, table.Write(&buf, nil, 20))
	assert.Equal(t, "CALLS  FUNCTION  SIGNATURES  MOST COMMON SIGNATURE\n", buf.String())
}

func TestCountsNote(t *testing.T) {
	tests := []struct {
		name                         string
		resumptions, created, raised uint64
		want                         string
	}{
		{name: "none", want: ""},
		{name: "all", resumptions: 4000, created: 40, raised: 2, want: " (+4000 resumed, 40 created, 2 raised)"},
		{name: "raised only", raised: 1, want: " (1 raised)"},
		{name: "created only", created: 3, want: " (3 created)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, table.CountsNote(tt.resumptions, tt.created, tt.raised))
		})
	}
}
