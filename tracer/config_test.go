package tracer

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/cpython"
	"github.com/recapi/recapi/pyelf"
)

// pyConfig packs the RESUME-family and RETURN_CONST-family opcodes into a
// u32 each, four at most: a layout with more is refused by name, never
// packed in part (a RESUME opcode left out would leave its calls uncounted).
func TestPyConfigOpcodes(t *testing.T) {
	v := cpython.Version{Major: 3, Minor: 12, Patch: 1}
	l, err := cpython.LayoutFor(v)
	require.NoError(t, err)
	tests := []struct {
		name                     string
		resume, retConst         []uint8
		wantResume, wantRetConst uint32
		wantErr                  []string
	}{
		{name: "3.12's own", resume: l.ResumeOpcodes, retConst: l.ReturnConstOpcodes, wantResume: 240<<8 | 151, wantRetConst: 247<<8 | 121},
		{name: "none (3.8-3.10)"},
		{name: "four fit", resume: []uint8{1, 2, 3, 4}, retConst: []uint8{5, 6, 7, 8}, wantResume: 0x04030201, wantRetConst: 0x08070605},
		{name: "a fifth RESUME opcode", resume: []uint8{1, 2, 3, 4, 5}, retConst: []uint8{6},
			wantErr: []string{"CPython 3.12.1", "5 RESUME-family opcodes", "holds 4"}},
		{name: "a fifth RETURN_CONST opcode", resume: []uint8{1}, retConst: []uint8{2, 3, 4, 5, 6},
			wantErr: []string{"CPython 3.12.1", "5 RETURN_CONST-family opcodes", "holds 4"}},
		{name: "opcode 0", resume: []uint8{151, 0}, wantErr: []string{"CPython 3.12.1", "RESUME-family opcode 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synthetic := l
			synthetic.ResumeOpcodes, synthetic.ReturnConstOpcodes = tt.resume, tt.retConst
			c, err := pyConfig(&pyelf.Binary{Version: v, Layout: synthetic}, 0)
			if tt.wantErr != nil {
				require.Error(t, err)
				for _, w := range tt.wantErr {
					assert.Contains(t, err.Error(), w)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantResume, c.ResumeOps, "ResumeOps %#x", c.ResumeOps)
			assert.Equal(t, tt.wantRetConst, c.RetConstOps, "RetConstOps %#x", c.RetConstOps)
		})
	}
}
