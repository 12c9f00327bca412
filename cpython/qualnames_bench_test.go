package cpython_test

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/recapi/recapi/cpython"
	"github.com/recapi/recapi/internal/testutil"
	"github.com/recapi/recapi/proc"
	"github.com/recapi/recapi/pyelf"
	"github.com/stretchr/testify/require"
)

// BenchmarkQualnameIndexLive builds the qualified-name index of a running
// interpreter that imported a large part of the standard library
// (testdata/qualnames_bench.py): pyenv 3.11.7, or $RECAPI_BENCH_PYTHON.
func BenchmarkQualnameIndexLive(b *testing.B) {
	python := os.Getenv("RECAPI_BENCH_PYTHON")
	if python == "" {
		python = filepath.Join(testutil.PyenvRoot(), "versions", "3.11.7", "bin", "python3.11")
	}
	if _, err := os.Stat(python); err != nil {
		b.Skipf("%s is not available: %v", python, err)
	}
	var report struct {
		Version []int `json:"version"`
		Modules int   `json:"modules"`
	}
	pid := testutil.StartPyTarget(b, python, "testdata/qualnames_bench.py", &report)
	p, err := pyelf.FindInterpreter(pid)
	require.NoError(b, err)
	f, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if errors.Is(err, fs.ErrPermission) {
		b.Skipf("cannot read the memory of child pid %d: %v", pid, err)
	}
	require.NoError(b, err)
	b.Cleanup(func() { _ = f.Close() })
	reads := &countingReader{r: f}
	m := proc.NewMemory(reads)
	l := p.Binary.Layout
	runtime := p.Binary.Runtime + p.Bias

	b.ReportAllocs()
	reads.n.Store(0)
	var ix *cpython.QualnameIndex
	for b.Loop() {
		ix, err = cpython.NewReader(m, l).QualnameIndex(runtime)
		require.NoError(b, err)
	}
	b.ReportMetric(float64(reads.n.Load())/float64(b.N), "reads/op")
	st := ix.Stats()
	b.ReportMetric(float64(report.Modules), "modules")
	b.ReportMetric(float64(ix.Len()), "names")
	b.ReportMetric(float64(st.Objects), "objects")
}

// countingReader counts the reads of r: system calls, on /proc/PID/mem.
type countingReader struct {
	r io.ReaderAt
	n atomic.Int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	c.n.Add(1)
	return c.r.ReadAt(p, off)
}
