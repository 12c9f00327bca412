// Package sink sends what recapid records on: each drain's counts to a trace
// store every flush interval, everything recorded so far to rotating
// snapshot files, and counts a failing store does not take to a file that
// "recapi import" loads later.
//
// It reads a Source (the tracer: Drain for the counts made since the last
// drain, Snapshot for the totals) and writes to an Adder (a store.Store), so
// it needs neither BPF nor a database to test. It never imports bpf or the
// tracer.
package sink
