package aggregate

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fast path of splitCounts must agree with the full scan on every line.
func TestSplitCountsFastPathAgrees(t *testing.T) {
	lines := []string{
		`{"function":{"module":"m","qualname":"f"},"caller":null,"params":[],"returns":null,"calls":3,"python":"3.11"}`,
		`{"function":{"module":"m","qualname":"f"},"params":[{"name":"calls","kind":"k","type":"t"}],"calls":7,"resumptions":2,"partial":true,"python":"3.12","binding":"instance"}`,
		`{"function":{"module":"m","qualname":"f\",\"calls\":9"},"calls":1,"python":"3.13"}`,
		`{"calls":5,"function":{"module":"m","qualname":"f"},"python":"3.11"}`,
		`{"function":{"module":"m","qualname":"f"},"calls":4,"extra":{"calls":1},"python":"3.11"}`,
		// The fields of returns, yields, raising and created objects, as
		// Encode writes them.
		`{"function":{"module":"m","qualname":"g"},"caller":null,"params":[{"name":"n","kind":"positional_or_keyword","type":"builtins.int"}],"returns":null,"yields":"builtins.tuple[builtins.int, ...]","calls":40,"created":40,"code_kind":"generator","python":"3.11"}`,
		`{"function":{"module":"m","qualname":"g"},"caller":null,"params":[{"name":"n","kind":"positional_or_keyword","type":""}],"returns":"None","resumptions":7,"raised":2,"created":0,"code_kind":"generator","partial":true,"python":"3.11"}`,
		`{"function":{"module":"m","qualname":"f"},"caller":null,"params":[],"returns":null,"calls":5,"raised":5,"python":"3.12"}`,
		`{"function":{"module":"m","qualname":"f"},"caller":null,"params":[],"returns":null,"calls":0,"created":9,"code_kind":"coroutine","python":"3.12"}`,
		// Counts before "calls" (handwritten): the fast path must not keep
		// them in the key.
		`{"function":{"module":"m","qualname":"f"},"raised":3,"calls":5,"python":"3.11"}`,
		`{"function":{"module":"m","qualname":"f"},"created":3,"resumptions":1,"calls":5,"python":"3.11"}`,
		`{"function":{"module":"m","qualname":"f\"raised\":1"},"calls":5,"python":"3.11"}`,
		// A bad count fails both paths.
		`{"function":{"module":"m","qualname":"f"},"calls":5,"raised":-1,"python":"3.11"}`,
		`{"function":{"module":"m","qualname":"f"},"calls":5,"created":"x","python":"3.11"}`,
	}
	for _, fixture := range []string{"../testdata/fixtures/calls.recapi.zst", "../testdata/fixtures/demo.recapi.zst"} {
		f, err := os.Open(fixture)
		require.NoError(t, err)
		zr, err := zstd.NewReader(f)
		require.NoError(t, err)
		sc := bufio.NewScanner(zr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		require.NoError(t, sc.Err())
		zr.Close()
		f.Close()
	}
	require.Greater(t, len(lines), 1000)
	inKey := 0
	for _, l := range lines {
		if countInKey([]byte(l)) {
			// The merger never looks such a key up again: it decodes
			// these lines in full every time.
			inKey++
			continue
		}
		fk, fc, fok := splitCounts(nil, []byte(l))
		sk, sc, sok := scanMembers(nil, []byte(l), 1)
		assert.Equal(t, sok, fok, l)
		if sok {
			assert.Equal(t, string(sk), string(fk), l)
			assert.Equal(t, sc, fc, l)
		}
	}
	assert.Equal(t, 2, inKey, "only the handwritten lines with counts before calls")
}

// The counts splitCounts finds are those of the decoded record, and the key
// it leaves holds none of them.
func TestSplitCountsFindsEveryCount(t *testing.T) {
	tests := []struct {
		line string
		want counts
		key  string
	}{
		{
			line: `{"function":{"module":"m","qualname":"g"},"caller":null,"params":[],"returns":null,"yields":"builtins.int","calls":40,"resumptions":3,"raised":2,"created":41,"code_kind":"generator","partial":true,"python":"3.11"}`,
			want: counts{calls: 40, resumptions: 3, raised: 2, created: 41, partial: true},
			key:  `"function":{"module":"m","qualname":"g"},"caller":null,"params":[],"returns":null,"yields":"builtins.int","code_kind":"generator","python":"3.11",`,
		},
		{
			line: `{"function":{"module":"m","qualname":"g"},"calls":0,"python":"3.11","created":7,"raised":1}`,
			want: counts{created: 7, raised: 1},
			key:  `"function":{"module":"m","qualname":"g"},"python":"3.11",`,
		},
	}
	for _, tt := range tests {
		require.False(t, countInKey([]byte(tt.line)))
		k, c, ok := splitCounts(nil, []byte(tt.line))
		require.True(t, ok, tt.line)
		assert.Equal(t, tt.want, c, tt.line)
		assert.Equal(t, tt.key, string(k), tt.line)
		r, err := parseRecord([]byte(tt.line))
		require.NoError(t, err)
		assert.Equal(t, countsOf(&r), c, "the decoded record has the same counts")
	}
}

// Counts before the last "calls" stay in the key on the fast path; the
// merger then never looks that key up again, and the full scan finds them.
func TestSplitCountsCountsBeforeCalls(t *testing.T) {
	line := []byte(`{"created":7,"function":{"module":"m","qualname":"g"},"raised":1,"calls":2,"python":"3.11"}`)
	assert.True(t, countInKey(line))
	k, c, ok := scanMembers(nil, line, 1)
	require.True(t, ok)
	assert.Equal(t, counts{calls: 2, created: 7, raised: 1}, c)
	assert.Equal(t, `"function":{"module":"m","qualname":"g"},"python":"3.11",`, string(k))

	for _, l := range []string{
		`{"function":{"module":"m","qualname":"g"},"calls":2,"python":"3.11"}`,
		`{"function":{"module":"m","qualname":"g","raised":1},"calls":2,"python":"3.11"}`,
		`{"function":{"module":"m","qualname":"g\"created\":1"},"calls":2,"python":"3.11"}`,
		`{"function":{"module":"m","qualname":"g"},"params":[],"returns":null,"yields":"builtins.int","calls":2,"resumptions":1,"raised":1,"created":3,"python":"3.11"}`,
		`{"function":{"module":"m","qualname":"g"}, "resumptions" : 1,"calls":2,"python":"3.11"}`,
	} {
		want := strings.Contains(l, `"raised":1},`) || strings.Contains(l, `"resumptions" :`) // nested: a harmless yes
		assert.Equal(t, want, countInKey([]byte(l)), l)
	}
}
