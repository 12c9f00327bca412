// Package daemon is recapid: it finds CPython interpreters, attaches the BPF
// call counter to them, drains the counts, names them and writes the results.
package daemon

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Config is recapid's parsed command line.
type Config struct {
	PIDs      []int
	Command   []string // the command to launch and trace, after --
	Output    string   // snapshot path (-o)
	Duration  time.Duration
	Interval  time.Duration // how often counts are drained from the kernel
	Mode      string
	Summary   bool
	Top       int
	LogLevel  string
	LogFormat string
	BPFStats  bool // record the BPF program's own run time in the snapshot (benchmarks)
}

type pidList []int

func (p *pidList) String() string {
	s := make([]string, len(*p))
	for i, v := range *p {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

func (p *pidList) Set(v string) error {
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("%q is not a process id", f)
		}
		*p = append(*p, n)
	}
	return nil
}

const usage = `recapid records how Python functions are called, from outside the process.

Usage:
  sudo recapid [flags] -- COMMAND [ARGS...]   launch COMMAND (a CPython interpreter) and trace it from its first line
  sudo recapid [flags] --pid PID [--pid PID]  attach to running interpreters until Ctrl-C, SIGTERM or --duration

recapid counts every Python call of the traced processes in kernel maps, with its
caller and the types of its arguments, and writes them as a snapshot (-o) that
'recapi show' reads. It needs root (or CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE and
CAP_DAC_READ_SEARCH). Traced processes are not modified and keep running when
recapid detaches. With -- COMMAND, recapid exits with the command's exit code.

Flags:
`

// ParseArgs parses recapid's command line. Help output goes to out.
func ParseArgs(args []string, out io.Writer) (*Config, error) {
	c := &Config{}
	fs := flag.NewFlagSet("recapid", flag.ContinueOnError)
	fs.SetOutput(out)
	var pids pidList
	fs.Var(&pids, "pid", "trace the running process `PID` (repeatable, or comma-separated)")
	fs.StringVar(&c.Output, "o", "", "write the recorded calls to `FILE` (a .recapi.zst snapshot)")
	fs.DurationVar(&c.Duration, "duration", 0, "stop tracing after this long (e.g. 30s); 0 means until the targets exit or Ctrl-C")
	fs.DurationVar(&c.Interval, "interval", time.Second, "how often to drain counts from the kernel")
	fs.StringVar(&c.Mode, "mode", "exact", "tracing mode: exact (count every call)")
	fs.BoolVar(&c.Summary, "summary", true, "print a summary table of the top functions to stderr at exit")
	fs.IntVar(&c.Top, "top", 20, "functions in the summary table")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.BoolVar(&c.BPFStats, "bpf-stats", false, "measure the BPF program's run time and add it to the snapshot stats (for benchmarks; adds a little overhead)")
	fs.Usage = func() {
		fmt.Fprint(out, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	c.PIDs = pids
	c.Command = fs.Args()
	return c, c.Validate()
}

// errUsage marks command-line mistakes (exit code 2).
var errUsage = errors.New("usage")

// UsageError is a mistake on the command line.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }
func (e *UsageError) Unwrap() error { return errUsage }

// Validate checks the combination of flags.
func (c *Config) Validate() error {
	switch {
	case len(c.PIDs) == 0 && len(c.Command) == 0:
		return &UsageError{"nothing to trace: give --pid PID or -- COMMAND (see recapid -h)"}
	case len(c.PIDs) > 0 && len(c.Command) > 0:
		return &UsageError{"give either --pid or -- COMMAND, not both"}
	case c.Mode != "exact":
		return &UsageError{fmt.Sprintf("--mode %q is not available: this build supports --mode exact", c.Mode)}
	case c.Interval < 10*time.Millisecond:
		return &UsageError{fmt.Sprintf("--interval %v is too short: use at least 10ms", c.Interval)}
	case c.Duration < 0:
		return &UsageError{"--duration must not be negative"}
	case c.Top < 0:
		return &UsageError{"--top must not be negative"}
	case c.LogFormat != "text" && c.LogFormat != "json":
		return &UsageError{fmt.Sprintf("--log-format %q: use text or json", c.LogFormat)}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return &UsageError{fmt.Sprintf("--log-level %q: use debug, info, warn or error", c.LogLevel)}
	}
	return nil
}
