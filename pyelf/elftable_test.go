package pyelf

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDispatchTableScanAgreesWithSymbol checks the stripped-binary scan
// against the opcode_targets symbol wherever .symtab has one (every pyenv
// build, including 3.8-3.10, whose eval loop has the same kind of table),
// and the Debian build's table against the spike's measurement.
func TestDispatchTableScanAgreesWithSymbol(t *testing.T) {
	for _, tt := range elfTestBinaries() {
		t.Run(tt.name, func(t *testing.T) {
			elfTestRequire(t, tt.path)
			img, err := openELFImage(tt.path)
			require.NoError(t, err)
			defer img.close()
			eval, ok := img.funcSymbol("_PyEval_EvalFrameDefault")
			require.True(t, ok)

			// findDispatchTable fails unless the scan found exactly one
			// table, and, with a symbol, the symbol's.
			tab, err := img.findDispatchTable(eval.Value, eval.Size)
			require.NoError(t, err)

			if img.hasSymtab {
				assert.True(t, strings.HasPrefix(tab.how, "symbol opcode_targets") && strings.HasSuffix(tab.how, "and scan"), tab.how)
			} else {
				assert.Equal(t, "scan", tab.how)
			}
			if tt.table != 0 && img.buildID() == tt.buildID {
				assert.Equal(t, tt.table, tab.addr)
			}
			if tt.name == "debian-3.11.2" && img.buildID() == tt.buildID {
				// 81 handlers of this PGO build live in .text.unlikely.
				assert.Equal(t, 175, tab.inside)
			}
			t.Logf("table %#x (%s), %d/256 entries inside _PyEval_EvalFrameDefault", tab.addr, tab.how, tab.inside)
		})
	}
}

// elfTestPointers builds codePointers from runs of consecutive words.
func elfTestPointers(runs ...[]uint64) *codePointers {
	p := &codePointers{}
	addr := uint64(0x10000)
	for _, run := range runs {
		for _, v := range run {
			p.addr = append(p.addr, addr)
			p.val = append(p.val, v)
			addr += 8
		}
		addr += 0x1000 // gap between runs
	}
	return p
}

func TestScanDispatchTables(t *testing.T) {
	const fnLo, fnHi = 0x1000, 0x2000
	inside := func(v uint64) bool { return v >= fnLo && v < fnHi }
	table := func(in int) []uint64 { // in entries inside, the rest in a "cold" part
		r := make([]uint64, 256)
		for i := range r {
			if i < in {
				r[i] = fnLo + uint64(i)*4
			} else {
				r[i] = 0x9000
			}
		}
		return r
	}
	other := func(n int) []uint64 {
		r := make([]uint64, n)
		for i := range r {
			r[i] = 0x5000 + uint64(i)
		}
		return r
	}
	tests := []struct {
		name      string
		runs      [][]uint64
		wantCands int
		wantBest  int
	}{
		{name: "exact table", runs: [][]uint64{table(256)}, wantCands: 1, wantBest: 256},
		{name: "PGO table with half inside", runs: [][]uint64{other(300), table(128)}, wantCands: 1, wantBest: 128},
		{name: "too few inside", runs: [][]uint64{table(127)}, wantCands: 0, wantBest: 127},
		{name: "table inside a longer run", runs: [][]uint64{append(append(other(10), table(256)...), other(10)...)}, wantCands: 1, wantBest: 256},
		{name: "two tables", runs: [][]uint64{table(200), table(200)}, wantCands: 2, wantBest: 200},
		{name: "ambiguous window", runs: [][]uint64{append(table(200), fnLo)}, wantCands: 2, wantBest: 200},
		{name: "short run", runs: [][]uint64{table(256)[:255]}, wantCands: 0, wantBest: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cands, best := scanDispatchTables(elfTestPointers(tt.runs...), inside)
			assert.Len(t, cands, tt.wantCands)
			assert.Equal(t, tt.wantBest, best)
		})
	}
}

func TestElfDecodeRELR(t *testing.T) {
	enc := func(words ...uint64) []byte {
		var b []byte
		for _, w := range words {
			b = binary.LittleEndian.AppendUint64(b, w)
		}
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want []uint64
	}{
		{name: "addresses only", in: enc(0x1000, 0x2000), want: []uint64{0x1000, 0x2000}},
		// After 0x1000, bitmap bits 1 and 3 (words 0 and 2 after 0x1008).
		{name: "address and bitmap", in: enc(0x1000, 0b1011), want: []uint64{0x1000, 0x1008, 0x1018}},
		// A second bitmap continues 63 words after the first.
		{name: "two bitmaps", in: enc(0x1000, 0b11, 0b11), want: []uint64{0x1000, 0x1008, 0x1008 + 63*8}},
		{name: "empty", in: nil, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, elfDecodeRELR(tt.in))
		})
	}
}
