package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Capabilities recapid needs when it does not run as root (linux/capability.h).
const (
	capDACReadSearch = 2
	capSysPtrace     = 19
	capSysAdmin      = 21
	capPerfmon       = 38
	capBPF           = 39
)

// errNoPrivileges is returned by checkPrivileges.
var errNoPrivileges = errors.New("recapid needs root")

// checkPrivileges fails early, with what to do, when recapid cannot load BPF
// programs or read other processes' memory.
func checkPrivileges() error {
	if os.Geteuid() == 0 {
		return nil
	}
	eff := effectiveCaps()
	has := func(c uint) bool { return eff&(1<<c) != 0 }
	bpfOK := has(capSysAdmin) || (has(capBPF) && has(capPerfmon))
	if bpfOK && has(capSysPtrace) {
		return nil
	}
	return fmt.Errorf("%w: it loads BPF programs and reads the memory of the processes it traces; run it with sudo, or grant CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (euid %d)", errNoPrivileges, os.Geteuid())
}

func effectiveCaps() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return n
		}
	}
	return 0
}
