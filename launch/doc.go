// Package launch starts a command under ptrace and holds it stopped until
// the CPython interpreter it runs is mapped and no line of Python has run,
// so that probes attached then see every call. It follows wrappers that
// exec the interpreter in their own process (env, chroot, nice), and lets
// the process go with Resume.
//
// It knows nothing of BPF: it finds the interpreter with pyelf and hands it
// back to the caller, which attaches and then resumes.
package launch
