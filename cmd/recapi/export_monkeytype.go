package main

import (
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	_ "modernc.org/sqlite" // pure Go SQLite: recapi stays a static binary

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/internal/atomicfile"
)

// MonkeyType's trace table, as its SQLiteStore creates it
// (MonkeyType 23.3.0 monkeytype/db/sqlite.py, create_call_trace_table).
const monkeyTypeTable = `CREATE TABLE IF NOT EXISTS monkeytype_call_traces (
    created_at  TEXT,
    module      TEXT,
    qualname    TEXT,
    arg_types   TEXT,
    return_type TEXT,
    yield_type  TEXT)`

// monkeyTypeRow is one row of monkeytype_call_traces: one trace, encoded as
// MonkeyType's CallTraceRow does (monkeytype/encoding.py).
type monkeyTypeRow struct {
	module, qualname, argTypes string
	returnType                 *string
}

// monkeyTypeRows turns records into MonkeyType traces: one per distinct
// function and types (records that differ only in caller are one trace).
// Module bodies and functions MonkeyType cannot import by qualname
// (<lambda>, <locals>) are left out, as are records without a module and
// records of resumptions only.
func monkeyTypeRows(recs []aggregate.Record) []monkeyTypeRow {
	mods := map[string]bool{"builtins": true}
	for _, r := range recs {
		mods[r.Function.Module] = true
		if r.Caller != nil {
			mods[r.Caller.Module] = true
		}
	}
	seen := map[string]bool{}
	var out []monkeyTypeRow
	for _, r := range recs {
		// Resumption-only records carry no argument types: not a trace.
		if r.Function.Module == "" || strings.Contains(r.Function.Qualname, "<") || r.Calls == 0 {
			continue
		}
		args := map[string]any{}
		for _, p := range r.Params {
			if p.Type == "" {
				continue // not observed (generator resumptions)
			}
			args[p.Name] = typeDict(parseType(p.Type), mods)
		}
		row := monkeyTypeRow{module: r.Function.Module, qualname: r.Function.Qualname, argTypes: pyJSON(args)}
		// Only a plain function's return is the value a call gives back.
		// A generator's or coroutine's return value ends its last
		// resumption; MonkeyType wants what calling it gives (the object),
		// which is not a recorded type: leave it out. A record whose call
		// yielded (Yields set) or raised (Returns nil) has no return type
		// either.
		if r.Returns != nil && r.Yields == nil && r.CodeKind == "" {
			s := pyJSON(typeDict(parseType(*r.Returns), mods))
			row.returnType = &s
		}
		key := row.module + "\x00" + row.qualname + "\x00" + row.argTypes + "\x00"
		if row.returnType != nil {
			key += *row.returnType
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, row)
	}
	return out
}

// writeMonkeyType writes s as a MonkeyType trace database at path,
// atomically (atomicfile.Write): SQLite fills the temporary file, which is
// then synced and renamed.
func writeMonkeyType(path string, s *aggregate.Snapshot) error {
	return atomicfile.Write(path, 0o644, func(f *os.File) error {
		tmp := f.Name()
		// A failed transaction can leave its rollback journal.
		defer os.Remove(tmp + "-journal")
		db, err := sql.Open("sqlite", "file:"+tmp+"?_pragma=journal_mode(DELETE)&_pragma=synchronous(FULL)")
		if err != nil {
			return err
		}
		if err := fillMonkeyType(db, s); err != nil {
			db.Close()
			return err
		}
		return db.Close()
	})
}

func fillMonkeyType(db *sql.DB, s *aggregate.Snapshot) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec(monkeyTypeTable); err != nil {
		return err
	}
	// MonkeyType stores datetime.datetime.now() through sqlite3's adapter.
	created := s.Header.Created.Local().Format("2006-01-02 15:04:05.000000")
	st, err := tx.Prepare(`INSERT INTO monkeytype_call_traces VALUES (?, ?, ?, ?, ?, NULL)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, r := range monkeyTypeRows(s.Records) {
		if _, err := st.Exec(created, r.module, r.qualname, r.argTypes, r.returnType); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// typeNode is a parsed recapi type string: "builtins.dict[builtins.str,
// builtins.list[builtins.int]]", "None", "builtins.tuple[()]", "A | B".
type typeNode struct {
	name  string
	args  []typeNode
	empty bool // "[()]": an empty tuple
}

// parseType parses a recapi type string. It never fails: what it cannot
// parse becomes a name.
func parseType(s string) typeNode {
	p := typeParser{s: s}
	n := p.union()
	if p.i != len(p.s) {
		return typeNode{name: strings.TrimSpace(s)}
	}
	return n
}

type typeParser struct {
	s string
	i int
}

func (p *typeParser) skip() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *typeParser) union() typeNode {
	n := p.one()
	var alts []typeNode
	for p.skip(); p.i < len(p.s) && p.s[p.i] == '|'; p.skip() {
		p.i++
		if alts == nil {
			alts = []typeNode{n}
		}
		alts = append(alts, p.one())
	}
	if alts != nil {
		return typeNode{name: "typing.Union", args: alts}
	}
	return n
}

func (p *typeParser) one() typeNode {
	p.skip()
	start := p.i
	for p.i < len(p.s) && !strings.ContainsRune("[],| ", rune(p.s[p.i])) {
		p.i++
	}
	n := typeNode{name: p.s[start:p.i]}
	p.skip()
	if p.i < len(p.s) && p.s[p.i] == '[' {
		p.i++
		p.skip()
		if strings.HasPrefix(p.s[p.i:], "()]") {
			p.i += 3
			n.empty = true
			return n
		}
		for {
			n.args = append(n.args, p.union())
			p.skip()
			if p.i >= len(p.s) {
				return n
			}
			c := p.s[p.i]
			p.i++
			if c == ']' {
				return n
			}
			if c != ',' {
				return n
			}
		}
	}
	return n
}

// typingGenerics are the builtin containers MonkeyType writes with their
// typing names when they have element types (monkeytype/typing.py).
var typingGenerics = map[string]string{
	"builtins.list":      "List",
	"builtins.dict":      "Dict",
	"builtins.set":       "Set",
	"builtins.frozenset": "FrozenSet",
	"builtins.tuple":     "Tuple",
	"builtins.type":      "Type",
}

// typeDict encodes n as MonkeyType's type_to_dict does: {"module",
// "qualname"}, plus "elem_types" for generics and unions. NoneType is
// {"module": "builtins", "qualname": "NoneType"}. mods are the modules known
// from the records, to tell a module from a class path in "a.b.C.D".
func typeDict(n typeNode, mods map[string]bool) map[string]any {
	if n.name == "None" || n.name == "builtins.NoneType" {
		return map[string]any{"module": "builtins", "qualname": "NoneType"}
	}
	if n.name == "typing.Union" {
		return map[string]any{"module": "typing", "qualname": "Union", "elem_types": elemTypes(n.args, mods)}
	}
	if n.name == "builtins.tuple" && slices.ContainsFunc(n.args, func(a typeNode) bool { return a.name == "..." }) {
		// A tuple of more than 8 items, "builtins.tuple[X, ...]": MonkeyType
		// has no encoding for the ellipsis (its traces hold every item),
		// so it is a bare tuple, like the empty one.
		return map[string]any{"module": "builtins", "qualname": "tuple"}
	}
	if q, ok := typingGenerics[n.name]; ok && len(n.args) > 0 {
		return map[string]any{"module": "typing", "qualname": q, "elem_types": elemTypes(n.args, mods)}
	}
	mod, qual := splitTypeName(n.name, mods)
	d := map[string]any{"module": mod, "qualname": qual}
	if len(n.args) > 0 {
		d["elem_types"] = elemTypes(n.args, mods)
	}
	return d
}

func elemTypes(ns []typeNode, mods map[string]bool) []any {
	out := make([]any, len(ns))
	for i, a := range ns {
		out[i] = typeDict(a, mods)
	}
	return out
}

// splitTypeName splits "pkg.mod.Outer.Inner" into module and qualname: the
// longest prefix that is a known module; otherwise the module ends before
// the first capitalized component ("collections.OrderedDict"), or at the
// last dot.
func splitTypeName(name string, mods map[string]bool) (string, string) {
	for i := len(name) - 1; i > 0; i-- {
		if name[i] == '.' && mods[name[:i]] {
			return name[:i], name[i+1:]
		}
	}
	parts := strings.Split(name, ".")
	if len(parts) == 1 {
		return "builtins", name
	}
	for i := 1; i < len(parts); i++ {
		if r, _ := utf8.DecodeRuneInString(parts[i]); unicode.IsUpper(r) {
			return strings.Join(parts[:i], "."), strings.Join(parts[i:], ".")
		}
	}
	return strings.Join(parts[:len(parts)-1], "."), parts[len(parts)-1]
}

// pyJSON encodes v as Python's json.dumps(v, sort_keys=True) does (the
// encoding MonkeyType stores): ", " and ": " separators, sorted keys,
// non-ASCII escaped.
func pyJSON(v any) string {
	var b strings.Builder
	writePyJSON(&b, v)
	return b.String()
}

func writePyJSON(b *strings.Builder, v any) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			writePyString(b, k)
			b.WriteString(": ")
			writePyJSON(b, v[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			writePyJSON(b, e)
		}
		b.WriteByte(']')
	case string:
		writePyString(b, v)
	default:
		fmt.Fprintf(b, "%v", v)
	}
}

func writePyString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r > 0x7e:
			if r > 0xffff {
				r1, r2 := utf16Surrogates(r)
				b.WriteString(`\u` + hex4(r1) + `\u` + hex4(r2))
			} else {
				b.WriteString(`\u` + hex4(r))
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}

func utf16Surrogates(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff
}

func hex4(r rune) string {
	s := strconv.FormatInt(int64(r), 16)
	return strings.Repeat("0", 4-len(s)) + s
}
