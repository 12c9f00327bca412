package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/recapi/recapi/bpf"
	"github.com/recapi/recapi/store"
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

	// Returns says when return types, yields and raises are recorded
	// (auto, always, off); ReturnsWindow is how long an auto window lasts.
	Returns       string
	ReturnsWindow time.Duration

	// Store is the --store URL: "" picks the default (see storeURL), "none"
	// disables the store.
	Store         string
	FlushInterval time.Duration // how often counts go to the store
	SnapshotDir   string        // rotating snapshots go here ("" for none)
	SnapshotEvery time.Duration
	SnapshotKeep  int // rotating snapshots kept in SnapshotDir

	// CacheDir keeps what recapid learns about interpreter files across
	// runs ("" for nowhere).
	CacheDir string

	// EventBuffer is the size of the kernel's ring buffer of names.
	EventBuffer byteSize

	// Status says when a live status line is drawn: auto, on or off.
	Status string
}

// showStatus reports whether recapid draws a live status line on stderr,
// given whether stderr is a terminal. auto draws it on a terminal when
// recapid attached to running processes: a launched command writes to the
// same terminal.
func (c *Config) showStatus(terminal bool) bool {
	switch c.Status {
	case "on":
		return terminal
	case "auto":
		return terminal && len(c.Command) == 0
	}
	return false
}

// storeURL is the store recapid writes to, "" for none. Without --store,
// recapid writes to store.DefaultURL unless -o or --snapshot-dir asked for
// files instead: "-o FILE" alone writes that file and nothing else.
func (c *Config) storeURL() string {
	switch {
	case c.Store == "none":
		return ""
	case c.Store != "":
		return c.Store
	case c.Output != "" || c.SnapshotDir != "":
		return ""
	}
	return store.DefaultURL
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
		// A process named twice is traced once: a second Attach would
		// replace the first target's probes with a second set.
		if !slices.Contains(*p, n) {
			*p = append(*p, n)
		}
	}
	return nil
}

const usage = `recapid records how Python functions are called, from outside the process.

Usage:
  sudo recapid [flags] -- COMMAND [ARGS...]   launch COMMAND (a CPython interpreter) and trace it from its first line
  sudo recapid [flags] --pid PID [--pid PID]  attach to running interpreters until Ctrl-C, SIGTERM or --duration

recapid counts every Python call of the traced processes in kernel maps, with its
caller and the types of its arguments, and adds them to a store (--store,
by default sqlite:./recapi.db) or writes them as a snapshot (-o) that
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
	fs.StringVar(&c.Store, "store", "", "add the recorded calls to the store at `URL`: sqlite:PATH or postgres://USER@HOST/DB, or none; default "+store.DefaultURL+" unless -o or --snapshot-dir is given")
	fs.DurationVar(&c.FlushInterval, "flush-interval", 5*time.Second, "how often to add new counts to the store; a SIGKILL loses at most this much")
	fs.StringVar(&c.SnapshotDir, "snapshot-dir", "", "write rotating snapshots of everything recorded so far into `DIR` (recapi-TIME.recapi.zst)")
	fs.DurationVar(&c.SnapshotEvery, "snapshot-every", 5*time.Minute, "how often to write a snapshot into --snapshot-dir")
	fs.IntVar(&c.SnapshotKeep, "snapshot-keep", 12, "rotating snapshots to keep in --snapshot-dir; older ones are removed")
	fs.StringVar(&c.Returns, "returns", "auto", "when to record return and yield types and raised exceptions, which costs a second trap per call: "+
		"auto (from the start for --returns-window, then again for a window when new call shapes appear, at most 10% of the time), always, or off")
	fs.DurationVar(&c.ReturnsWindow, "returns-window", 10*time.Second, "how long an auto --returns window lasts")
	fs.StringVar(&c.CacheDir, "cache-dir", "/var/cache/recapi", "keep the analysis of each interpreter file (probe points, layout) in `DIR`/analyses, so that the next run meeting it starts sooner; empty for none")
	c.EventBuffer = byteSize(bpf.DefaultEventBuffer)
	fs.Var(&c.EventBuffer, "event-buffer", "`SIZE` of the kernel's ring buffer that carries the names of new functions, types and signatures (a power of two: 4K, 8M, 64M); names a full buffer refuses are sent again at their next call")
	fs.StringVar(&c.Status, "status", "auto", "live status line on a terminal (calls, calls/s, shapes, names waiting, losses): auto (when tracing --pid), on, or off")
	fs.BoolVar(&c.BPFStats, "bpf-stats", false, "measure the BPF program's run time and add it to the snapshot stats (for benchmarks; adds a little overhead)")
	// Settings a service manager passes in the environment; flags win.
	for _, e := range envDefaults {
		f := fs.Lookup(e.flag)
		f.Usage += " ($" + e.env + ")"
		if v, ok := os.LookupEnv(e.env); ok {
			if err := fs.Set(e.flag, v); err != nil {
				return nil, &UsageError{fmt.Sprintf("$%s=%q: %v", e.env, v, err)}
			}
		}
	}
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

// envDefaults are the flags whose default can come from the environment.
var envDefaults = []struct{ flag, env string }{
	{"store", "RECAPI_STORE"},
	{"flush-interval", "RECAPI_FLUSH_INTERVAL"},
	{"snapshot-dir", "RECAPI_SNAPSHOT_DIR"},
	{"snapshot-every", "RECAPI_SNAPSHOT_EVERY"},
	{"interval", "RECAPI_INTERVAL"},
	{"log-level", "RECAPI_LOG_LEVEL"},
	{"log-format", "RECAPI_LOG_FORMAT"},
	{"returns", "RECAPI_RETURNS"},
	{"cache-dir", "RECAPI_CACHE_DIR"},
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
	case c.Store != "" && c.Store != "none" && !store.IsURL(c.Store):
		return &UsageError{fmt.Sprintf("--store %q: use sqlite:PATH, postgres://USER@HOST/DB or none", c.Store)}
	case c.FlushInterval < 100*time.Millisecond:
		return &UsageError{fmt.Sprintf("--flush-interval %v is too short: use at least 100ms", c.FlushInterval)}
	case c.SnapshotDir != "" && c.SnapshotEvery < time.Second:
		return &UsageError{fmt.Sprintf("--snapshot-every %v is too short: use at least 1s", c.SnapshotEvery)}
	case c.SnapshotKeep < 1:
		return &UsageError{"--snapshot-keep must be at least 1"}
	case c.Returns != "auto" && c.Returns != "always" && c.Returns != "off":
		return &UsageError{fmt.Sprintf("--returns %q: use auto, always or off", c.Returns)}
	case c.ReturnsWindow < 100*time.Millisecond:
		return &UsageError{fmt.Sprintf("--returns-window %v is too short: use at least 100ms", c.ReturnsWindow)}
	case bpf.CheckEventBuffer(int(c.EventBuffer)) != nil:
		return &UsageError{fmt.Sprintf("--event-buffer %v: use a power of two of at least 4K (e.g. 8M)", c.EventBuffer)}
	case c.Status != "auto" && c.Status != "on" && c.Status != "off":
		return &UsageError{fmt.Sprintf("--status %q: use auto, on or off", c.Status)}
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

// byteSize is a size in bytes given as N, NK, NM or NG (powers of 1024).
type byteSize int

func (b byteSize) String() string {
	n := int(b)
	for _, u := range []struct {
		suffix string
		size   int
	}{{"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.Itoa(n/u.size) + u.suffix
		}
	}
	return strconv.Itoa(n)
}

func (b *byteSize) Set(s string) error {
	mult := 1
	num := strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "B")
	switch {
	case strings.HasSuffix(num, "K"):
		mult = 1 << 10
	case strings.HasSuffix(num, "M"):
		mult = 1 << 20
	case strings.HasSuffix(num, "G"):
		mult = 1 << 30
	}
	if mult > 1 {
		num = num[:len(num)-1]
	}
	n, err := strconv.Atoi(num)
	if err != nil || n <= 0 || n > (1<<31)/mult {
		return fmt.Errorf("%q is not a size: use a number of bytes with K, M or G (e.g. 8M)", s)
	}
	*b = byteSize(n * mult)
	return nil
}
