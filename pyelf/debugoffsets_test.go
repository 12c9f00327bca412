package pyelf

import (
	"path/filepath"
	"testing"

	"github.com/recapi/recapi/cpython"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCheckDebugOffsetsFile checks the layout against the _Py_DebugOffsets
// initializer in the .PyRuntime section of the 3.13 library.
func TestCheckDebugOffsetsFile(t *testing.T) {
	path := filepath.Join(elfTestPyenvRoot(), "versions/3.13.0/lib/libpython3.13.so.1.0")
	b := elfTestAnalyze(t, path)
	img, err := openELFImage(path)
	require.NoError(t, err)
	defer img.close()
	assert.NoError(t, cpython.CheckDebugOffsets(elfVAReader{img}, b.Runtime, b.Layout))

	wrong := b.Layout
	wrong.Frame_localsplus = 80 // the 3.14 value
	err = cpython.CheckDebugOffsets(elfVAReader{img}, b.Runtime, wrong)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "interpreter_frame.localsplus is 72, layout has 80")
}

// TestCheckDebugOffsetsLive reads _Py_DebugOffsets out of a running pyenv
// 3.13.0 through /proc/PID/mem.
func TestCheckDebugOffsetsLive(t *testing.T) {
	root := elfTestPyenvRoot()
	pid := procTestStartPython(t, filepath.Join(root, "versions/3.13.0/bin/python3.13"))
	p, err := FindInterpreter(pid)
	require.NoError(t, err)
	mem := procTestOpenMem(t, pid)
	addr := p.Binary.Runtime + p.Bias
	assert.NoError(t, cpython.CheckDebugOffsets(mem, addr, p.Binary.Layout))

	wrong := p.Binary.Layout
	wrong.Frame_instr, wrong.PyTypeObject_tp_flags = 64, 160
	err = cpython.CheckDebugOffsets(mem, addr, wrong)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "interpreter_frame.instr_ptr is 56, layout has 64")
	assert.Contains(t, err.Error(), "type_object.tp_flags is 168, layout has 160")

	// A wrong address has no cookie.
	assert.ErrorContains(t, cpython.CheckDebugOffsets(mem, addr+8, p.Binary.Layout), "cookie")
}
