// Package pyelf analyses the ELF file of a CPython interpreter (a python
// executable with libpython linked in, or libpython3.X.so), and finds which
// such file a running process executes.
//
// Per binary, Analyze returns a Binary: the CPython version (from
// Py_Version, Py_GetVersion or a version string in the read-only data),
// the addresses of _PyRuntime and of the builtin types, where the current
// thread's PyThreadState lives (TState), the eval loop's dispatch table, and
// the uprobe points (ProbePoint): instructions of the eval loop's entry or
// of the RESUME- and RETURN-family handlers, found by decoding x86-64
// machine code, each checked to be safe to probe and to have the frame in a
// known register. Addresses in a Binary are those of the file. Analyses are
// kept in memory and, with CacheAnalyses, on disk, keyed by the file's
// identity, so processes that run one interpreter share one analysis.
//
// Per process, FindInterpreter returns a Process: which mapped file holds
// the eval loop, a path that opens it from our mount namespace, and its load
// bias, which turns the Binary's addresses into the process's. It reads
// /proc/PID/exe and /proc/PID/maps, never the process's memory.
//
// pyelf does not read CPython objects: the struct layouts and versions it
// returns are package cpython's, and the readers of objects in memory are
// there too; /proc parsing is package proc's. tracer attaches the probes
// and copies the layout and addresses into the BPF program's configuration.
// Only x86-64 interpreters are supported.
package pyelf
