package main

import (
	"bytes"
	"fmt"
	"io"

	"github.com/recapi/recapi/infer"
	"github.com/recapi/recapi/internal/atomicfile"
	"github.com/recapi/recapi/stub"
)

// inferFlags are the flags that switch inference rules, shared by api and
// stub.
type inferFlags struct {
	noOptional, noDropEmpty, noNumericTower, foldBool, noMergeElements, noSelf bool
	largeUnion                                                                 int
	fallback                                                                   string
}

func (f *inferFlags) register(fs interface {
	BoolVar(*bool, string, bool, string)
	IntVar(*int, string, int, string)
	StringVar(*string, string, string, string)
}) {
	fs.BoolVar(&f.noOptional, "no-optional", false, "drop None from a parameter also seen with other types instead of writing X | None")
	fs.BoolVar(&f.noDropEmpty, "no-drop-empty", false, "keep empty containers next to non-empty ones of the same class")
	fs.BoolVar(&f.noNumericTower, "no-numeric-tower", false, "keep int | float instead of float (PEP 484 numeric tower)")
	fs.BoolVar(&f.foldBool, "fold-bool", false, "fold bool into int (and into float with the numeric tower)")
	fs.BoolVar(&f.noMergeElements, "no-merge-elements", false, "keep list[int] | list[str] instead of list[int | str]")
	fs.BoolVar(&f.noSelf, "no-self", false, "never write Self for methods that return their receiver")
	fs.IntVar(&f.largeUnion, "large-union", infer.DefaultLargeUnion, "rewrite unions of more than `N` types to a common base class; 0 keeps them")
	fs.StringVar(&f.fallback, "large-union-fallback", "object", "what a large union without a known common base becomes: `object` or Any")
}

func (f *inferFlags) options() (infer.Options, error) {
	o := infer.DefaultOptions()
	o.Optional = !f.noOptional
	o.DropEmpty = !f.noDropEmpty
	o.NumericTower = !f.noNumericTower
	o.KeepBool = !f.foldBool
	o.MergeElements = !f.noMergeElements
	o.SelfReturns = !f.noSelf
	if f.largeUnion < 0 {
		return o, fmt.Errorf("-large-union %d: want 0 (off) or more", f.largeUnion)
	}
	o.LargeUnion = f.largeUnion
	switch f.fallback {
	case "object":
		o.Fallback = "builtins.object"
	case "Any", "any":
		o.Fallback = "typing.Any"
	default:
		return o, fmt.Errorf("-large-union-fallback %q: want object or Any", f.fallback)
	}
	return o, nil
}

func runAPI(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("api", "[-o api.json] [-module PREFIX]... [SRC...]",
		`Write the API-usage report of the snapshots (merged) as JSON: per module and
function, the parameters with the types seen and their counts, the inferred
annotation, the returns, the calls, the callers by top-level package (calls
and distinct calling functions) and the distinct signatures. The schema is
in docs/api-schema.md. Output is sorted and has no timestamps. SRC is a
snapshot or a store URL (sqlite:PATH, postgres://...); none means ./recapi.db.`, stderr)
	var (
		out     string
		modules stringList
		inf     inferFlags
	)
	fs.StringVar(&out, "o", "", "write to `FILE` instead of stdout")
	fs.Var(&modules, "module", "only modules under `PREFIX` (repeatable)")
	inf.register(fs)
	if code, ok := parse(fs, args, stdout); !ok {
		return code
	}
	o, err := inf.options()
	if err != nil {
		return usageError(fs, stderr, "%v", err)
	}
	s, err := readInputs(fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "recapi api: %v\n", err)
		return exitError
	}
	api := stub.BuildAPI(infer.Analyze(s.Records, o), modules)
	var buf bytes.Buffer
	if err := api.WriteJSON(&buf); err != nil {
		fmt.Fprintf(stderr, "recapi api: encode: %v\n", err)
		return exitError
	}
	if out == "" {
		_, err = stdout.Write(buf.Bytes())
	} else {
		err = atomicfile.WriteFile(out, buf.Bytes(), 0o644)
	}
	if err != nil {
		fmt.Fprintf(stderr, "recapi api: write output: %v\n", err)
		return exitError
	}
	return exitOK
}
