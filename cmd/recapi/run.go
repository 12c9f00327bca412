package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/recapi/recapi/aggregate"
)

// Exit codes of every subcommand.
const (
	exitOK    = 0
	exitError = 1 // the command failed: a file could not be read or written
	exitUsage = 2 // bad flags or arguments
)

// version is set at link time: -ldflags "-X main.version=v0.1.0".
var version = ""

// command is one subcommand. run gets the arguments after the subcommand's
// name and returns an exit code; given -h it prints its help to stdout.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// commands in the order help lists them. merge, diff, api, stub, export and
// import come here as they are written.
func commands() []command {
	return []command{
		{name: "show", summary: "top functions and their most common signatures in a snapshot", run: runShow},
		{name: "merge", summary: "merge snapshots into one, adding up the counts", run: runMerge},
		{name: "diff", summary: "functions and signatures that appeared or disappeared between two snapshots", run: runDiff},
		{name: "api", summary: "API-usage report as JSON: types, calls and callers per function", run: runAPI},
		{name: "stub", summary: "write a .pyi stub tree from the observed calls", run: runStub},
		{name: "export", summary: "write a snapshot or store as a snapshot or a MonkeyType database", run: runExport},
		{name: "import", summary: "add snapshots to a store", run: runImport},
		{name: "version", summary: "print the version of recapi and of the snapshot format", run: runVersion},
		{name: "help", summary: "show help for recapi or one of its commands", run: runHelp},
	}
}

func findCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	case "-version", "--version":
		return runVersion(nil, stdout, stderr)
	}
	c, ok := findCommand(args[0])
	if !ok {
		fmt.Fprintf(stderr, "recapi: unknown command %q\nRun 'recapi help' for usage.\n", args[0])
		return exitUsage
	}
	return c.run(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprint(w, `recapi shows what recapid recorded: which Python functions were called, how
often, from where, and with which argument and return types. It needs no root.

Usage:
  recapi COMMAND [flags] [arguments]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Run 'recapi help COMMAND' or 'recapi COMMAND -h' for the flags of a command.
`)
}

func runHelp(args []string, stdout, stderr io.Writer) int {
	switch len(args) {
	case 0:
		usage(stdout)
		return exitOK
	case 1:
		c, ok := findCommand(args[0])
		if !ok {
			fmt.Fprintf(stderr, "recapi help: unknown command %q\nRun 'recapi help' for usage.\n", args[0])
			return exitUsage
		}
		if c.name == "help" {
			usage(stdout)
			return exitOK
		}
		return c.run([]string{"-h"}, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "recapi help: too many arguments\nUsage: recapi help [COMMAND]\n")
		return exitUsage
	}
}

func runVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", "", `Print the version of recapi, the Go release it was built with, and the
snapshot format it reads and writes.`, stderr)
	if code, ok := parse(fs, args, stdout); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return usageError(fs, stderr, "unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if _, err := fmt.Fprintf(stdout, "recapi %s (%s %s/%s, snapshot format %d)\n",
		versionString(), runtime.Version(), runtime.GOOS, runtime.GOARCH, aggregate.SnapshotVersion); err != nil {
		fmt.Fprintf(stderr, "recapi version: write output: %v\n", err)
		return exitError
	}
	return exitOK
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// newFlagSet returns the flag set of a subcommand. Its usage, printed for -h,
// is "Usage: recapi NAME SYNOPSIS", the description and the flags. Parse
// errors go to stderr.
func newFlagSet(name, synopsis, description string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("recapi "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: recapi %s", name)
		if synopsis != "" {
			fmt.Fprintf(w, " %s", synopsis)
		}
		fmt.Fprintf(w, "\n\n%s\n", description)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprint(w, "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parse parses args into fs, allowing flags after the positional arguments
// too ("recapi show FILE --json"); "--" ends the flags. With -h it prints
// the usage to stdout and returns exitOK, false; on a bad flag it returns
// exitUsage, false after the flag package has said what is wrong on stderr.
func parse(fs *flag.FlagSet, args []string, stdout io.Writer) (code int, ok bool) {
	// The flag package prints the usage to stderr on -h and after every
	// error; print it to stdout on -h only.
	usage := fs.Usage
	fs.Usage = func() {}
	defer func() { fs.Usage = usage }()

	var positional []string
	for {
		err := fs.Parse(args)
		if err == flag.ErrHelp {
			fs.SetOutput(stdout)
			usage()
			return exitOK, false
		}
		if err != nil {
			fmt.Fprintf(fs.Output(), "Run '%s -h' for usage.\n", fs.Name())
			return exitUsage, false
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	// Leave the positional arguments where fs.Args finds them.
	if err := fs.Parse(append([]string{"--"}, positional...)); err != nil {
		return exitUsage, false
	}
	return exitOK, true
}

// usageError reports a bad invocation the flag package did not catch.
func usageError(fs *flag.FlagSet, stderr io.Writer, format string, a ...any) int {
	fmt.Fprintf(stderr, "%s: %s\nRun '%s -h' for usage.\n", fs.Name(), fmt.Sprintf(format, a...), fs.Name())
	return exitUsage
}
