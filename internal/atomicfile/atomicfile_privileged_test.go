package atomicfile_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/internal/atomicfile"
	"github.com/recapi/recapi/internal/testutil"
)

// TestWriteFullDisk writes to a file on a full file system when the test
// runs as root: a 64 KiB tmpfs mounted for it. The write fails with ENOSPC
// from the kernel, not from the test.
func TestWriteFullDisk(t *testing.T) {
	testutil.RequireRoot(t, "mount a tmpfs")
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		reason := fmt.Sprintf("mount a tmpfs on %s: %v (a container without CAP_SYS_ADMIN?)", dir, err)
		if os.Getenv(testutil.PrivilegedEnv) == "1" {
			t.Fatalf("%s; privileged tests are required in this run", reason)
		}
		t.Skip(reason)
	}
	t.Cleanup(func() { syscall.Unmount(dir, 0) })
	path := filepath.Join(dir, "api.json")
	require.NoError(t, os.WriteFile(path, []byte("old content"), 0o644))

	err := atomicfile.WriteFile(path, bytes.Repeat([]byte("x"), 1<<20), 0o644)
	require.Error(t, err)
	assert.ErrorIs(t, err, syscall.ENOSPC)
	assert.True(t, strings.HasPrefix(err.Error(), "write "+path+": "), err.Error())
	old, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "old content", string(old))
	testutil.AssertOnlyFiles(t, dir, "api.json")
}
