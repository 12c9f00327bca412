package proc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Mapping is one line of /proc/PID/maps with a file behind it.
type Mapping struct {
	Start, End, Offset uint64
	Perms              string
	Inode              uint64
	// Path is the file's path in the process's mount namespace, with
	// " (deleted)" appended by the kernel when the file was removed.
	Path string
}

// ParseMaps parses /proc/PID/maps, keeping file-backed mappings.
func ParseMaps(data []byte) ([]Mapping, error) {
	var out []Mapping
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		// start-end perms offset dev inode   path (the path may contain spaces)
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasPrefix(f[5], "/") {
			continue
		}
		rng := strings.SplitN(f[0], "-", 2)
		if len(rng) != 2 {
			return nil, fmt.Errorf("parse maps line %q: bad address range", line)
		}
		var m Mapping
		var err1, err2, err3, err4 error
		m.Start, err1 = strconv.ParseUint(rng[0], 16, 64)
		m.End, err2 = strconv.ParseUint(rng[1], 16, 64)
		m.Offset, err3 = strconv.ParseUint(f[2], 16, 64)
		m.Inode, err4 = strconv.ParseUint(f[4], 10, 64)
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			return nil, fmt.Errorf("parse maps line %q: %w", line, err)
		}
		m.Perms = f[1]
		m.Path = line[strings.Index(line, f[5]):]
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse maps: %w", err)
	}
	return out, nil
}

// OpenPath returns a path to open the file of mapping m of process pid from
// our mount namespace: Root(pid)+PATH when that is still the mapped file
// (same inode), else /proc/PID/map_files/START-END of m, which reaches the
// mapped file even after it was deleted or replaced (root only). m is the
// first mapping of the file.
func OpenPath(pid int, m Mapping) string {
	path := strings.TrimSuffix(m.Path, " (deleted)")
	viaRoot := filepath.Join(Root(pid), path)
	if st, err := os.Stat(viaRoot); err == nil && path == m.Path {
		if sys, ok := st.Sys().(*syscall.Stat_t); !ok || sys.Ino == m.Inode {
			return viaRoot
		}
	}
	viaMapFiles := filepath.Join(dir(pid), "map_files", fmt.Sprintf("%x-%x", m.Start, m.End))
	if _, err := os.Stat(viaMapFiles); err == nil {
		return viaMapFiles
	}
	return viaRoot
}
