package store

import (
	"bytes"
	"slices"
)

func sortRows(rs []row) {
	slices.SortFunc(rs, func(a, b row) int { return bytes.Compare(a.hash, b.hash) })
}
