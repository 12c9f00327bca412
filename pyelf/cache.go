package pyelf

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"github.com/recapi/recapi/cpython"
)

// analyzeCache memoizes Analyze by file identity. Failures are cached too,
// so a host full of non-Python processes is not re-read on every scan.
var analyzeCache = struct {
	sync.Mutex
	m map[analyzeKey]analyzeResult
}{m: map[analyzeKey]analyzeResult{}}

const analyzeCacheMax = 512

// analyzeKey identifies a file's contents: a change of the contents changes
// the change time (Ctime) even when the modification time is kept.
type analyzeKey struct {
	Dev, Ino           uint64
	Size, Mtime, Ctime int64
}

type analyzeResult struct {
	bin *Binary
	err error
}

// analyzeCached is Analyze with a cache keyed by the file's identity, in
// memory and, for successful analyses, on disk (CacheAnalyses).
func analyzeCached(path string) (*Binary, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return Analyze(path)
	}
	key := analyzeKey{Dev: sys.Dev, Ino: sys.Ino, Size: st.Size(), Mtime: st.ModTime().UnixNano(),
		Ctime: sys.Ctim.Sec*1e9 + sys.Ctim.Nsec}
	analyzeCache.Lock()
	r, hit := analyzeCache.m[key]
	analyzeCache.Unlock()
	if hit {
		return r.forPath(path)
	}
	var bin *Binary
	if bin = loadAnalysis(key); bin != nil {
		bin.Path = path
	} else if bin, err = Analyze(path); err == nil {
		storeAnalysis(key, bin)
	}
	var ve *cpython.VersionError
	if err == nil || errors.Is(err, ErrNotPython) || errors.As(err, &ve) {
		analyzeCache.Lock()
		if len(analyzeCache.m) >= analyzeCacheMax {
			clear(analyzeCache.m)
		}
		analyzeCache.m[key] = analyzeResult{bin, err}
		analyzeCache.Unlock()
	}
	return bin, err
}

// forPath returns the cached result as if Analyze had read path: the same
// analysis, with Path (and a VersionError's Path) set to path. The Probes
// slice is shared.
func (r analyzeResult) forPath(path string) (*Binary, error) {
	var ve *cpython.VersionError
	switch {
	case r.bin != nil:
		cp := *r.bin
		cp.Path = path
		return &cp, nil
	case errors.As(r.err, &ve):
		cp := *ve
		cp.Path = path
		return nil, &cp
	}
	return nil, r.err
}
