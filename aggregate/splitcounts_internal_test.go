package aggregate

import (
	"bufio"
	"os"
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
	for _, l := range lines {
		fk, fc, fr, fp, fok := splitCounts(nil, []byte(l))
		sk, sc, sr, sp, sok := scanMembers(nil, []byte(l), 1)
		assert.Equal(t, sok, fok, l)
		if sok {
			assert.Equal(t, string(sk), string(fk), l)
			assert.Equal(t, []any{sc, sr, sp}, []any{fc, fr, fp}, l)
		}
	}
}
