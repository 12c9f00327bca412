package pyelf

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"

	"github.com/recapi/recapi/internal/atomicfile"
)

// Analyze disassembles all the code of an interpreter (a few hundred
// milliseconds for a 3 MB eval loop's file), and a recapid run meets the
// same few interpreters again and again: the disk cache keeps each analysis
// for the next run.

// diskCache is where analyses are kept across processes, if anywhere.
var diskCache struct {
	sync.Mutex
	dir     string // "" for none
	version string
}

// maxDiskEntries bounds the cache: past it, the oldest entries are removed.
const maxDiskEntries = 64

// CacheAnalyses makes FindInterpreter keep the analysis of each interpreter
// ELF file in dir, so that a later process meeting the same file (same
// device, inode, size, modification and change time) skips Analyze.
// version names the analysing code, and must change whenever it does
// (recapid passes its own build ID): entries of another version are not
// used. dir is created if needed; it and its entries are used only if they
// belong to the effective user and nobody else can write them, because
// probe points read from them are attached in the traced processes. An
// empty dir turns the cache off.
func CacheAnalyses(dir, version string) error {
	diskCache.Lock()
	defer diskCache.Unlock()
	diskCache.dir, diskCache.version = "", ""
	if dir == "" {
		return nil
	}
	if version == "" {
		return errors.New("cache analyses: no version to key them by")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cache analyses in %s: %w", dir, err)
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("cache analyses in %s: %w", dir, err)
	}
	if err := private(st); err != nil || !st.IsDir() {
		return fmt.Errorf("cache analyses in %s: not a private directory (%v)", dir, err)
	}
	diskCache.dir, diskCache.version = dir, version
	return nil
}

// private checks that a cache file or directory belongs to the effective
// user and that nobody else can write it.
func private(st os.FileInfo) error {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return errors.New("no owner")
	}
	if int(sys.Uid) != os.Geteuid() {
		return fmt.Errorf("owned by uid %d", sys.Uid)
	}
	if st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("mode %v", st.Mode().Perm())
	}
	return nil
}

// diskEntry is one cached analysis.
type diskEntry struct {
	Version    string
	File       analyzeKey
	Binary     *Binary // without Path and OutcomeErr
	OutcomeErr string
	Loads      []diskLoad
}

// diskLoad is an elfLoad with exported fields, for encoding.
type diskLoad struct {
	Vaddr, Off, Filesz uint64
	Exec               bool
}

// diskPath returns the cache file of key, or "" with the cache off.
func diskPath(key analyzeKey) (path, version string) {
	diskCache.Lock()
	dir, version := diskCache.dir, diskCache.version
	diskCache.Unlock()
	if dir == "" {
		return "", ""
	}
	b, _ := json.Marshal(key)
	sum := sha256.Sum256(append([]byte(version+"\n"), b...))
	return filepath.Join(dir, hex.EncodeToString(sum[:16])+".json"), version
}

// loadAnalysis returns the cached analysis of the file with identity key,
// or nil.
func loadAnalysis(key analyzeKey) *Binary {
	path, version := diskPath(key)
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || private(st) != nil {
		return nil
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil
	}
	var e diskEntry
	if err := json.Unmarshal(data, &e); err != nil || e.Version != version || e.File != key || e.Binary == nil {
		return nil
	}
	b := e.Binary
	if e.OutcomeErr != "" {
		b.OutcomeErr = errors.New(e.OutcomeErr)
	}
	for _, l := range e.Loads {
		b.loads = append(b.loads, elfLoad{vaddr: l.Vaddr, off: l.Off, filesz: l.Filesz, exec: l.Exec})
	}
	return b
}

// storeAnalysis caches the analysis of the file with identity key. Failing
// to is not an error: the next run analyses the file again.
func storeAnalysis(key analyzeKey, bin *Binary) {
	path, version := diskPath(key)
	if path == "" {
		return
	}
	cp := *bin
	cp.Path, cp.OutcomeErr, cp.loads = "", nil, nil
	e := diskEntry{Version: version, File: key, Binary: &cp}
	if bin.OutcomeErr != nil {
		e.OutcomeErr = bin.OutcomeErr.Error()
	}
	for _, l := range bin.loads {
		e.Loads = append(e.Loads, diskLoad{Vaddr: l.vaddr, Off: l.off, Filesz: l.filesz, Exec: l.exec})
	}
	data, err := json.Marshal(e)
	if err != nil {
		return
	}
	// Private, like the directory: the entry says where code lives in
	// processes root traces.
	if atomicfile.WriteFile(path, data, 0o600) != nil {
		return
	}
	pruneCache(filepath.Dir(path))
}

// pruneCache removes the oldest entries beyond maxDiskEntries.
func pruneCache(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) <= maxDiskEntries {
		return
	}
	type aged struct {
		name string
		mod  int64
	}
	var all []aged
	for _, e := range ents {
		if info, err := e.Info(); err == nil {
			all = append(all, aged{e.Name(), info.ModTime().UnixNano()})
		}
	}
	slices.SortFunc(all, func(a, b aged) int { return cmp.Compare(b.mod, a.mod) }) // newest first
	for _, a := range all[min(len(all), maxDiskEntries):] {
		os.Remove(filepath.Join(dir, a.name))
	}
}
