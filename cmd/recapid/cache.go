package main

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"log/slog"
	"path/filepath"

	"github.com/recapi/recapi/pyelf"
)

// cacheAnalyses keeps interpreter analyses in cacheDir/analyses across runs
// (pyelf.CacheAnalyses), keyed by recapid's own build ID. The cache only
// saves time, so a cache that cannot be used is noted at Debug level.
func cacheAnalyses(cacheDir string, log *slog.Logger) {
	if cacheDir == "" {
		return
	}
	id := goBuildID("/proc/self/exe")
	if id == "" {
		log.Debug("interpreter analyses are not cached: recapid has no Go build ID")
		return
	}
	if err := pyelf.CacheAnalyses(filepath.Join(cacheDir, "analyses"), id); err != nil {
		log.Debug("interpreter analyses are not cached", "err", err)
	}
}

// goBuildID returns the Go build ID of an executable (its .note.go.buildid,
// which changes whenever its code does), or "" if it has none.
func goBuildID(path string) string {
	f, err := elf.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sec := f.Section(".note.go.buildid")
	if sec == nil {
		return ""
	}
	data, err := sec.Data()
	// namesz, descsz, type, the name "Go\0\0", the description.
	if err != nil || len(data) < 16 || !bytes.Equal(data[12:16], []byte("Go\x00\x00")) {
		return ""
	}
	n := binary.LittleEndian.Uint32(data[4:])
	if binary.LittleEndian.Uint32(data[0:]) != 4 || uint64(len(data)) < 16+uint64(n) {
		return ""
	}
	return string(data[16 : 16+n])
}
