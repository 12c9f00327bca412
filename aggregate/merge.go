package aggregate

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
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
	key, calls, res, partial, ok := splitCounts(m.key[:0], line)
	m.key = key
	if ok {
		if i, hit := m.raw[string(key)]; hit {
			m.agg.addCounts(i, calls, res, partial)
			return nil
		}
	}
	r, err := parseRecord(line)
	if err != nil {
		return err
	}
	i := m.agg.add(&r)
	if ok {
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
// except "calls", "resumptions" and "partial", and returns those three. It
// does not validate the JSON: ok is false when the line does not have the
// simple shape Encode writes (then the caller decodes it in full), and a
// line it accepts is always decoded in full the first time its key is seen.
func splitCounts(key, line []byte) (_ []byte, calls, res uint64, partial, ok bool) {
	if len(line) == 0 || line[0] != '{' {
		return key, 0, 0, false, false
	}
	// Fast path: Encode writes the counts after every nested member, and
	// the bytes `,"calls":` (with an unescaped quote) cannot occur inside a
	// JSON string, so the last of them starts the scalar tail of the object.
	// Everything before it is kept as the key, as the full scan would keep
	// it; a tail that is not the shape Encode writes falls back to the scan.
	if p := bytes.LastIndex(line, callsMember); p > 0 {
		k := append(append(key, line[1:p]...), ',')
		if k, calls, res, partial, ok = scanMembers(k, line, p+1); ok {
			return k, calls, res, partial, true
		}
	}
	return scanMembers(key, line, 1)
}

var callsMember = []byte(`,"calls":`)

// scanMembers scans the members of the object line from index i (a member's
// opening quote): see splitCounts.
func scanMembers(key, line []byte, i int) (_ []byte, calls, res uint64, partial, ok bool) {
	for {
		if i >= len(line) {
			return key, 0, 0, false, false
		}
		if line[i] == '}' {
			return key, calls, res, partial, i == len(line)-1
		}
		if line[i] != '"' {
			return key, 0, 0, false, false
		}
		start := i
		end := skipString(line, i)
		if end < 0 || end >= len(line) || line[end] != ':' {
			return key, 0, 0, false, false
		}
		name := line[start+1 : end-1]
		vs := end + 1
		ve := skipValue(line, vs)
		if ve < 0 {
			return key, 0, 0, false, false
		}
		val := line[vs:ve]
		switch string(name) {
		case "calls":
			n, good := parseUint(val)
			if !good {
				return key, 0, 0, false, false
			}
			calls = n
		case "resumptions":
			n, good := parseUint(val)
			if !good {
				return key, 0, 0, false, false
			}
			res = n
		case "partial":
			switch string(val) {
			case "true":
				partial = true
			case "false":
			default:
				return key, 0, 0, false, false
			}
		default:
			key = append(key, line[start:ve]...)
			key = append(key, ',')
		}
		i = ve
		if i < len(line) && line[i] == ',' {
			i++
		}
	}
}

// skipString returns the index after the string starting at line[i] ('"'),
// or -1.
func skipString(line []byte, i int) int {
	i++
	for {
		j := bytes.IndexByte(line[i:], '"')
		if j < 0 {
			return -1
		}
		i += j
		// An odd number of backslashes before the quote escapes it.
		bs := 0
		for k := i - 1; k >= 0 && line[k] == '\\'; k-- {
			bs++
		}
		i++
		if bs%2 == 0 {
			return i
		}
	}
}

// skipValue returns the index after the JSON value starting at line[i], or
// -1. Objects and arrays are skipped by counting brackets outside strings.
func skipValue(line []byte, i int) int {
	if i >= len(line) {
		return -1
	}
	switch line[i] {
	case '"':
		return skipString(line, i)
	case '{', '[':
		depth := 0
		for i < len(line) {
			switch line[i] {
			case '"':
				i = skipString(line, i)
				if i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	default:
		for i < len(line) && line[i] != ',' && line[i] != '}' {
			i++
		}
		return i
	}
}

func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}
