package cpython

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLayoutsUnchanged compares the layout table with the one built by
// oldFrameLayout and init() before the rewrite (testdata/layouts_before.json).
// The only changes are fields that were 0 only because nothing set them:
// CFrame_current_frame, which _PyCFrame has only on 3.11 and 3.12.
func TestLayoutsUnchanged(t *testing.T) {
	b, err := os.ReadFile("testdata/layouts_before.json")
	require.NoError(t, err)
	var before map[int]Layout
	require.NoError(t, json.Unmarshal(b, &before))
	require.Len(t, before, len(layouts))
	for minor, want := range before {
		if minor != 11 && minor != 12 {
			require.Equal(t, 0, want.CFrame_current_frame)
			want.CFrame_current_frame = Absent
		}
		assert.Equal(t, want, layouts[minor], "3.%d", minor)
	}
}
