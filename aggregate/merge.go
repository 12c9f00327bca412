package aggregate

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/recapi/recapi/internal/jsonscan"
)

// ModeMixed is the Header.Mode of a merged snapshot whose inputs were
// recorded in different modes.
const ModeMixed = "mixed"

// Merger merges any number of snapshots into one: records with the same key
// add up their counts (as in Aggregator), headers are combined by
// MergeHeaders. The result does not depend on the order of the inputs.
//
// AddFile streams a file and never holds its records: memory grows with the
// number of distinct records, not with the number of inputs. A record line
// seen before (byte for byte, counts aside) is merged without decoding its
// JSON, which is what makes merging many snapshots of one fleet fast.
//
// The zero value is not ready to use; call NewMerger.
type Merger struct {
	agg     *Aggregator
	raw     map[string]int // record line without its counts -> position in agg
	key     []byte
	headers []Header
}

// NewMerger returns an empty Merger.
func NewMerger() *Merger {
	return &Merger{agg: NewAggregator(), raw: make(map[string]int)}
}

// Add merges an already decoded snapshot.
func (m *Merger) Add(s *Snapshot) {
	m.headers = append(m.headers, s.Header)
	for i := range s.Records {
		m.agg.add(&s.Records[i])
	}
}

// AddFile reads the snapshot at path and merges it. Errors name the path;
// format problems are *FormatError. On error nothing of the file is kept
// in the header, but records read before the bad line are: callers give up
// on the whole merge.
func (m *Merger) AddFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read snapshot: %w", err)
	}
	defer f.Close()
	h, ferr := decodeLines(f, 2, m.addLine)
	if ferr != nil {
		ferr.Path = path
		return ferr
	}
	m.headers = append(m.headers, h)
	return nil
}

// addLine merges one record line.
func (m *Merger) addLine(line []byte) error {
	key, c, ok := splitCounts(m.key[:0], line)
	m.key = key
	if ok {
		if i, hit := m.raw[string(key)]; hit {
			m.agg.addCounts(i, c)
			return nil
		}
	}
	r, err := parseRecord(line)
	if err != nil {
		return err
	}
	i := m.agg.add(&r)
	// A key with a count in it must not be looked up again: the next line
	// with that key would not add that count. Only keys of lines never
	// seen before are checked, so lines merged without decoding cost
	// nothing more; and since a key holds the members of its line before
	// the counts verbatim, no line that hits a key checked here has a count
	// before "calls" either. countInKey finds count names as Encode and
	// people write them; comparing with the decoded counts also catches
	// the names it does not see ("raise\u0064").
	if ok && c == countsOf(&r) && !countInKey(line) {
		m.raw[string(key)] = i
	}
	return nil
}

// Len returns the number of distinct records merged so far.
func (m *Merger) Len() int { return m.agg.Len() }

// Snapshot returns the merged snapshot, records sorted as SortRecords does.
func (m *Merger) Snapshot() *Snapshot {
	return &Snapshot{Header: MergeHeaders(m.headers), Records: m.agg.Records()}
}

// MergeHeaders combines the headers of merged snapshots, independently of
// their order: the latest creation time, the distinct hosts sorted and
// joined with ",", the common mode (ModeMixed when they differ), every
// distinct interpreter in a sorted order, and stats summed.
func MergeHeaders(hs []Header) Header {
	out := Header{Snapshot: SnapshotVersion}
	var hosts []string
	for i, h := range hs {
		if h.Created.After(out.Created) {
			out.Created = h.Created
		}
		if h.Host != "" && !slices.Contains(hosts, h.Host) {
			hosts = append(hosts, h.Host)
		}
		switch {
		case i == 0:
			out.Mode = h.Mode
		case out.Mode != h.Mode:
			out.Mode = ModeMixed
		}
		out.Interpreters = append(out.Interpreters, h.Interpreters...)
		for k, v := range h.Stats {
			if out.Stats == nil {
				out.Stats = make(map[string]uint64)
			}
			out.Stats[k] += v
		}
	}
	slices.Sort(hosts)
	out.Host = strings.Join(hosts, ",")
	out.Created = out.Created.UTC().Truncate(time.Second)
	slices.SortFunc(out.Interpreters, compareInterpreter)
	out.Interpreters = slices.CompactFunc(out.Interpreters, func(a, b Interpreter) bool { return compareInterpreter(a, b) == 0 })
	return out
}

func compareInterpreter(a, b Interpreter) int {
	if c := cmp.Compare(a.Path, b.Path); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Python, b.Python); c != 0 {
		return c
	}
	if c := cmp.Compare(a.PID, b.PID); c != 0 {
		return c
	}
	return slices.Compare(a.Command, b.Command)
}

// splitCounts appends to key the top-level members of the JSON object line
// except the counts ("calls", "resumptions", "raised", "created") and
// "partial", and returns those. It does not validate the JSON: ok is false
// when the line does not have the simple shape Encode writes (then the
// caller decodes it in full), and a line it accepts is always decoded in
// full the first time its key is seen. A count that stands before the last
// "calls" (never in a line Encode writes) stays in the key on the fast path
// and is not returned: see countInKey.
func splitCounts(key, line []byte) (_ []byte, c counts, ok bool) {
	if len(line) == 0 || line[0] != '{' {
		return key, counts{}, false
	}
	// Fast path: Encode writes "calls" after every nested member (function,
	// caller, params) and after "returns" and "yields", and the bytes
	// `,"calls":` (with an unescaped quote) cannot occur inside a JSON
	// string, so the last of them starts the scalar tail of the object:
	// calls, resumptions, raised, created, code_kind, partial, python,
	// binding. Everything before it is kept as the key, as the full scan
	// would keep it; the tail is scanned member by member, so the counts in
	// it are found whatever their order, and a tail that is not the shape
	// Encode writes falls back to the full scan.
	if p := bytes.LastIndex(line, callsMember); p > 0 {
		k := append(append(key, line[1:p]...), ',')
		if k, c, ok = scanMembers(k, line, p+1); ok {
			return k, c, true
		}
	}
	return scanMembers(key, line, 1)
}

var callsMember = []byte(`,"calls":`)

// addedNames are the counts other than "calls" that merging adds up.
var addedNames = []string{"resumptions", "raised", "created"}

// countInKey reports whether the key splitCounts makes of line may hold a
// count that merging adds: a handwritten line can put "resumptions" before
// "calls", and the fast path keeps it in the key instead of returning it.
// ("partial" there is harmless: it is OR-ed, and part of the key then.) A
// count name inside a nested value also says yes: that line is then only
// decoded in full every time.
func countInKey(line []byte) bool {
	p := bytes.LastIndex(line, callsMember)
	if p <= 0 {
		return false // no fast path: the full scan returns every count
	}
	return jsonscan.HasName(line[:p], addedNames...)
}

// scanMembers scans the members of the object line from index i (a member's
// opening quote): see splitCounts.
func scanMembers(key, line []byte, i int) (_ []byte, c counts, ok bool) {
	sc := jsonscan.NewScanner(line, i)
	for sc.Scan() {
		m := sc.Member()
		var count *uint64
		switch string(m.Name) {
		case "calls":
			count = &c.calls
		case "resumptions":
			count = &c.resumptions
		case "raised":
			count = &c.raised
		case "created":
			count = &c.created
		case "partial":
			switch string(m.Value) {
			case "true":
				c.partial = true
			case "false":
			default:
				return key, counts{}, false
			}
		default:
			key = append(key, m.Raw...)
			key = append(key, ',')
		}
		if count != nil {
			n, good := jsonscan.Uint(m.Value)
			if !good {
				return key, counts{}, false
			}
			*count = n
		}
	}
	if !sc.Done() {
		return key, counts{}, false
	}
	return key, c, true
}
