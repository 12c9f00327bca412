package bpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Limits recapi keeps every program within, far inside what the verifier of
// every supported kernel enforces, so that another kernel's verifier (older
// or newer, counting differently) still accepts the programs.
const (
	// MaxCombinedStack is the most stack a chain of bpf-to-bpf calls may use
	// together: MAX_BPF_STACK. Only the newest kernels lift it, by giving a
	// program a private stack; recapi never counts on that.
	MaxCombinedStack = 512
	// MaxProcessedInsns is a quarter of the verifier's one million.
	MaxProcessedInsns = 250_000
	// MinKernel is the oldest kernel recapid supports: Debian 12's, the
	// oldest the kernel matrix boots (BPF attach cookies need 5.15).
	MinKernel = "6.1"
)

// VerifierStats is what the kernel's verifier reported for one program.
type VerifierStats struct {
	// Insns is the number of instructions the verifier processed, over all
	// the program's functions and paths.
	Insns int
	// Stack is the stack depth of each function, in the order the
	// verifier lists them (the program's own function first).
	Stack []int
	// LoadTime is how long loading took, verification included.
	LoadTime time.Duration
}

var (
	processedRE  = regexp.MustCompile(`processed (\d+) insns`)
	stackDepthRE = regexp.MustCompile(`(?m)^stack depth ([0-9+]+)`)
)

// parseVerifierStats reads a verifier log written at LogLevelStats.
func parseVerifierStats(log string) VerifierStats {
	var st VerifierStats
	if m := processedRE.FindStringSubmatch(log); m != nil {
		st.Insns, _ = strconv.Atoi(m[1])
	}
	if m := stackDepthRE.FindStringSubmatch(log); m != nil {
		for _, f := range strings.Split(m[1], "+") {
			n, _ := strconv.Atoi(f)
			st.Stack = append(st.Stack, n)
		}
	}
	return st
}

// Verified returns what the verifier reported for each program loaded so
// far, by name.
func (o *Objects) Verified() map[string]VerifierStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[string]VerifierStats, len(o.verified))
	for k, v := range o.verified {
		out[k] = v
	}
	return out
}

// verifierTailLines is how much of a rejection's log goes into the error:
// the verifier states its reason last.
const verifierTailLines = 8

// loadError explains why the kernel refused program name: for a verifier
// rejection, the kernel, the verifier's last lines and what to do, with the
// verifier's whole log (from fullLog, which verifies the program again with
// every instruction logged) saved to a file for a bug report.
func loadError(name string, err error, fullLog func() []string) error {
	var verr *ebpf.VerifierError
	if !errors.As(err, &verr) {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, ebpf.ErrNotSupported) {
			return fmt.Errorf("load BPF program %s: %w (run as root, or grant CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE)", name, err)
		}
		return fmt.Errorf("load BPF program %s: %w", name, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "load BPF program %s: the verifier of Linux %s rejected it (%v):\n", name, kernelRelease(), verr.Cause)
	tail := verr.Log
	if len(tail) > verifierTailLines {
		tail = tail[len(tail)-verifierTailLines:]
	}
	for _, l := range tail {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	fmt.Fprintf(&b, "recapid supports Linux %s and newer", MinKernel)
	log := verr.Log
	if full := fullLog(); len(full) > len(log) {
		log = full
	}
	if path, werr := saveVerifierLog(name, log); werr == nil {
		fmt.Fprintf(&b, "; the whole verifier log is in %s", path)
	}
	b.WriteString("; please report this with the log, the kernel version and the recapid version (recapid --version)")
	return errors.New(b.String())
}

// fullVerifierLog verifies the one program of spec again with every
// instruction logged and returns the log of its rejection.
func (o *Objects) fullVerifierLog(spec *ebpf.CollectionSpec) []string {
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{
		MapReplacements: o.byName,
		Programs:        ebpf.ProgramOptions{LogLevel: ebpf.LogLevelBranch | ebpf.LogLevelStats, LogSizeStart: 64 << 20},
	})
	if err == nil {
		coll.Close()
		return nil
	}
	var verr *ebpf.VerifierError
	if errors.As(err, &verr) {
		return verr.Log
	}
	return nil
}

// saveVerifierLog writes a rejected program's log to a new file in the
// temporary directory and returns its path.
func saveVerifierLog(name string, log []string) (string, error) {
	f, err := os.CreateTemp("", "recapid-verifier-"+name+"-*.log")
	if err != nil {
		return "", err
	}
	defer f.Close()
	fmt.Fprintf(f, "# recapid: BPF program %s rejected by Linux %s\n", name, kernelRelease())
	for _, l := range log {
		fmt.Fprintln(f, l)
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	return filepath.Clean(f.Name()), nil
}

// kernelHint explains an attach error that a kernel older than MinKernel
// causes (uprobe attach cookies came in 5.15), and is empty otherwise.
func kernelHint(err error) string {
	if !errors.Is(err, ebpf.ErrNotSupported) {
		return ""
	}
	return fmt.Sprintf(" (Linux %s lacks a BPF feature recapid needs; it supports Linux %s and newer)", kernelRelease(), MinKernel)
}

// kernelRelease is uname -r.
func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "(unknown)"
	}
	return unix.ByteSliceToString(u.Release[:])
}
