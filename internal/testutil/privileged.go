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

// RequireBPF skips a test that needs root and BPF, or fails it when
// privileged tests are required in this run.
func RequireBPF(t testing.TB) {
	t.Helper()
	err := features.HaveProgramType(ebpf.Kprobe)
	if os.Geteuid() == 0 && err == nil {
		return
	}
	reason := fmt.Sprintf("needs root and BPF (euid %d, probe: %v)", os.Geteuid(), err)
	if os.Getenv(PrivilegedEnv) == "1" {
		t.Fatalf("%s; privileged tests are required in this run", reason)
	}
	t.Skipf("%s; run them with: sudo -E make test-privileged", reason)
}
