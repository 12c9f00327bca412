// Package infer turns the argument and return types observed in records into
// the annotations a person would write: it parses recapi type strings
// ("builtins.dict[builtins.str, builtins.list[builtins.int]]"), and merges
// the types seen for one parameter into one union by the rules in
// docs/inference.md (Optional, empty containers, numeric tower, bool, element
// types, large unions, Self). It is pure: no I/O, no logging.
package infer

import (
	"fmt"
	"strings"
)

// Type is a parsed type expression: a class with optional element types, or
// a union of such types.
type Type struct {
	// Name is the fully qualified class ("builtins.int",
	// "collections.OrderedDict") or "None". Empty for a union.
	Name string
	// Args are the element types in brackets: one for list and set, two
	// for dict, one per item for tuple. A "..." argument (tuple[int, ...])
	// has Name "...".
	Args []Type
	// Empty marks a container observed empty ("builtins.list[()]",
	// "builtins.tuple[()]"): its element types are unknown.
	Empty bool
	// Union holds the members of a union type ("builtins.int | None").
	Union []Type
}

// None is the type of None.
const None = "None"

// Ellipsis is the Name of the "..." argument of a variable-length tuple.
const Ellipsis = "..."

// Parse parses a type string as records carry it: a dotted name, optionally
// followed by element types in brackets, "[()]" (or "[]") for an empty
// container, members joined by " | ". "..." is read as a whole element type
// only ("builtins.tuple[builtins.int, ...]"), never as a type of its own or
// a member of a union. The empty string is an error: callers treat an
// unknown type before parsing.
func Parse(s string) (Type, error) {
	p := parser{s: s}
	t, err := p.union()
	if err != nil {
		return Type{}, fmt.Errorf("parse type %q: %w", s, err)
	}
	p.space()
	if p.i != len(p.s) {
		return Type{}, fmt.Errorf("parse type %q: unexpected %q at offset %d", s, p.s[p.i:], p.i)
	}
	return t, nil
}

// MustParse is Parse for tests and constants; it panics on error.
func MustParse(s string) Type {
	t, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return t
}

type parser struct {
	s     string
	i     int
	depth int // brackets open
}

func (p *parser) space() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *parser) union() (Type, error) {
	var members []Type
	for {
		at := p.i
		t, err := p.single()
		if err != nil {
			return Type{}, err
		}
		if t.Name == Ellipsis && (p.depth == 0 || len(members) > 0 || p.peekUnion()) {
			return Type{}, fmt.Errorf("\"...\" at offset %d is not an element type", at)
		}
		members = append(members, t)
		p.space()
		if p.i < len(p.s) && p.s[p.i] == '|' {
			p.i++
			continue
		}
		break
	}
	if len(members) == 1 {
		return members[0], nil
	}
	return Type{Union: members}, nil
}

// peekUnion reports whether a "|" comes next.
func (p *parser) peekUnion() bool {
	i := p.i
	for i < len(p.s) && p.s[i] == ' ' {
		i++
	}
	return i < len(p.s) && p.s[i] == '|'
}

func (p *parser) single() (Type, error) {
	p.space()
	start := p.i
	if strings.HasPrefix(p.s[p.i:], Ellipsis) {
		p.i += len(Ellipsis)
		return Type{Name: Ellipsis}, nil
	}
	for p.i < len(p.s) && !strings.ContainsRune("[], |", rune(p.s[p.i])) {
		p.i++
	}
	if p.i == start {
		if p.i == len(p.s) {
			return Type{}, fmt.Errorf("missing type name at the end")
		}
		return Type{}, fmt.Errorf("missing type name at offset %d", p.i)
	}
	t := Type{Name: p.s[start:p.i]}
	if t.Name == "NoneType" || t.Name == "builtins.NoneType" {
		t.Name = None
	}
	if p.i == len(p.s) || p.s[p.i] != '[' {
		return t, nil
	}
	p.i++
	p.space()
	switch {
	case strings.HasPrefix(p.s[p.i:], "()]"):
		p.i += 3
		t.Empty = true
		return t, nil
	case strings.HasPrefix(p.s[p.i:], "]"):
		p.i++
		t.Empty = true
		return t, nil
	}
	p.depth++
	for {
		a, err := p.union()
		if err != nil {
			return Type{}, err
		}
		t.Args = append(t.Args, a)
		p.space()
		if p.i == len(p.s) {
			return Type{}, fmt.Errorf("missing ] at the end")
		}
		switch p.s[p.i] {
		case ',':
			p.i++
			continue
		case ']':
			p.i++
			p.depth--
			return t, nil
		default:
			return Type{}, fmt.Errorf("unexpected %q at offset %d", p.s[p.i], p.i)
		}
	}
}

// String renders t in recapi notation, fully qualified:
// "builtins.dict[builtins.str, builtins.int | None]".
func (t Type) String() string {
	var b strings.Builder
	t.write(&b)
	return b.String()
}

func (t Type) write(b *strings.Builder) {
	if t.Union != nil {
		for i, m := range t.Union {
			if i > 0 {
				b.WriteString(" | ")
			}
			m.write(b)
		}
		return
	}
	b.WriteString(t.Name)
	switch {
	case t.Empty:
		b.WriteString("[()]")
	case len(t.Args) > 0:
		b.WriteByte('[')
		for i, a := range t.Args {
			if i > 0 {
				b.WriteString(", ")
			}
			a.write(b)
		}
		b.WriteByte(']')
	}
}

// Members returns the members of a union, or t alone.
func (t Type) Members() []Type {
	if t.Union != nil {
		return t.Union
	}
	return []Type{t}
}

// Walk calls f with t and every type inside it: union members and element
// types, depth first.
func (t Type) Walk(f func(Type)) {
	f(t)
	for _, m := range t.Union {
		m.Walk(f)
	}
	for _, a := range t.Args {
		a.Walk(f)
	}
}
