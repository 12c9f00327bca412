package atomicfile_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
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

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.pyi")

	require.NoError(t, atomicfile.WriteFile(path, []byte("first"), 0o644))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "first", string(got))

	require.NoError(t, atomicfile.WriteFile(path, []byte("second, longer"), 0o644))
	got, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "second, longer", string(got))

	require.NoError(t, atomicfile.WriteFile(path, nil, 0o644))
	got, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Empty(t, got, "replaced by an empty file, not left as it was")
	testutil.AssertOnlyFiles(t, dir, "out.pyi")
}

func TestWriteFileRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	require.NoError(t, atomicfile.WriteFile("rel.json", []byte("{}"), 0o644))
	got, err := os.ReadFile("rel.json")
	require.NoError(t, err)
	assert.Equal(t, "{}", string(got))
	testutil.AssertOnlyFiles(t, ".", "rel.json")
}

func TestWriteFileMode(t *testing.T) {
	// The umask of a daemon or a user must not make a file that is meant
	// to be shared unreadable; nor may CreateTemp's 0600 stay.
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })
	dir := t.TempDir()
	for _, perm := range []fs.FileMode{0o644, 0o600, 0o640} {
		t.Run(perm.String(), func(t *testing.T) {
			path := filepath.Join(dir, "f")
			require.NoError(t, atomicfile.WriteFile(path, []byte("x"), perm))
			fi, err := os.Stat(path)
			require.NoError(t, err)
			assert.Equal(t, perm, fi.Mode().Perm())
		})
	}
}

// TestWriteFailsPartWay fails the write after some of the data, as a full
// disk does, and checks that the old file survives whole, no temporary file
// is left, and the error names the path and keeps the cause.
func TestWriteFailsPartWay(t *testing.T) {
	tests := []struct {
		name  string
		exist bool
	}{
		{name: "replacing a file", exist: true},
		{name: "new file", exist: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out.recapi.zst")
			if tt.exist {
				require.NoError(t, os.WriteFile(path, []byte("old content"), 0o644))
			}

			err := atomicfile.Write(path, 0o644, func(f *os.File) error {
				if _, err := f.Write(bytes.Repeat([]byte("new "), 1<<18)); err != nil {
					return err
				}
				return fmt.Errorf("write block: %w", syscall.ENOSPC)
			})
			require.Error(t, err)
			assert.ErrorIs(t, err, syscall.ENOSPC)
			assert.EqualError(t, err, "write "+path+": write block: no space left on device")
			var pe *fs.PathError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, path, pe.Path)

			if !tt.exist {
				testutil.AssertOnlyFiles(t, dir)
				return
			}
			old, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, "old content", string(old))
			testutil.AssertOnlyFiles(t, dir, "out.recapi.zst")
		})
	}
}

func TestWriteErrors(t *testing.T) {
	t.Run("no such directory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "missing", "out.json")
		err := atomicfile.WriteFile(path, []byte("x"), 0o644)
		require.Error(t, err)
		assert.True(t, strings.HasPrefix(err.Error(), "write "+path+": "), err.Error())
		assert.ErrorIs(t, err, os.ErrNotExist)
	})
	t.Run("path is a directory", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "taken")
		require.NoError(t, os.Mkdir(path, 0o755))
		err := atomicfile.WriteFile(path, []byte("x"), 0o644)
		require.Error(t, err)
		assert.True(t, strings.HasPrefix(err.Error(), "write "+path+": "), err.Error())
		testutil.AssertOnlyFiles(t, dir, "taken")
	})
	t.Run("write closes the file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "out")
		err := atomicfile.Write(path, 0o644, func(f *os.File) error { return f.Close() })
		require.Error(t, err, "the sync after write fails")
		assert.ErrorIs(t, err, os.ErrClosed)
		testutil.AssertOnlyFiles(t, dir)
	})
}

// A program that opens the file by name, as SQLite does, writes the
// temporary file, not the target.
func TestWriteByName(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "db")
	require.NoError(t, os.WriteFile(path, []byte("old"), 0o644))
	err := atomicfile.Write(path, 0o644, func(f *os.File) error {
		assert.Equal(t, dir, filepath.Dir(f.Name()), "in the directory of path")
		assert.True(t, strings.HasPrefix(filepath.Base(f.Name()), ".db.tmp-"), f.Name())
		return os.WriteFile(f.Name(), []byte("new"), 0o600)
	})
	require.NoError(t, err)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "new", string(got))
	testutil.AssertOnlyFiles(t, dir, "db")
}

func TestWriteReplacesSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	link := filepath.Join(dir, "link")
	require.NoError(t, os.WriteFile(target, []byte("target"), 0o644))
	require.NoError(t, os.Symlink(target, link))
	require.NoError(t, atomicfile.WriteFile(link, []byte("new"), 0o644))
	got, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, "target", string(got), "the link's target is left alone")
	fi, err := os.Lstat(link)
	require.NoError(t, err)
	assert.True(t, fi.Mode().IsRegular())
}

// TestReadersSeeOldOrNew reads the file while it is replaced again and again:
// every read sees one whole version, never a mix or a prefix.
func TestReadersSeeOldOrNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out")
	version := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, 64<<10+i) }
	require.NoError(t, atomicfile.WriteFile(path, version(0), 0o644))

	const writes = 40
	done := make(chan struct{})
	bad := make(chan string, 1)
	go func() {
		defer close(bad)
		for {
			select {
			case <-done:
				return
			default:
			}
			got, err := os.ReadFile(path)
			if err != nil {
				bad <- err.Error()
				return
			}
			i := len(got) - 64<<10
			if i < 0 || i > writes || !bytes.Equal(got, version(i)) {
				bad <- fmt.Sprintf("read %d bytes that are no version written", len(got))
				return
			}
		}
	}()
	for i := 1; i <= writes; i++ {
		require.NoError(t, atomicfile.WriteFile(path, version(i), 0o644))
	}
	close(done)
	for msg := range bad {
		t.Error(msg)
	}
}

func TestWriteErrorIsPathError(t *testing.T) {
	cause := errors.New("encoder on fire")
	err := atomicfile.Write(filepath.Join(t.TempDir(), "x"), 0o644, func(*os.File) error { return cause })
	var pe *fs.PathError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "write", pe.Op)
	assert.Same(t, cause, pe.Err)
}
