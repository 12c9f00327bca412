package cpython

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLayoutsComplete reads layout.go and checks that every version's
// literal names every Layout field: a field left out would be 0, which is
// a valid offset, where the version may need Absent or another value.
func TestLayoutsComplete(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "layout.go", nil, 0)
	require.NoError(t, err)
	var table *ast.CompositeLit
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok && len(vs.Names) == 1 && vs.Names[0].Name == "layouts" {
			table, _ = vs.Values[0].(*ast.CompositeLit)
		}
		return table == nil
	})
	require.NotNil(t, table, "var layouts = map[int]Layout{...} not found in layout.go")

	var fields []string
	for f := range reflect.TypeFor[Layout]().Fields() {
		fields = append(fields, f.Name)
	}
	var minors []int
	for _, e := range table.Elts {
		kv := e.(*ast.KeyValueExpr)
		minor, err := strconv.Atoi(kv.Key.(*ast.BasicLit).Value)
		require.NoError(t, err)
		minors = append(minors, minor)
		var keys []string
		for _, fe := range kv.Value.(*ast.CompositeLit).Elts {
			keys = append(keys, fe.(*ast.KeyValueExpr).Key.(*ast.Ident).Name)
		}
		for _, name := range fields {
			assert.Contains(t, keys, name, "3.%d: %s is not written out (use Absent for a field the version lacks)", minor, name)
		}
		assert.Equal(t, minor, layouts[minor].Minor, "3.%d: Minor", minor)
	}
	slices.Sort(minors)
	want := []int{}
	for m := MinMinor; m <= MaxMinor; m++ {
		want = append(want, m)
	}
	assert.Equal(t, want, minors, "one literal per supported minor version")
}
