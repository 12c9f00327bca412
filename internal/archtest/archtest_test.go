package archtest

import (
	"bufio"
	"errors"
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/internal/testutil"
)

// module is the import path of the repository's module.
const module = "github.com/recapi/recapi"

// layers is the table of docs/architecture.md ("Imports"): each package's
// layer and the packages of the module it imports, all of them. Imports
// point to lower layers only. Change both together:
// TestArchitectureDocMatches compares them.
var layers = map[string]struct {
	layer   int
	imports []string
}{
	"bpf":                     {0, nil},
	"proc":                    {0, nil},
	"internal/atomicfile":     {0, nil},
	"internal/jsonscan":       {0, nil},
	"internal/archtest":       {0, nil},
	"aggregate":               {1, []string{"internal/atomicfile", "internal/jsonscan"}},
	"cpython":                 {1, []string{"proc"}},
	"internal/testutil":       {1, []string{"internal/atomicfile"}},
	"pyelf":                   {2, []string{"cpython", "internal/atomicfile", "proc"}},
	"infer":                   {2, []string{"aggregate"}},
	"store":                   {2, []string{"aggregate"}},
	"sink":                    {2, []string{"aggregate"}},
	"internal/table":          {2, []string{"aggregate"}},
	"aggregate/aggregatetest": {2, []string{"aggregate"}},
	"cpython/cpythontest":     {2, []string{"cpython", "proc"}},
	"launch":                  {3, []string{"pyelf"}},
	"tracer":                  {3, []string{"aggregate", "bpf", "cpython", "proc", "pyelf"}},
	"stub":                    {3, []string{"aggregate", "infer", "internal/atomicfile", "internal/table"}},
	"cmd/recapid":             {4, []string{"aggregate", "bpf", "internal/table", "launch", "proc", "pyelf", "sink", "store", "tracer"}},
	"cmd/recapi":              {4, []string{"aggregate", "infer", "internal/atomicfile", "internal/table", "store", "stub"}},
	"internal/bench":          {4, []string{"aggregate", "internal/testutil"}},
	"internal/benchmerge":     {4, []string{"aggregate"}},
}

// rootless are the packages that must test anywhere without root: none of
// them may reach bpf, even through another package.
var rootless = []string{"aggregate", "infer", "store", "sink", "stub", "cmd/recapi"}

// imports reads the repository's packages from source: each package's
// imports of the module's own packages (not its tests'), by path relative
// to the module ("tracer", "cmd/recapid").
func imports(t *testing.T) map[string][]string {
	t.Helper()
	root := testutil.RepoRoot(t)
	out := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if path != root && (strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(path, 0)
		var noGo *build.NoGoError
		if errors.As(err, &noGo) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		var own []string
		for _, imp := range pkg.Imports {
			if p, ok := strings.CutPrefix(imp, module+"/"); ok {
				own = append(own, p)
			}
		}
		out[filepath.ToSlash(rel)] = own
		return nil
	})
	require.NoError(t, err)
	require.Contains(t, out, "tracer", "the walk found the module's packages")
	return out
}

// Every package is in the table and imports what its row says, no more and
// no less, and the table is a stack of layers: no row names a package of
// its own layer or above.
func TestImportsFollowLayers(t *testing.T) {
	graph := imports(t)
	for pkg, imps := range graph {
		row, ok := layers[pkg]
		if !assert.True(t, ok, "package %s is not in docs/architecture.md: add its row there and in layers", pkg) {
			continue
		}
		for _, imp := range imps {
			assert.Contains(t, row.imports, imp, "%s imports %s, which its row in docs/architecture.md does not allow", pkg, imp)
		}
		for _, imp := range row.imports {
			assert.Contains(t, imps, imp, "the row of %s in docs/architecture.md names %s, which it does not import", pkg, imp)
		}
	}
	for pkg, row := range layers {
		assert.Contains(t, graph, pkg, "docs/architecture.md has a row for %s, which does not exist", pkg)
		for _, imp := range row.imports {
			below, ok := layers[imp]
			if assert.True(t, ok, "the row of %s allows %s, which has no row", pkg, imp) {
				assert.Less(t, below.layer, row.layer, "the row of %s (layer %d) allows %s of layer %d: imports point to lower layers only",
					pkg, row.layer, imp, below.layer)
			}
		}
	}
	for _, pkg := range rootless {
		seen := map[string]bool{}
		var walk func(p string)
		walk = func(p string) {
			if seen[p] {
				return
			}
			seen[p] = true
			for _, imp := range graph[p] {
				walk(imp)
			}
		}
		walk(pkg)
		assert.False(t, seen["bpf"], "%s reaches bpf: it would need root to test", pkg)
	}
}

// docRow is one row of the table of docs/architecture.md:
// | layer | `package` | job | `import`, `import` |
var docRow = regexp.MustCompile("^\\| (\\d+) \\| `([^`]+)` \\| [^|]+ \\| ([^|]+) \\|$")

// The table of docs/architecture.md is the table of this test: the same
// packages, layers and imports.
func TestArchitectureDocMatches(t *testing.T) {
	f, err := os.Open(filepath.Join(testutil.RepoRoot(t), "docs", "architecture.md"))
	require.NoError(t, err)
	defer f.Close()
	doc := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := docRow.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		layer, _ := strconv.Atoi(m[1])
		pkg := m[2]
		var imps []string
		if s := strings.TrimSpace(m[3]); s != "—" {
			for _, f := range strings.Split(s, ",") {
				imps = append(imps, strings.Trim(strings.TrimSpace(f), "`"))
			}
		}
		assert.False(t, doc[pkg], "docs/architecture.md has two rows for %s", pkg)
		doc[pkg] = true
		row, ok := layers[pkg]
		if !assert.True(t, ok, "docs/architecture.md has a row for %s, layers does not", pkg) {
			continue
		}
		assert.Equal(t, row.layer, layer, "layer of %s: layers, docs/architecture.md", pkg)
		want := slices.Clone(row.imports)
		slices.Sort(want)
		slices.Sort(imps)
		assert.Equal(t, want, imps, "imports of %s: layers, docs/architecture.md", pkg)
	}
	require.NoError(t, sc.Err())
	for pkg := range layers {
		assert.True(t, doc[pkg], "layers has %s, docs/architecture.md has no row for it", pkg)
	}
}
