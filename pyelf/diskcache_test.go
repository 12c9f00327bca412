package pyelf

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cacheTestOn points the disk cache at a fresh directory for one test.
func cacheTestOn(t *testing.T, version string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "analyses")
	require.NoError(t, CacheAnalyses(dir, version))
	t.Cleanup(func() { _ = CacheAnalyses("", "") })
	return dir
}

// An analysis read back from the disk cache is the analysis that was
// stored, for every interpreter present.
func TestDiskCacheRoundTrip(t *testing.T) {
	cacheTestOn(t, "test-1")
	for _, tt := range elfTestBinaries() {
		t.Run(tt.name, func(t *testing.T) {
			want := elfTestAnalyze(t, tt.path)
			key := analyzeKey{Dev: 1, Ino: 2, Size: 3, Mtime: 4, Ctime: 5}
			storeAnalysis(key, want)
			got := loadAnalysis(key)
			require.NotNil(t, got)
			assert.Empty(t, got.Path)
			if want.OutcomeErr != nil {
				require.Error(t, got.OutcomeErr)
				assert.Equal(t, want.OutcomeErr.Error(), got.OutcomeErr.Error())
			}
			wantCopy, gotCopy := *want, *got
			wantCopy.Path, wantCopy.OutcomeErr, gotCopy.OutcomeErr = "", nil, nil
			assert.Equal(t, wantCopy, gotCopy)
		})
	}
}

func TestDiskCacheMisses(t *testing.T) {
	const path = "/usr/bin/python3.11"
	elfTestRequire(t, path)
	bin := elfTestAnalyze(t, path)
	key := analyzeKey{Dev: 1, Ino: 2, Size: 3, Mtime: 4, Ctime: 5}

	dir := cacheTestOn(t, "test-1")
	storeAnalysis(key, bin)
	require.NotNil(t, loadAnalysis(key))
	changed := key
	changed.Ctime++
	assert.Nil(t, loadAnalysis(changed), "another file identity")

	require.NoError(t, CacheAnalyses(dir, "test-2"))
	assert.Nil(t, loadAnalysis(key), "another version of the analysis")

	require.NoError(t, CacheAnalyses(dir, "test-1"))
	file, _ := diskPath(key)
	require.NoError(t, os.Chmod(file, 0o666))
	assert.Nil(t, loadAnalysis(key), "an entry others can write")
	require.NoError(t, os.Chmod(file, 0o600))
	require.NotNil(t, loadAnalysis(key))

	require.NoError(t, os.Chmod(dir, 0o777))
	assert.Error(t, CacheAnalyses(dir, "test-1"), "a directory others can write")
	assert.Nil(t, loadAnalysis(key), "the cache is off")
}

func TestDiskCachePrunes(t *testing.T) {
	const path = "/usr/bin/python3.11"
	elfTestRequire(t, path)
	bin := elfTestAnalyze(t, path)
	dir := cacheTestOn(t, "test-1")
	old := time.Now().Add(-time.Hour)
	for i := range maxDiskEntries + 5 {
		k := analyzeKey{Ino: uint64(i)}
		storeAnalysis(k, bin)
		// Entries made within one clock tick have the same time.
		file, _ := diskPath(k)
		at := old.Add(time.Duration(i) * time.Second)
		require.NoError(t, os.Chtimes(file, at, at))
	}
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, ents, maxDiskEntries)
	assert.Nil(t, loadAnalysis(analyzeKey{Ino: 0}), "the oldest entry goes")
	assert.NotNil(t, loadAnalysis(analyzeKey{Ino: maxDiskEntries + 4}), "the newest entry stays")
}
