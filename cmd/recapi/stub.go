package main

import (
	"fmt"
	"io"

	"github.com/recapi/recapi/infer"
	"github.com/recapi/recapi/stub"
)

func runStub(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("stub", "-o DIR [-module PREFIX]... [-overloads] [SRC...]",
		`Write a .pyi stub tree for every observed module of the snapshots (merged):
classes with their methods, @classmethod and @staticmethod, the imports each
stub needs, "= ..." for parameters with defaults, and a comment per function
with its calls and top callers. With -overloads, a function called with
distinct signatures gets one @overload per signature. Types are inferred by
the rules in docs/inference.md. A script's module is written as __main__.pyi.
Existing files in DIR are overwritten, other files are left alone. SRC is a
snapshot or a store URL; none means ./recapi.db.`, stderr)
	var (
		dir       string
		modules   stringList
		overloads bool
		inf       inferFlags
	)
	fs.StringVar(&dir, "o", "", "write the tree under `DIR`")
	fs.Var(&modules, "module", "only modules under `PREFIX` (repeatable; \"app\" matches app and app.views)")
	fs.BoolVar(&overloads, "overloads", false, "write @overload for functions called with distinct signatures")
	inf.register(fs)
	if code, ok := parse(fs, args, stdout); !ok {
		return code
	}
	if dir == "" {
		return usageError(fs, stderr, "missing -o DIR")
	}
	o, err := inf.options()
	if err != nil {
		return usageError(fs, stderr, "%v", err)
	}
	s, err := readInputs(fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "recapi stub: %v\n", err)
		return exitError
	}
	files := stub.Render(infer.Analyze(s.Records, o), stub.Options{Modules: modules, Overloads: overloads, Infer: o})
	if len(files) == 0 {
		fmt.Fprintf(stderr, "recapi stub: no module to write: the snapshots hold no function of a selected module with a Python name\n")
		return exitError
	}
	if err := stub.Write(dir, files); err != nil {
		fmt.Fprintf(stderr, "recapi stub: %v\n", err)
		return exitError
	}
	return exitOK
}
