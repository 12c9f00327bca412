// Package cpython knows CPython's data: the version numbers (Version,
// ParseVersion, VersionFromHex), the struct offsets and opcodes of each
// supported minor version (Layout, LayoutFor, checked against a 3.13+
// interpreter's own _Py_DebugOffsets by CheckDebugOffsets), and a Reader of
// CPython objects in the memory of a running interpreter: str, type names,
// code objects, dicts, tuples, and the qualified names of the functions
// reachable from sys.modules (Reader.QualnameIndex).
//
// It does not read ELF files or find interpreters: which version a process
// runs, and where its _PyRuntime is, come from package pyelf, which
// analyses the interpreter's file. Memory comes through a *proc.Memory. The
// process runs on while it is read, so anything read may be garbage: every
// length and count is bounded, and a pointer that leads nowhere is an error,
// never a crash. The readers return values and errors, never log, and never
// write to the process.
//
// tracer copies the Layout of each traced process into the BPF program's
// configuration, and reads code objects and types through this package to
// name what the BPF program reports by address.
package cpython
