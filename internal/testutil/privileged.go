// Package testutil holds helpers shared by recapi's tests.
package testutil

import (
	"fmt"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
)

// PrivilegedEnv is set to 1 by CI: privileged tests must run, a skip fails.
const PrivilegedEnv = "RECAPI_PRIVILEGED_TESTS"

// SkipPrivilegedEnv is set to 1 by make test-unit: privileged tests skip even
// when they could run (as root), so that a unit run loads no BPF, starts no
// database server and mounts nothing. With PrivilegedEnv=1 too, they fail:
// a run cannot both require them and leave them out.
const SkipPrivilegedEnv = "RECAPI_SKIP_PRIVILEGED_TESTS"

// RequireBPF skips a test that needs root and BPF, or fails it when
// privileged tests are required in this run.
func RequireBPF(t testing.TB) {
	t.Helper()
	requirePrivileges(t, func() string {
		err := features.HaveProgramType(ebpf.Kprobe)
		if os.Geteuid() == 0 && err == nil {
			return ""
		}
		return fmt.Sprintf("needs root and BPF (euid %d, probe: %v)", os.Geteuid(), err)
	})
}

// RequireRoot skips a test that needs root for something other than BPF
// (what, such as "mount a tmpfs"), or fails it when privileged tests are
// required in this run.
func RequireRoot(t testing.TB, what string) {
	t.Helper()
	requirePrivileges(t, func() string {
		if os.Geteuid() == 0 {
			return ""
		}
		return fmt.Sprintf("needs root to %s (euid %d)", what, os.Geteuid())
	})
}

// requirePrivileges returns when the run allows privileged tests and missing
// reports nothing missing; otherwise it skips t, or fails it when privileged
// tests are required.
func requirePrivileges(t testing.TB, missing func() string) {
	t.Helper()
	reason := skippedHere()
	if reason == "" {
		if reason = missing(); reason == "" {
			return
		}
	}
	if os.Getenv(PrivilegedEnv) == "1" {
		t.Fatalf("%s; privileged tests are required in this run", reason)
	}
	t.Skipf("%s; run them with: sudo -E make test-privileged", reason)
}

// skippedHere says why this run leaves privileged tests out, or "" when it
// does not.
func skippedHere() string {
	if os.Getenv(SkipPrivilegedEnv) == "1" {
		return fmt.Sprintf("privileged test left out of a unit run (%s=1)", SkipPrivilegedEnv)
	}
	return ""
}

// Missing skips a privileged test that lacks what it needs (what says which
// thing, and how to get it), or fails it when privileged tests are required
// in this run.
func Missing(t testing.TB, what string) {
	t.Helper()
	requirePrivileges(t, func() string { return "missing " + what })
}
