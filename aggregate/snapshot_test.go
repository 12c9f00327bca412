package aggregate_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/aggregate/aggregatetest"
	"github.com/recapi/recapi/internal/testutil"
)

func encode(t testing.TB, s *aggregate.Snapshot) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, aggregate.Encode(&buf, s))
	return buf.Bytes()
}

// decompress returns the JSON Lines inside a snapshot.
func decompress(t *testing.T, data []byte) string {
	t.Helper()
	r, err := zstd.NewReader(bytes.NewReader(data))
	require.NoError(t, err)
	defer r.Close()
	out, err := io.ReadAll(r)
	require.NoError(t, err)
	return string(out)
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		s    *aggregate.Snapshot
	}{
		{name: "sample", s: aggregatetest.Sample()},
		{name: "header only", s: &aggregate.Snapshot{Header: aggregate.Header{
			Snapshot: 1, Created: aggregatetest.Created, Host: "h", Mode: aggregate.ModeExact,
		}}},
		{name: "local time zone kept", s: &aggregate.Snapshot{Header: aggregate.Header{
			Snapshot: 1, Created: time.Date(2025, 1, 2, 3, 4, 5, 600, time.FixedZone("", 3600)), Mode: aggregate.ModeExact,
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := aggregate.Decode(bytes.NewReader(encode(t, tt.s)))
			require.NoError(t, err)
			assert.True(t, tt.s.Header.Created.Equal(got.Header.Created))
			got.Header.Created = tt.s.Header.Created
			assert.Equal(t, tt.s, got)
		})
	}
}

func TestEncodeDefaultsVersionAndEmptyLists(t *testing.T) {
	s := &aggregate.Snapshot{
		Header:  aggregate.Header{Created: aggregatetest.Created, Host: "h", Mode: aggregate.ModeExact},
		Records: []aggregate.Record{{Function: fn("m", "<lambda>"), Calls: 1, Python: "3.11"}},
	}
	text := decompress(t, encode(t, s))
	assert.Equal(t,
		`{"recapi_snapshot":1,"created":"2025-06-01T12:00:00Z","host":"h","mode":"exact","interpreters":[]}`+"\n"+
			`{"function":{"module":"m","qualname":"<lambda>"},"caller":null,"params":[],"returns":null,"calls":1,"python":"3.11"}`+"\n",
		text, "version 1, [] not null, '<' not escaped, omitempty fields left out")
	// Encode does not change its argument.
	assert.Zero(t, s.Header.Snapshot)
	assert.Nil(t, s.Records[0].Params)
}

func TestEncodeNewFields(t *testing.T) {
	// yields follows returns; raised and created follow the other counts
	// and are left out when 0.
	s := &aggregate.Snapshot{
		Header: aggregate.Header{Created: aggregatetest.Created, Host: "h", Mode: aggregate.ModeExact},
		Records: []aggregate.Record{
			{Function: fn("m", "g"), Yields: strp("builtins.tuple[builtins.int, ...]"), Calls: 2, Resumptions: 5, Raised: 1, Created: 3, CodeKind: aggregate.CodeGenerator, Python: "3.11"},
			{Function: fn("m", "f"), Returns: strp("builtins.list[()]"), Calls: 1, Python: "3.11"},
		},
	}
	data := encode(t, s)
	text := decompress(t, data)
	assert.Equal(t,
		`{"recapi_snapshot":1,"created":"2025-06-01T12:00:00Z","host":"h","mode":"exact","interpreters":[]}`+"\n"+
			`{"function":{"module":"m","qualname":"g"},"caller":null,"params":[],"returns":null,"yields":"builtins.tuple[builtins.int, ...]","calls":2,"resumptions":5,"raised":1,"created":3,"code_kind":"generator","python":"3.11"}`+"\n"+
			`{"function":{"module":"m","qualname":"f"},"caller":null,"params":[],"returns":"builtins.list[()]","calls":1,"python":"3.11"}`+"\n",
		text)
	got, err := aggregate.Decode(bytes.NewReader(data))
	require.NoError(t, err)
	assert.Equal(t, s.Records, got.Records)
}

// TestZstdCommandLine checks the promise in design.md: snapshots read with
// zstdcat, and JSON Lines compressed with zstd read back.
func TestZstdCommandLine(t *testing.T) {
	zstdTool, err := exec.LookPath("zstd")
	if err != nil {
		t.Skip("needs the zstd command line tool (apt-get install zstd)")
	}
	s := aggregatetest.Sample()
	path := filepath.Join(t.TempDir(), "sample.recapi.zst")
	require.NoError(t, aggregate.WriteFile(path, s))

	out, err := exec.Command(zstdTool, "-dc", path).Output()
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	require.Len(t, lines, 1+len(s.Records))
	for i, line := range lines {
		assert.True(t, json.Valid([]byte(line)), "line %d is not JSON: %s", i+1, line)
		var obj map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &obj))
		if i == 0 {
			assert.EqualValues(t, 1, obj["recapi_snapshot"])
		} else {
			assert.Contains(t, obj, "function")
			assert.NotNil(t, obj["params"], "params is never null")
		}
	}

	// Edit the text, compress it with the command line tool, read it back.
	edited := strings.Replace(string(out), `"calls":100000`, `"calls":7`, 1)
	cmd := exec.Command(zstdTool, "-q", "-c")
	cmd.Stdin = strings.NewReader(edited)
	compressed, err := cmd.Output()
	require.NoError(t, err)
	got, err := aggregate.Decode(bytes.NewReader(compressed))
	require.NoError(t, err)
	assert.Equal(t, uint64(7), got.Records[0].Calls)
	assert.Equal(t, s.Records[1:], got.Records[1:])
}

func TestDecodeReadsInSmallPieces(t *testing.T) {
	s := aggregatetest.Sample()
	got, err := aggregate.Decode(iotest.OneByteReader(bytes.NewReader(encode(t, s))))
	require.NoError(t, err)
	assert.Equal(t, s.Records, got.Records)
}

func TestDecodeIgnoresUnknownFields(t *testing.T) {
	text := `{"recapi_snapshot":1,"created":"2025-06-01T12:00:00Z","host":"h","mode":"budgeted","interpreters":[],"sampler":{"hz":19}}
{"function":{"module":"m","qualname":"f","docstring":"x"},"caller":null,"params":[{"name":"a","kind":"positional_or_keyword","type":"builtins.int","default_repr":"0"}],"returns":null,"yields":"builtins.int","raises":["builtins.ValueError"],"calls":3,"python":"3.14"}

{"function":{"module":"m","qualname":"g"},"params":null,"calls":1,"python":"3.14"}
`
	got, err := aggregate.Decode(bytes.NewReader(compress(t, text)))
	require.NoError(t, err)
	assert.Equal(t, "budgeted", got.Header.Mode)
	assert.Nil(t, got.Header.Interpreters)
	assert.Equal(t, []aggregate.Record{
		{
			Function: fn("m", "f"),
			Params:   []aggregate.Param{{Name: "a", Kind: aggregate.KindPositionalOrKeyword, Type: "builtins.int"}},
			Yields:   strp("builtins.int"),
			Calls:    3, Python: "3.14",
		},
		{Function: fn("m", "g"), Calls: 1, Python: "3.14"},
	}, got.Records)
}

func TestDecodeAcceptsLastLineWithoutNewline(t *testing.T) {
	text := `{"recapi_snapshot":1,"created":"2025-06-01T12:00:00Z","host":"h","mode":"exact","interpreters":[]}
{"function":{"module":"m","qualname":"f"},"calls":2,"python":"3.11"}`
	got, err := aggregate.Decode(bytes.NewReader(compress(t, text)))
	require.NoError(t, err)
	require.Len(t, got.Records, 1)
	assert.Equal(t, uint64(2), got.Records[0].Calls)
}

const goodHeader = `{"recapi_snapshot":1,"created":"2025-06-01T12:00:00Z","host":"h","mode":"exact","interpreters":[]}` + "\n"

func TestReadFileErrors(t *testing.T) {
	good := encode(t, aggregatetest.Sample())
	flip := func(at int) []byte {
		b := bytes.Clone(good)
		b[at] ^= 0xff
		return b
	}
	record := `{"function":{"module":"m","qualname":"f"},"calls":1,"python":"3.11"}` + "\n"

	tests := []struct {
		name     string
		data     []byte
		wantIs   error
		wantLine int
		wantMsg  string
	}{
		{name: "empty file", data: nil, wantIs: aggregate.ErrEmpty, wantMsg: "file is empty"},
		{name: "plain text", data: []byte("hello, world\n"), wantIs: aggregate.ErrNotZstd, wantMsg: "not zstd-compressed (want a .recapi.zst snapshot)"},
		{name: "uncompressed json lines", data: []byte(goodHeader + record), wantIs: aggregate.ErrNotZstd, wantMsg: "looks like plain JSON Lines: compress it with zstd"},
		{name: "gzip", data: []byte{0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0}, wantIs: aggregate.ErrNotZstd},
		{name: "one byte", data: good[:1], wantIs: aggregate.ErrTruncated},
		{name: "cut after magic", data: good[:4], wantIs: aggregate.ErrTruncated},
		{name: "cut in the frame header", data: good[:8], wantIs: aggregate.ErrTruncated},
		{name: "cut in half", data: good[:len(good)/2], wantIs: aggregate.ErrTruncated, wantMsg: "truncated file (zstd: unexpected EOF): the snapshot was cut short"},
		{name: "checksum cut off", data: good[:len(good)-4], wantIs: aggregate.ErrTruncated},
		{name: "last byte missing", data: good[:len(good)-1], wantIs: aggregate.ErrTruncated},
		{name: "byte flipped in the data", data: flip(len(good) / 2), wantIs: aggregate.ErrCorrupt, wantMsg: "corrupt zstd data"},
		{name: "byte flipped in the checksum", data: flip(len(good) - 2), wantIs: aggregate.ErrCorrupt},
		{name: "magic damaged", data: flip(0), wantIs: aggregate.ErrNotZstd},
		{name: "garbage after the frame", data: append(bytes.Clone(good), "garbage"...), wantIs: aggregate.ErrCorrupt, wantMsg: "data after the end of the snapshot"},
		{name: "damaged text fails the checksum", data: corruptLiteral(t), wantIs: aggregate.ErrCorrupt, wantMsg: "CRC check failed"},
		{name: "no lines", data: compress(t, ""), wantIs: aggregate.ErrNotSnapshot, wantMsg: "not a recapi snapshot: no header line"},
		{name: "header missing", data: compress(t, record+record), wantIs: aggregate.ErrNotSnapshot, wantLine: 1, wantMsg: "header missing, the first line is a record"},
		{name: "header not an object", data: compress(t, "[1, 2]\n"), wantIs: aggregate.ErrNotSnapshot, wantLine: 1, wantMsg: "not a recapi snapshot: the first line is not a JSON object"},
		{name: "header not json", data: compress(t, "{recapi_snapshot: 1}\n"), wantIs: aggregate.ErrNotSnapshot, wantLine: 1, wantMsg: "header is not valid JSON: invalid character 'r'"},
		{name: "other json", data: compress(t, `{"name":"x"}`+"\n"), wantIs: aggregate.ErrNotSnapshot, wantLine: 1, wantMsg: "header has no recapi_snapshot field"},
		{name: "version zero", data: compress(t, `{"recapi_snapshot":0}`+"\n"), wantIs: aggregate.ErrNotSnapshot, wantLine: 1, wantMsg: "recapi_snapshot is 0, want a format version >= 1"},
		{name: "version a string", data: compress(t, `{"recapi_snapshot":"1"}`+"\n"), wantIs: aggregate.ErrNotSnapshot, wantLine: 1},
		{name: "bad header field", data: compress(t, `{"recapi_snapshot":1,"created":"yesterday"}`+"\n"), wantIs: aggregate.ErrNotSnapshot, wantLine: 1, wantMsg: "bad header"},
		{
			name: "newer version", data: compress(t, `{"recapi_snapshot":2,"created":{"new":"shape"}}`+"\n"+`{"new":"records"}`+"\n"),
			wantMsg: "snapshot format 2 is newer than this recapi understands (1): upgrade recapi",
		},
		{name: "malformed record", data: compress(t, goodHeader+record+`{"function":{"module":"m",`+"\n"+record), wantIs: aggregate.ErrMalformed, wantLine: 3, wantMsg: "line 3: malformed record: unexpected end of JSON input"},
		{name: "record of wrong type", data: compress(t, goodHeader+`{"function":{"module":"m","qualname":"f"},"calls":"many"}`+"\n"), wantIs: aggregate.ErrMalformed, wantLine: 2},
		{name: "blank lines count", data: compress(t, goodHeader+"\n\n"+"{oops}\n"), wantIs: aggregate.ErrMalformed, wantLine: 4},
		{name: "null record", data: compress(t, goodHeader+"null\n"), wantIs: aggregate.ErrMalformed, wantLine: 2, wantMsg: "no function qualname"},
		{name: "concatenated snapshots", data: compress(t, goodHeader+record+goodHeader+record), wantIs: aggregate.ErrMalformed, wantLine: 3, wantMsg: "a second snapshot header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTemp(t, "bad.recapi.zst", tt.data)
			s, err := aggregate.ReadFile(path)
			require.Error(t, err)
			assert.Nil(t, s)
			t.Log(err)

			assert.True(t, strings.HasPrefix(err.Error(), "read snapshot "+path+": "), "error names the file: %v", err)
			if tt.wantMsg != "" {
				assert.Contains(t, err.Error(), tt.wantMsg)
			}
			var fe *aggregate.FormatError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, path, fe.Path)
			assert.Equal(t, tt.wantLine, fe.Line)
			if tt.wantIs != nil {
				assert.ErrorIs(t, err, tt.wantIs)
			}
			for _, other := range []error{aggregate.ErrEmpty, aggregate.ErrNotZstd, aggregate.ErrTruncated, aggregate.ErrCorrupt, aggregate.ErrNotSnapshot, aggregate.ErrMalformed} {
				if other != tt.wantIs {
					assert.NotErrorIs(t, err, other)
				}
			}
		})
	}
}

// corruptLiteral returns a snapshot whose text was stored uncompressed by
// zstd and then damaged in its first block: the damage makes a line invalid
// JSON, which a reader meets before the checksum at the end of the frame
// tells it the file is corrupt.
func corruptLiteral(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf, zstd.WithNoEntropyCompression(true))
	require.NoError(t, err)
	_, err = w.Write([]byte(goodHeader + `{"function":{"module":"m","qualname":"damage_me_here"},"calls":1,"python":"3.11"}` + "\n"))
	require.NoError(t, err)
	for i := range 5000 { // more blocks after the first
		_, err = fmt.Fprintf(w, `{"function":{"module":"m","qualname":"f%d"},"calls":%d,"python":"3.11"}`+"\n", i, i*7919)
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	data := buf.Bytes()
	i := bytes.Index(data, []byte("damage_me_here"))
	require.GreaterOrEqual(t, i, 0, "literal stored as is")
	data[i+6] = '"'

	r, err := zstd.NewReader(bytes.NewReader(data))
	require.NoError(t, err)
	defer r.Close()
	text, _ := io.ReadAll(r)
	require.Contains(t, string(text), `"damage"me_here"`, "the text is damaged before the checksum is checked")
	return data
}

func TestReadFileNewerVersion(t *testing.T) {
	path := writeTemp(t, "new.recapi.zst", compress(t, `{"recapi_snapshot":2}`+"\n"))
	_, err := aggregate.ReadFile(path)
	var ve *aggregate.VersionError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, aggregate.VersionError{Found: 2, Supported: aggregate.SnapshotVersion}, *ve)
	assert.EqualError(t, err, "read snapshot "+path+": snapshot format 2 is newer than this recapi understands (1): upgrade recapi")
}

func TestReadFileNotThere(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.recapi.zst")
	_, err := aggregate.ReadFile(path)
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), path)

	_, err = aggregate.ReadFile(t.TempDir())
	require.Error(t, err, "a directory is not a snapshot")
	assert.Contains(t, err.Error(), "is a directory")
}

// TestDecodeWithoutPath checks the message of a stream that has no name.
func TestDecodeWithoutPath(t *testing.T) {
	_, err := aggregate.Decode(strings.NewReader(""))
	assert.EqualError(t, err, "read snapshot: file is empty")
	_, err = aggregate.Decode(bytes.NewReader(compress(t, goodHeader+"{\n")))
	assert.EqualError(t, err, "read snapshot: line 2: malformed record: unexpected end of JSON input")
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.recapi.zst")
	s := aggregatetest.Sample()

	require.NoError(t, aggregate.WriteFile(path, s))
	got, err := aggregate.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, s.Records, got.Records)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm(), "readable by the unprivileged recapi")

	// Overwrite in place.
	s.Records = s.Records[:1]
	require.NoError(t, aggregate.WriteFile(path, s))
	got, err = aggregate.ReadFile(path)
	require.NoError(t, err)
	assert.Len(t, got.Records, 1)
	testutil.AssertOnlyFiles(t, dir, "out.recapi.zst")
}

func TestWriteFileRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	require.NoError(t, aggregate.WriteFile("rel.recapi.zst", aggregatetest.Sample()))
	_, err := aggregate.ReadFile("rel.recapi.zst")
	require.NoError(t, err)
	testutil.AssertOnlyFiles(t, ".", "rel.recapi.zst")
}

func TestWriteFileErrors(t *testing.T) {
	t.Run("no such directory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "missing", "out.recapi.zst")
		err := aggregate.WriteFile(path, aggregatetest.Sample())
		require.Error(t, err)
		assert.True(t, strings.HasPrefix(err.Error(), "write snapshot "+path+": "), err.Error())
		assert.ErrorIs(t, err, os.ErrNotExist)
	})
	t.Run("path is a directory", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "taken")
		require.NoError(t, os.Mkdir(path, 0o755))
		err := aggregate.WriteFile(path, aggregatetest.Sample())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "write snapshot "+path+": ")
		testutil.AssertOnlyFiles(t, dir, "taken") // the temporary file is gone
	})
}

func TestEncodeWriteError(t *testing.T) {
	// A writer that fails after some bytes, like a pipe closed by its reader.
	s := &aggregate.Snapshot{Header: aggregate.Header{Created: aggregatetest.Created}, Records: benchRecords(20000)}
	w := &failingWriter{n: 1000}
	err := aggregate.Encode(w, s)
	assert.ErrorIs(t, err, errFailed)
}

var errFailed = errors.New("device on fire")

type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		n := w.n
		w.n = 0
		return n, errFailed
	}
	w.n -= len(p)
	return len(p), nil
}

func BenchmarkEncode(b *testing.B) {
	s := &aggregate.Snapshot{Header: aggregate.Header{Created: aggregatetest.Created}, Records: benchRecords(10000)}
	b.ReportAllocs()
	for b.Loop() {
		require.NoError(b, aggregate.Encode(io.Discard, s))
	}
}

func BenchmarkDecode(b *testing.B) {
	s := &aggregate.Snapshot{Header: aggregate.Header{Created: aggregatetest.Created}, Records: benchRecords(10000)}
	data := encode(b, s)
	b.ReportAllocs()
	for b.Loop() {
		_, err := aggregate.Decode(bufio.NewReader(bytes.NewReader(data)))
		require.NoError(b, err)
	}
}
