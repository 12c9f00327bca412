package proc

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseMaps(t *testing.T) {
	maps := strings.Join([]string{
		"00400000-00420000 r--p 00000000 fd:01 1234                               /usr/bin/python3.11",
		"00420000-006d2000 r-xp 00020000 fd:01 1234                               /usr/bin/python3.11",
		"01a3e000-01b9c000 rw-p 00000000 00:00 0                                  [heap]",
		"7f2baa000000-7f2baa021000 rw-p 00000000 00:00 0 ",
		"7f2bab000000-7f2bab100000 r-xp 00010000 fd:01 99                         /opt/my app/libpython3.12.so.1.0 (deleted)",
		"7ffd4c1f0000-7ffd4c211000 rw-p 00000000 00:00 0                          [stack]",
	}, "\n") + "\n"
	got, err := ParseMaps([]byte(maps))
	require.NoError(t, err)
	want := []Mapping{
		{Start: 0x400000, End: 0x420000, Offset: 0, Perms: "r--p", Inode: 1234, Path: "/usr/bin/python3.11"},
		{Start: 0x420000, End: 0x6d2000, Offset: 0x20000, Perms: "r-xp", Inode: 1234, Path: "/usr/bin/python3.11"},
		{Start: 0x7f2bab000000, End: 0x7f2bab100000, Offset: 0x10000, Perms: "r-xp", Inode: 99, Path: "/opt/my app/libpython3.12.so.1.0 (deleted)"},
	}
	assert.Equal(t, want, got)

	_, err = ParseMaps([]byte("zzzz-0000 r-xp 00000000 fd:01 1 /x\n"))
	assert.Error(t, err)
}

// FuzzParseMaps feeds arbitrary text to the /proc/PID/maps parser.
func FuzzParseMaps(f *testing.F) {
	f.Add([]byte("00400000-00420000 r--p 00000000 fd:01 1234   /usr/bin/python3.11\n"))
	f.Add([]byte("7f2bab000000-7f2bab100000 r-xp 00010000 fd:01 99 /opt/my app/lib.so (deleted)\n[heap]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ms, err := ParseMaps(data)
		if err != nil {
			return
		}
		for _, m := range ms {
			if !strings.HasPrefix(m.Path, "/") {
				t.Fatalf("mapping without a path: %+v", m)
			}
		}
	})
}
