// Package atomicfile replaces files so that a reader sees the old content or
// the complete new content, never part of it, and a crash or a full disk
// leaves no half-written file behind: the new content goes to a temporary
// file in the same directory, which is synced, renamed over the target, and
// the directory synced.
package atomicfile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Write creates or replaces the file at path with what write writes to f, a
// new temporary file in the same directory named ".BASE.tmp-*" (hidden, so
// globs such as *.pyi or recapi-*.recapi.zst do not see it). write may also
// hand f.Name() to code that opens the file by name, such as SQLite, but it
// must not close or rename f.
//
// The new file gets mode perm exactly, whatever the umask: a snapshot that
// the root daemon writes is for the unprivileged recapi to read. A symbolic
// link at path is replaced by the new file, not followed.
//
// On error the temporary file is removed and path is left as it was, unless
// only the final directory sync failed (then path has the new content, which
// may not survive a crash). Errors are *fs.PathError with Op "write" and Path
// path, wrapping the cause: what write returned, or the step that failed.
func Write(path string, perm fs.FileMode, write func(f *os.File) error) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if err := replace(dir, base, path, perm, write); err != nil {
		return &fs.PathError{Op: "write", Path: path, Err: err}
	}
	// The rename is durable only once the directory is synced.
	if err := syncDir(dir); err != nil {
		return &fs.PathError{Op: "write", Path: path, Err: err}
	}
	return nil
}

// WriteFile is Write with data as the new content: an os.WriteFile that never
// leaves a partly written file at path.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return Write(path, perm, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// replace writes the temporary file in dir and renames it to path.
func replace(dir, base, path string, perm fs.FileMode, write func(f *os.File) error) (err error) {
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// CreateTemp makes the file 0600.
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := write(f); err != nil {
		return err
	}
	// Data and size must be on disk before the rename makes them visible
	// under path: a crash between the two must not leave an empty file.
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
