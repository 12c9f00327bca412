package proc

import "strconv"

// dir is /proc/PID.
func dir(pid int) string { return "/proc/" + strconv.Itoa(pid) }

// Root is the root directory of process pid as seen from here,
// /proc/PID/root: prefixed to an absolute path in the process's mount
// namespace, it names the same file from ours.
func Root(pid int) string { return dir(pid) + "/root" }
