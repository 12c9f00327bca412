package aggregate_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/aggregate/aggregatetest"
)

// mergeInputs returns three snapshots of the sample from different hosts
// and times, one with an extra record.
func mergeInputs() []*aggregate.Snapshot {
	a, b, c := aggregatetest.Sample(), aggregatetest.Sample(), aggregatetest.Sample()
	b.Header.Host, b.Header.Created = "build-8", b.Header.Created.Add(time.Hour)
	b.Header.Interpreters[0].PID = 77
	c.Header.Mode = "budgeted"
	c.Records = append(c.Records, aggregate.Record{Function: fn("extra", "f"), Calls: 5, Python: "3.12", Binding: aggregate.BindingInstance})
	return []*aggregate.Snapshot{a, b, c}
}

func TestMergerCountsAddUpInAnyOrder(t *testing.T) {
	in := mergeInputs()
	dir := t.TempDir()
	paths := make([]string, len(in))
	for i, s := range in {
		paths[i] = filepath.Join(dir, string(rune('a'+i))+".recapi.zst")
		require.NoError(t, aggregate.WriteFile(paths[i], s))
	}
	orders := [][]int{{0, 1, 2}, {2, 1, 0}, {1, 2, 0}}
	var first *aggregate.Snapshot
	for _, order := range orders {
		m := aggregate.NewMerger()
		for _, i := range order {
			require.NoError(t, m.AddFile(paths[i]))
		}
		got := m.Snapshot()
		if first == nil {
			first = got
			continue
		}
		assert.Equal(t, first, got, "order %v", order)
	}
	// Every record of the sample is there three times, the extra once.
	want := aggregate.NewAggregator()
	for _, s := range in {
		for _, r := range s.Records {
			want.Add(r)
		}
	}
	assert.Equal(t, want.Records(), first.Records)
	assert.Equal(t, uint64(300000), first.Records[0].Calls)
	assert.Equal(t, "build-7,build-8", first.Header.Host)
	assert.Equal(t, aggregate.ModeMixed, first.Header.Mode)
	assert.Equal(t, aggregatetest.Created.Add(time.Hour), first.Header.Created)
	assert.Len(t, first.Header.Interpreters, 2, "identical interpreters are kept once")
	assert.Equal(t, uint64(9), first.Header.Stats["lost_events"])

	// Raised and created add up too, also on the fast path (lines seen
	// before, merged without decoding).
	var raised, created uint64
	for _, r := range first.Records {
		raised += r.Raised
		created += r.Created
	}
	assert.Equal(t, uint64(3*(12+2)), raised)
	assert.Equal(t, uint64(3*(40+5+120)), created)

	// The in-memory path gives the same result as the streaming one.
	m := aggregate.NewMerger()
	for _, s := range in {
		m.Add(s)
	}
	assert.Equal(t, first, m.Snapshot())
}

func TestMergerHandwrittenLines(t *testing.T) {
	// Lines in another field order, with spaces, escapes and unknown
	// nested fields all merge with the canonical ones.
	text := `{"recapi_snapshot":1,"created":"2025-06-01T12:00:00Z","host":"h","mode":"exact","interpreters":[]}
{"function":{"module":"m","qualname":"f"},"caller":null,"params":[{"name":"a","kind":"positional_or_keyword","type":"builtins.int"}],"returns":null,"calls":3,"python":"3.11"}
{"calls": 4, "python":"3.11", "function":{"module":"m","qualname":"f"},"params":[{"name":"a","kind":"positional_or_keyword","type":"builtins.int"}]}
{"function":{"module":"m","qualname":"f"},"caller":null,"params":[{"name":"a","kind":"positional_or_keyword","type":"builtins.int"}],"returns":null,"calls":3,"python":"3.11","partial":true}
{"function":{"module":"m","qualname":"g\"calls\":{"},"x":{"calls":[1,"}"]},"params":[],"calls": 100,"python":"3.11"}
{"function":{"module":"m","qualname":"g\"calls\":{"},"x":{"calls":[1,"}"]},"params":[],"calls":7,"python":"3.11"}
{"function":{"module":"m","qualname":"g\"calls\":{"},"x":{"calls":[1,"}"]},"params":[],"calls":7,"python":"3.11"}
`
	path := writeTemp(t, "h.recapi.zst", compress(t, text))
	m := aggregate.NewMerger()
	require.NoError(t, m.AddFile(path))
	got := m.Snapshot().Records
	require.Len(t, got, 2)
	assert.Equal(t, "g\"calls\":{", got[0].Function.Qualname)
	assert.Equal(t, uint64(114), got[0].Calls)
	assert.Equal(t, uint64(10), got[1].Calls)
	assert.True(t, got[1].Partial)
}

func TestMergerNewFieldsHandwritten(t *testing.T) {
	// Yields is part of the key, raised and created are counts, wherever
	// they stand in the line.
	text := `{"recapi_snapshot":1,"created":"2025-06-01T12:00:00Z","host":"h","mode":"exact","interpreters":[]}
{"function":{"module":"m","qualname":"g"},"caller":null,"params":[],"returns":null,"yields":"builtins.int","calls":3,"raised":1,"created":4,"code_kind":"generator","python":"3.11"}
{"function":{"module":"m","qualname":"g"},"caller":null,"params":[],"returns":null,"yields":"builtins.int","calls":3,"raised":1,"created":4,"code_kind":"generator","python":"3.11"}
{"function":{"module":"m","qualname":"g"},"raised":2,"created":5,"caller":null,"params":[],"returns":null,"yields":"builtins.int","calls":1,"code_kind":"generator","python":"3.11"}
{"function":{"module":"m","qualname":"g"},"raised":2,"created":5,"caller":null,"params":[],"returns":null,"yields":"builtins.int","calls":1,"code_kind":"generator","python":"3.11"}
{"function":{"module":"m","qualname":"g"},"caller":null,"params":[],"returns":null,"yields":"builtins.str","calls":7,"code_kind":"generator","python":"3.11"}
{"function":{"module":"m","qualname":"g"},"caller":null,"params":[],"returns":"builtins.int","calls":7,"code_kind":"generator","python":"3.11"}
{"function":{"module":"m","qualname":"g"},"caller":null,"params":[],"returns":null,"calls":0,"created":6,"code_kind":"generator","python":"3.11"}
{"function":{"module":"m","qualname":"g"},"caller":null,"params":[],"returns":null,"calls":0,"created":6,"code_kind":"generator","python":"3.11"}
{"function":{"module":"m","qualname":"g"},"caller":null,"params":[],"returns":null, "raise\u0064" : 1,"calls":0,"created":6,"code_kind":"generator","python":"3.11"}
{"function":{"module":"m","qualname":"g"},"caller":null,"params":[],"returns":null, "raise\u0064" : 1,"calls":0,"created":6,"code_kind":"generator","python":"3.11"}
`
	path := writeTemp(t, "g.recapi.zst", compress(t, text))
	m := aggregate.NewMerger()
	require.NoError(t, m.AddFile(path))
	require.NoError(t, m.AddFile(path))
	got := m.Snapshot().Records
	g := fn("m", "g")
	gen := aggregate.CodeGenerator
	assert.Equal(t, []aggregate.Record{
		{Function: g, Yields: strp("builtins.int"), Calls: 16, Raised: 12, Created: 36, CodeKind: gen, Python: "3.11"},
		{Function: g, Yields: strp("builtins.str"), Calls: 14, CodeKind: gen, Python: "3.11"},
		{Function: g, Returns: strp("builtins.int"), Calls: 14, CodeKind: gen, Python: "3.11"},
		{Function: g, Raised: 4, Created: 48, CodeKind: gen, Python: "3.11"},
	}, got)
}

func TestMergerErrorsNameTheFile(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{name: "empty", data: nil, want: "file is empty"},
		{name: "truncated", data: encode(t, aggregatetest.Sample())[:40], want: "truncated"},
		{name: "newer", data: compress(t, `{"recapi_snapshot":99}`+"\n"), want: "upgrade recapi"},
		{name: "bad record", data: compress(t, `{"recapi_snapshot":1}`+"\n"+`{"function":{"module":"m","qualname":"f"},"calls":"x"}`+"\n"), want: "line 2: malformed record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTemp(t, tt.name+".recapi.zst", tt.data)
			err := aggregate.NewMerger().AddFile(path)
			require.Error(t, err)
			assert.Contains(t, err.Error(), path)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func BenchmarkMergerAddFile(b *testing.B) {
	s := &aggregate.Snapshot{Records: benchRecords(10000)}
	path := filepath.Join(b.TempDir(), "b.recapi.zst")
	require.NoError(b, aggregate.WriteFile(path, s))
	m := aggregate.NewMerger()
	b.ReportAllocs()
	for b.Loop() {
		require.NoError(b, m.AddFile(path))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10000), "ns/record")
}
