// Command recapid records how Python functions are called, from outside the
// process: it launches a command under trace (-- COMMAND) or attaches to
// running CPython interpreters (--pid), counts their calls with BPF probes,
// and adds what it recorded to a store, a snapshot file or both.
//
// This package is recapid's command line and nothing more: flags and their
// environment defaults (Config), the logger, the privileges check, the
// interpreter-analysis cache, the start-up steps' timings and the main
// loop, which drains the tracer into the sink until the command exits, the
// traced processes do, --duration passes or a signal comes. Exit codes: the
// launched command's with -- COMMAND, 0 after a clean detach, 1 on errors,
// 2 on usage errors.
//
// Its tests run the built binary: as root they trace real interpreters end
// to end; RECAPI_TEST_RECAPID names a binary built elsewhere
// (scripts/vmtest.sh).
package main
