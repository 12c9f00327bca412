// Package jsonscan finds the top-level members of a JSON object written on
// one line, as slices of that line, without decoding it. The snapshot merger
// uses it to add up the counts of a record line it has seen before without
// unmarshalling the line again.
//
// It checks only as much syntax as finding the members takes, and no white
// space between tokens: a caller decodes with encoding/json whatever it must
// trust, and treats a line the scanner refuses as one to decode in full.
package jsonscan

import "bytes"

// Member is one member of an object, as written in the line.
type Member struct {
	// Name is the text between the quotes of the member's name, escapes
	// left as written.
	Name []byte
	// Value is the value as written: a string with its quotes, an object
	// or array with its brackets, or a literal (a number, true, false,
	// null) up to the next comma or closing brace.
	Value []byte
	// Raw is the whole member, from the opening quote of its name to the
	// end of its value.
	Raw []byte
}

// Scanner reads the members of one object in order, like bufio.Scanner:
//
//	sc := jsonscan.NewScanner(line, 1)
//	for sc.Scan() {
//		m := sc.Member()
//		...
//	}
//	if !sc.Done() {
//		// line is not an object of the shape the scanner reads
//	}
type Scanner struct {
	line []byte
	i    int
	m    Member
	done bool
}

// NewScanner returns a Scanner of the object in line from line[i] on: i is
// the index of the opening quote of a member's name (1 for the first member
// of an object that starts line), or of the closing brace.
func NewScanner(line []byte, i int) Scanner {
	return Scanner{line: line, i: i}
}

// Scan advances to the next member and reports whether there is one. It
// returns false at the closing brace of the object and at text that is not
// a member followed by a comma or the closing brace; Done tells them apart.
func (s *Scanner) Scan() bool {
	line, i := s.line, s.i
	if i < 0 || i >= len(line) {
		return false
	}
	if line[i] == '}' {
		s.done = i == len(line)-1
		return false
	}
	if line[i] != '"' {
		return false
	}
	end := skipString(line, i)
	if end < 0 || end >= len(line) || line[end] != ':' {
		return false
	}
	ve := skipValue(line, end+1)
	if ve < 0 {
		return false
	}
	s.m = Member{Name: line[i+1 : end-1], Value: line[end+1 : ve], Raw: line[i:ve]}
	if ve < len(line) && line[ve] == ',' {
		ve++
	}
	s.i = ve
	return true
}

// Member returns the member the last successful Scan found.
func (s *Scanner) Member() Member { return s.m }

// Done reports whether Scan stopped at the closing brace of the object and
// that brace is the last byte of the line. It is false when Scan stopped at
// text it could not read, or at a brace with more text after it.
func (s *Scanner) Done() bool { return s.done }

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

// Uint parses a JSON number that is a whole number from 0 to 10^19-1 written
// with digits only: no sign, fraction, exponent or white space.
func Uint(b []byte) (uint64, bool) {
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

// HasName reports whether b holds, at any depth, a member named one of names:
// a quoted name written without escapes and followed, after optional white
// space, by a colon. It errs towards yes: a name that ends in an escaped quote
// and one of names ("x\"raised") counts too. A name written with escapes
// ("raise\u0064") is not found.
func HasName(b []byte, names ...string) bool {
	// One pass over the colons, checking the names that end there.
	for i := 0; ; i++ {
		j := bytes.IndexByte(b[i:], ':')
		if j < 0 {
			return false
		}
		i += j
		k := i - 1 // JSON allows white space between a name and its colon
		for k >= 0 && (b[k] == ' ' || b[k] == '\t' || b[k] == '\n' || b[k] == '\r') {
			k--
		}
		if k < 0 || b[k] != '"' {
			continue
		}
		for _, name := range names {
			start := k - len(name)
			if start >= 1 && b[start-1] == '"' && string(b[start:k]) == name {
				return true
			}
		}
	}
}
