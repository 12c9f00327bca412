package proc

import (
	"bytes"
	"os"
	"strconv"
	"strings"
)

// Small readers of /proc/PID. They return the zero value when the file
// cannot be read, typically because the process is gone: callers use them
// for names and identity checks, where that is an answer, not an error.

// dir is /proc/PID.
func dir(pid int) string { return "/proc/" + strconv.Itoa(pid) }

// Root is the root directory of process pid as seen from here,
// /proc/PID/root: prefixed to an absolute path in the process's mount
// namespace, it names the same file from ours.
func Root(pid int) string { return dir(pid) + "/root" }

// Cwd is the working directory of process pid as the process itself sees
// it, "" if it cannot be read. The link /proc/PID/cwd reads as seen from
// this process's root: for a process chrooted into /srv/app it reads
// /srv/app/home, which is /home inside, under Root(pid). (A process in its
// own mount namespace reads as its own path already.)
func Cwd(pid int) string {
	cwd, err := os.Readlink(dir(pid) + "/cwd")
	if err != nil {
		return ""
	}
	root, err := os.Readlink(Root(pid))
	if err != nil || root == "/" {
		return cwd
	}
	if cwd == root {
		return "/"
	}
	if strings.HasPrefix(cwd, root+"/") {
		return cwd[len(root):]
	}
	return cwd
}

// Cmdline is the argument vector of process pid, or nil (also for a kernel
// thread or a zombie, whose cmdline is empty).
func Cmdline(pid int) []string {
	b, err := os.ReadFile(dir(pid) + "/cmdline")
	if err != nil {
		return nil
	}
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil
	}
	return strings.Split(string(b), "\x00")
}

// Getenv is the value of name in the environment process pid started with
// (/proc/PID/environ), or "" when it is not set or cannot be read.
func Getenv(pid int, name string) string {
	b, err := os.ReadFile(dir(pid) + "/environ")
	if err != nil {
		return ""
	}
	for _, kv := range bytes.Split(b, []byte{0}) {
		if k, v, ok := bytes.Cut(kv, []byte{'='}); ok && string(k) == name {
			return string(v)
		}
	}
	return ""
}

// Comm is the command name of process pid (at most 15 bytes), or "".
func Comm(pid int) string {
	b, err := os.ReadFile(dir(pid) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// StartTime is field 22 of /proc/PID/stat, the time the process started in
// clock ticks after boot, or 0. A pid and its start time identify a process:
// a new process that reuses the pid has a later start time.
func StartTime(pid int) uint64 {
	b, err := os.ReadFile(dir(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name may contain spaces: fields count from after ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64)
	return v
}
