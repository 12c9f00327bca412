package aggregate

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWriteFileDiskFull fails the write half way, as a full disk would, and
// checks that the old snapshot survives and no temporary file is left.
func TestWriteFileDiskFull(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.recapi.zst")
	require.NoError(t, os.WriteFile(path, []byte("old snapshot"), 0o644))

	err := writeFile(path, func(w io.Writer) error {
		if _, err := w.Write(make([]byte, 1<<20)); err != nil {
			return err
		}
		return fmt.Errorf("write snapshot: %w", syscall.ENOSPC)
	})
	require.Error(t, err)
	assert.ErrorIs(t, err, syscall.ENOSPC)
	assert.True(t, strings.HasPrefix(err.Error(), "write snapshot "+path+": "), err.Error())

	old, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "old snapshot", string(old))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "temporary file removed")
	assert.Equal(t, "out.recapi.zst", entries[0].Name())
}
