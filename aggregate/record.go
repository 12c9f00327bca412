// Package aggregate is recapi's call-record model: records of observed
// Python calls keyed by names (never pointers), grouped and merged
// (Aggregator, Merger, Summarize, with each record's signature as Python
// text), and the snapshot format that stores them (*.recapi.zst,
// zstd-compressed JSON Lines; docs/snapshot.md).
//
// What it uses but is not about records lives elsewhere: internal/jsonscan
// scans record lines for the merger, internal/atomicfile writes snapshot
// files, internal/table prints summaries for a terminal. It never imports
// bpf and needs no privileges, so everything here tests anywhere.
package aggregate

import "time"

// SnapshotVersion is the snapshot format version this package writes and the
// newest one it reads. It changes only on an incompatible change: new fields
// are added without a bump because readers ignore unknown fields.
const SnapshotVersion = 1

// ModeExact is the Header.Mode of a snapshot in which every call was counted.
const ModeExact = "exact"

// Parameter kinds, named as inspect.Parameter.kind names them.
const (
	KindPositionalOnly      = "positional_only"
	KindPositionalOrKeyword = "positional_or_keyword"
	KindVarPositional       = "var_positional"
	KindKeywordOnly         = "keyword_only"
	KindVarKeyword          = "var_keyword"
)

// Code kinds of a Record; the empty string is a plain function.
const (
	CodeGenerator      = "generator"
	CodeCoroutine      = "coroutine"
	CodeAsyncGenerator = "async_generator"
)

// Function identifies a Python function by where it is defined.
type Function struct {
	Module   string `json:"module"`
	Qualname string `json:"qualname"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
}

// Name returns "module.qualname", or the qualname alone when the module is
// unknown.
func (f Function) Name() string {
	if f.Module == "" {
		return f.Qualname
	}
	return f.Module + "." + f.Qualname
}

// Param is one parameter of a call: its name, its kind and the type of the
// value observed in it.
type Param struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // positional_only, positional_or_keyword, var_positional, keyword_only, var_keyword
	Type string `json:"type"` // "builtins.int", "None", "collections.OrderedDict", "__main__.Outer.Inner"; "" when unknown
	// HasDefault says whether the def statement gives the parameter a
	// default value; nil when the recorder did not say. It describes the
	// function, not the call, so it is not part of a record's key.
	HasDefault *bool `json:"has_default,omitempty"`
}

// Record is one distinct call shape and how often it was seen.
type Record struct {
	Function Function  `json:"function"`
	Caller   *Function `json:"caller"`  // null when the caller is not Python code
	Params   []Param   `json:"params"`  // never null in JSON: [] for no params
	Returns  *string   `json:"returns"` // null when not observed
	// Yields is the type of the value a generator or coroutine frame
	// yielded when the call or resumption suspended; nil when it did not
	// suspend or that was not observed. A call or resumption ends by
	// returning (Returns set), by yielding (Yields set), by raising (both
	// nil, counted in Raised) or unobserved (both nil). Like Returns it is
	// part of the key.
	Yields      *string `json:"yields,omitempty"`
	Calls       uint64  `json:"calls"`                 // calls, including generator/coroutine starts
	Resumptions uint64  `json:"resumptions,omitempty"` // generator/coroutine resumptions (these records carry no param types)
	// Raised is how many of Calls plus Resumptions ended by an exception
	// propagating out of the frame; such records have Returns and Yields
	// nil. A count like Calls: added on merge, not part of the key.
	Raised uint64 `json:"raised,omitempty"`
	// Created is how many generator, coroutine or async generator objects
	// calling the function with these argument types from this caller
	// created: the call that only makes the object, before it first runs.
	// Calls counts starts (the first next(), send() or await), so a record
	// may have Calls 0 and Created > 0. A count, not part of the key.
	Created  uint64 `json:"created,omitempty"`
	CodeKind string `json:"code_kind,omitempty"` // "", "generator", "coroutine", "async_generator"
	Partial  bool   `json:"partial,omitempty"`   // some names could not be read before the process exited
	Python   string `json:"python"`              // "3.11"
	// Binding says how the first parameter is bound when the function is
	// a method: BindingInstance (self), BindingClass (cls), or "" when the
	// recorder did not say or the function is not a method. Like
	// Param.HasDefault it describes the function and is not part of the key.
	Binding string `json:"binding,omitempty"`
}

// Values of Record.Binding.
const (
	BindingInstance = "instance"
	BindingClass    = "class"
)

// Interpreter is one traced Python process.
type Interpreter struct {
	PID     int      `json:"pid"`
	Python  string   `json:"python"` // full version "3.11.2"
	Path    string   `json:"path"`   // interpreter ELF traced
	Command []string `json:"command,omitempty"`
	// Unrecorded says what recapid could not see of this process, "" when
	// it saw every call: a JIT-enabled 3.13+ runs hot code as machine code
	// that no probe sees.
	Unrecorded string `json:"unrecorded,omitempty"`
}

// Header is the first line of a snapshot.
type Header struct {
	Snapshot     int               `json:"recapi_snapshot"` // format version, SnapshotVersion when written by this package
	Created      time.Time         `json:"created"`
	Host         string            `json:"host"`
	Mode         string            `json:"mode"` // ModeExact
	Interpreters []Interpreter     `json:"interpreters"`
	Stats        map[string]uint64 `json:"stats,omitempty"` // e.g. dropped counts
}

// Snapshot is a header and the records that follow it.
type Snapshot struct {
	Header  Header   `json:"header"`
	Records []Record `json:"records"`
}
