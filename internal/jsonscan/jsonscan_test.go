package jsonscan_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/recapi/recapi/internal/jsonscan"
)

// member is a Member as strings, for comparisons.
type member struct{ name, value, raw string }

func scanAll(line string, i int) ([]member, bool) {
	sc := jsonscan.NewScanner([]byte(line), i)
	var got []member
	for sc.Scan() {
		m := sc.Member()
		got = append(got, member{string(m.Name), string(m.Value), string(m.Raw)})
	}
	return got, sc.Done()
}

func TestScanner(t *testing.T) {
	tests := []struct {
		name     string
		line     string
		start    int
		want     []member
		wantDone bool
	}{
		{
			name: "record line", line: `{"function":{"module":"m","qualname":"f"},"params":[],"returns":null,"calls":3,"partial":true}`, start: 1,
			want: []member{
				{"function", `{"module":"m","qualname":"f"}`, `"function":{"module":"m","qualname":"f"}`},
				{"params", `[]`, `"params":[]`},
				{"returns", `null`, `"returns":null`},
				{"calls", `3`, `"calls":3`},
				{"partial", `true`, `"partial":true`},
			},
			wantDone: true,
		},
		{name: "empty object", line: `{}`, start: 1, wantDone: true},
		{
			name: "escapes stay as written", line: `{"a\"b":"x\\","c\\":"\"}"}`, start: 1,
			want:     []member{{`a\"b`, `"x\\"`, `"a\"b":"x\\"`}, {`c\\`, `"\"}"`, `"c\\":"\"}"`}},
			wantDone: true,
		},
		{
			name: "brackets inside strings of nested values", line: `{"f":{"x":"}"},"a":[1,"]",{"y":"["}],"n":-1.5e3}`, start: 1,
			want: []member{
				{"f", `{"x":"}"}`, `"f":{"x":"}"}`},
				{"a", `[1,"]",{"y":"["}]`, `"a":[1,"]",{"y":"["}]`},
				{"n", `-1.5e3`, `"n":-1.5e3`},
			},
			wantDone: true,
		},
		{
			name: "from the middle of the line", line: `{"a":1,"calls":2,"b":"x"}`, start: 7,
			want:     []member{{"calls", "2", `"calls":2`}, {"b", `"x"`, `"b":"x"`}},
			wantDone: true,
		},
		{
			name: "white space after a colon is part of a literal", line: `{"a": 1}`, start: 1,
			want: []member{{"a", " 1", `"a": 1`}}, wantDone: true,
		},
		{name: "white space before a name", line: `{ "a":1}`, start: 1},
		{name: "white space after a comma", line: `{"a":1, "b":2}`, start: 1, want: []member{{"a", "1", `"a":1`}}},
		{name: "text after the object", line: `{"a":1}x`, start: 1, want: []member{{"a", "1", `"a":1`}}},
		{name: "no colon", line: `{"a"1}`, start: 1},
		{name: "unterminated string", line: `{"a":"x}`, start: 1},
		{name: "unterminated name", line: `{"a`, start: 1},
		{name: "unterminated object", line: `{"a":{"b":1}`, start: 1, want: []member{{"a", `{"b":1}`, `"a":{"b":1}`}}},
		{name: "unterminated nested object", line: `{"a":{"b":1`, start: 1},
		{name: "name is not a string", line: `{a:1}`, start: 1},
		{name: "start past the end", line: `{}`, start: 5},
		{name: "start before the line", line: `{}`, start: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, done := scanAll(tt.line, tt.start)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.wantDone, done)
		})
	}
}

// Every value the scanner splits off a valid object is one JSON value.
func TestScannerValuesAreJSON(t *testing.T) {
	line := `{"function":{"module":"m","qualname":"f.\u003clocals\u003e.g\"x"},"caller":null,"params":[{"name":"a","kind":"k","type":"builtins.dict[builtins.str, builtins.list[()]]"}],"returns":"None","calls":18446744073709551615,"partial":false,"python":"3.11"}`
	got, done := scanAll(line, 1)
	assert.True(t, done)
	assert.Len(t, got, 7)
	for _, m := range got {
		assert.True(t, json.Valid([]byte(m.value)), m.value)
		assert.True(t, json.Valid([]byte("{"+m.raw+"}")), m.raw)
	}
}

func TestUint(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true},
		{"42", 42, true},
		{"9999999999999999999", 9999999999999999999, true},
		{"18446744073709551615", 0, false}, // 20 digits: may not fit
		{"", 0, false},
		{"-1", 0, false},
		{"1.0", 0, false},
		{"1e3", 0, false},
		{" 1", 0, false},
		{`"1"`, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := jsonscan.Uint([]byte(tt.in))
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestHasName(t *testing.T) {
	names := []string{"resumptions", "raised", "created"}
	tests := []struct {
		in   string
		want bool
	}{
		{`{"function":{"module":"m","qualname":"g"}`, false},
		{`{"created":7,"function":{"module":"m","qualname":"g"}`, true},
		{`{"function":{"module":"m","qualname":"g"}, "resumptions" : 1`, true},
		{"{\"raised\"\t\r\n:1", true},
		{`{"function":{"module":"m","qualname":"g","raised":1}`, true},   // nested: a harmless yes
		{`{"function":{"module":"m","qualname":"x\"raised\":1"}`, false}, // an escaped quote ends no name
		{`{"x\"raised":1}`, true},                                        // a name ending in an escaped quote and the name: a harmless yes
		{`{"raise\u0064":1`, false},                                      // escapes are not decoded
		{`{"unraised":1,"createdx":2,"xcreated":3`, false},               // whole names only
		{`{"raised"`, false},                                             // no colon
		{`raised":1`, false},                                             // no opening quote
		{`:`, false},
		{``, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, jsonscan.HasName([]byte(tt.in), names...))
		})
	}
}
