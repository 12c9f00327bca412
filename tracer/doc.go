// Package tracer counts the calls of CPython processes with BPF and names
// what it counted. A Tracer owns the loaded BPF objects, the ring buffer of
// first-sight events and the set of traced processes; Attach adds a process
// (its layout into the BPF config map, its probes), Drain turns the counts
// made since the last Drain into named aggregate.Records, Snapshot returns
// the totals, and DetachAll and Close remove every probe.
//
// Each traced process is a target that owns what is known about it: its
// memory, its code objects, types, argument and value descriptions, its
// qualname index, and the state of its outcome windows (the probes that see
// how calls end, attached for a while at a time). Pointers never leave the
// package: records carry names. The event reader only hands each
// first-sight event to its target; the target names it on its own
// goroutine, under its own lock, reading the process's memory where BPF
// could not copy a name whole, and Drain names what is left before it
// counts.
//
// Layouts and object readers come from cpython, probe points from pyelf,
// /proc and process memory from proc; tracer copies what they found into
// the BPF program's maps (pyConfig, bpfProbe). It does not log per event:
// it counts what it could not name and reports the totals in the snapshot's
// stats.
package tracer
