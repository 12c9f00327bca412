// Package proc reads other processes from outside: their memory and their
// /proc/PID files.
//
// Memory reads a process's address space through any io.ReaderAt whose
// offsets are virtual addresses: /proc/PID/mem (OpenMemory), a core file, or
// a bytes.Reader in tests. Its reads are bounded and never succeed short,
// because what they read may be garbage: the process keeps running. The
// rest of the package parses /proc/PID/maps (ParseMaps), translates paths of
// a process in another mount namespace into ours (Root, OpenPath), and
// reads small files such as /proc/PID/stat.
//
// proc knows nothing of Python or ELF: what the bytes mean is for the
// packages built on it, cpython (objects in memory) and pyelf (the
// interpreter's file on disk); tracer uses it for the processes it traces.
// It never writes to a process, and it does not ptrace or signal one.
package proc
