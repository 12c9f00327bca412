package aggregate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/klauspost/compress/zstd"

	"github.com/recapi/recapi/internal/atomicfile"
)

// Errors a snapshot reader returns, wrapped in a *FormatError. Match them with
// errors.Is.
var (
	ErrEmpty       = errors.New("file is empty")
	ErrNotZstd     = errors.New("not zstd-compressed")
	ErrTruncated   = errors.New("truncated file")
	ErrCorrupt     = errors.New("corrupt zstd data")
	ErrNotSnapshot = errors.New("not a recapi snapshot")
	ErrMalformed   = errors.New("malformed record")
)

// FormatError is a snapshot that cannot be read: which file, which line of
// the decompressed JSON Lines (1 is the header; 0 when no line is to blame),
// and what is wrong with it.
type FormatError struct {
	Path string // "" when decoding a stream that has no name
	Line int
	Err  error
}

// Error returns "read snapshot PATH: line N: what is wrong".
func (e *FormatError) Error() string {
	s := "read snapshot"
	if e.Path != "" {
		s += " " + e.Path
	}
	if e.Line > 0 {
		s += fmt.Sprintf(": line %d", e.Line)
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the problem, for errors.Is and errors.As.
func (e *FormatError) Unwrap() error { return e.Err }

// VersionError is a snapshot written in a format newer than this package
// reads.
type VersionError struct {
	Found, Supported int
}

// Error says which format was found and that recapi needs an upgrade.
func (e *VersionError) Error() string {
	return fmt.Sprintf("snapshot format %d is newer than this recapi understands (%d): upgrade recapi", e.Found, e.Supported)
}

// maxLineBytes bounds one JSON line, so that a corrupt or hostile file cannot
// make a reader hold an unbounded line in memory. Real records are a few KiB.
const maxLineBytes = 64 << 20

// maxWindow bounds the memory a reader gives one zstd frame.
const maxWindow = 128 << 20

// Encode writes s to w as a snapshot: zstd-compressed JSON Lines, the header
// on line 1 and one record per line after it, in the order of s.Records
// (Aggregator.Records and SortRecords give a deterministic one). A zero
// Header.Snapshot is written as SnapshotVersion.
func Encode(w io.Writer, s *Snapshot) error {
	// A 1 MiB window costs 3% in size against the default 8 MiB and cuts
	// the encoder's memory from about 20 MiB to 4.5 MiB per snapshot.
	zw, err := zstd.NewWriter(w, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20), zstd.WithLowerEncoderMem(true))
	if err != nil {
		return fmt.Errorf("create zstd encoder: %w", err)
	}
	bw := bufio.NewWriterSize(zw, 64<<10)
	enc := json.NewEncoder(bw)
	// Python names hold '<' and '>' ("<lambda>", "f.<locals>.g"): keep them
	// readable in zstdcat output.
	enc.SetEscapeHTML(false)

	h := s.Header
	if h.Snapshot == 0 {
		h.Snapshot = SnapshotVersion
	}
	if h.Interpreters == nil {
		h.Interpreters = []Interpreter{}
	}
	if err := enc.Encode(&h); err != nil {
		zw.Close()
		return fmt.Errorf("encode snapshot header: %w", err)
	}
	for i := range s.Records {
		r := s.Records[i]
		if r.Params == nil {
			r.Params = []Param{}
		}
		if err := enc.Encode(&r); err != nil {
			zw.Close()
			return fmt.Errorf("encode record %d (%s): %w", i, r.Function.Name(), err)
		}
	}
	if err := bw.Flush(); err != nil {
		zw.Close()
		return fmt.Errorf("write snapshot: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	return nil
}

// Decode reads a snapshot written by Encode (or by zstd from JSON Lines of the
// same shape). Unknown JSON fields are ignored; records with no params get a
// nil Params. Errors are *FormatError, wrapping one of the Err* values or a
// *VersionError.
func Decode(r io.Reader) (*Snapshot, error) {
	s, err := decode(r)
	if err != nil {
		return nil, err
	}
	return s, nil
}

var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

func decode(r io.Reader) (*Snapshot, *FormatError) {
	var s Snapshot
	h, ferr := decodeLines(r, 1, func(line []byte) error {
		rec, err := parseRecord(line)
		if err != nil {
			return err
		}
		s.Records = append(s.Records, rec)
		return nil
	})
	if ferr != nil {
		return nil, ferr
	}
	s.Header = h
	return &s, nil
}

// decodeLines reads a snapshot stream, parses its header and calls onRecord
// with every non-blank record line (without its newline; the slice is reused
// after onRecord returns). An error from onRecord is reported as a problem of
// that line. concurrency is the zstd decoder's: above 1 it decompresses
// ahead in other goroutines while onRecord runs.
func decodeLines(r io.Reader, concurrency int, onRecord func(line []byte) error) (Header, *FormatError) {
	br := bufio.NewReader(r)
	head, err := br.Peek(len(zstdMagic))
	if err != nil && err != io.EOF {
		return Header{}, &FormatError{Err: err}
	}
	if len(head) == 0 {
		return Header{}, &FormatError{Err: ErrEmpty}
	}
	if !isZstd(head) {
		if len(head) < len(zstdMagic) && bytes.HasPrefix(zstdMagic, head) {
			return Header{}, zstdError(io.ErrUnexpectedEOF)
		}
		if head[0] == '{' {
			return Header{}, &FormatError{Err: fmt.Errorf("%w (it looks like plain JSON Lines: compress it with zstd)", ErrNotZstd)}
		}
		return Header{}, &FormatError{Err: fmt.Errorf("%w (want a .recapi.zst snapshot)", ErrNotZstd)}
	}

	// The window limit is the zstd tool's own default (--memory=128MB): a
	// file can ask for more, but not one recompressed with default flags.
	zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(concurrency), zstd.WithDecoderMaxWindow(maxWindow))
	if err != nil {
		return Header{}, &FormatError{Err: fmt.Errorf("create zstd decoder: %w", err)}
	}
	defer zr.Close()
	lines := bufio.NewReaderSize(zr, 64<<10)

	// fail reports a problem found in the decompressed text. A block that
	// was corrupted in a way zstd only notices at the frame checksum
	// decompresses to garbage first, so before blaming a line, read to the
	// end: if zstd fails there, the file is corrupt, not the line.
	fail := func(line int, err error) *FormatError {
		if _, zerr := io.Copy(io.Discard, lines); zerr != nil {
			return zstdError(zerr)
		}
		return &FormatError{Line: line, Err: err}
	}

	var (
		h    Header
		buf  []byte
		n    int
		seen bool // header read
	)
	for {
		line, err := readLine(lines, buf[:0])
		buf = line
		if err != nil && err != io.EOF {
			if errors.Is(err, errLineTooLong) {
				return Header{}, fail(n+1, fmt.Errorf("%w: line longer than %d bytes", ErrMalformed, maxLineBytes))
			}
			return Header{}, zstdError(err)
		}
		if len(bytes.TrimSpace(line)) > 0 {
			n++
			if !seen {
				hh, ferr := parseHeader(line, n)
				if ferr != nil {
					// No read to the end here: this is most likely
					// another kind of file, maybe a big one.
					return Header{}, ferr
				}
				h = hh
				seen = true
			} else if perr := onRecord(line); perr != nil {
				return Header{}, fail(n, perr)
			}
		} else if err == nil {
			n++ // a blank line still counts, so line numbers match the file
		}
		if err == io.EOF {
			break
		}
	}
	if !seen {
		return Header{}, &FormatError{Err: fmt.Errorf("%w: no header line", ErrNotSnapshot)}
	}
	return h, nil
}

func isZstd(head []byte) bool {
	if bytes.HasPrefix(head, zstdMagic) {
		return true
	}
	// Skippable frames: magic 0x184D2A50 to 0x184D2A5F, little endian.
	return len(head) == 4 && head[0]&0xf0 == 0x50 && head[1] == 0x2a && head[2] == 0x4d && head[3] == 0x18
}

// zstdError classifies an error from the zstd decoder. The decoder reports a
// frame that ends early as a bare io.ErrUnexpectedEOF; wrapped unexpected EOFs
// come from inside a damaged block.
func zstdError(err error) *FormatError {
	if err == io.ErrUnexpectedEOF {
		return &FormatError{Err: fmt.Errorf("%w (zstd: %v): the snapshot was cut short, maybe still being written or copied", ErrTruncated, err)}
	}
	if errors.Is(err, zstd.ErrMagicMismatch) {
		// The first frame was read: what follows it is not zstd.
		return &FormatError{Err: fmt.Errorf("%w: data after the end of the snapshot: %w", ErrCorrupt, err)}
	}
	return &FormatError{Err: fmt.Errorf("%w: %w", ErrCorrupt, err)}
}

var errLineTooLong = errors.New("line too long")

// readLine appends the next line of r, without its newline, to buf. It returns
// io.EOF with the last line when that has no newline.
func readLine(r *bufio.Reader, buf []byte) ([]byte, error) {
	for {
		chunk, err := r.ReadSlice('\n')
		if len(buf)+len(chunk) > maxLineBytes {
			return buf, errLineTooLong
		}
		buf = append(buf, chunk...)
		switch err {
		case nil:
			return buf[:len(buf)-1], nil
		case bufio.ErrBufferFull:
			continue
		default:
			return buf, err
		}
	}
}

func parseHeader(line []byte, n int) (Header, *FormatError) {
	// Check the version before anything else: a newer format may have
	// changed the other fields, and "upgrade recapi" is the useful answer.
	if t := bytes.TrimSpace(line); len(t) == 0 || t[0] != '{' {
		return Header{}, &FormatError{Line: n, Err: fmt.Errorf("%w: the first line is not a JSON object", ErrNotSnapshot)}
	}
	var probe struct {
		Snapshot json.RawMessage `json:"recapi_snapshot"`
		Function json.RawMessage `json:"function"`
	}
	if err := json.Unmarshal(line, &probe); err != nil {
		return Header{}, &FormatError{Line: n, Err: fmt.Errorf("%w: header is not valid JSON: %w", ErrNotSnapshot, err)}
	}
	if probe.Snapshot == nil {
		if probe.Function != nil {
			return Header{}, &FormatError{Line: n, Err: fmt.Errorf("%w: header missing, the first line is a record", ErrNotSnapshot)}
		}
		return Header{}, &FormatError{Line: n, Err: fmt.Errorf("%w: header has no recapi_snapshot field", ErrNotSnapshot)}
	}
	var version int
	if err := json.Unmarshal(probe.Snapshot, &version); err != nil || version < 1 {
		return Header{}, &FormatError{Line: n, Err: fmt.Errorf("%w: recapi_snapshot is %s, want a format version >= 1", ErrNotSnapshot, probe.Snapshot)}
	}
	if version > SnapshotVersion {
		return Header{}, &FormatError{Err: &VersionError{Found: version, Supported: SnapshotVersion}}
	}
	var h Header
	if err := json.Unmarshal(line, &h); err != nil {
		return Header{}, &FormatError{Line: n, Err: fmt.Errorf("%w: bad header: %w", ErrNotSnapshot, err)}
	}
	if len(h.Interpreters) == 0 {
		h.Interpreters = nil
	}
	return h, nil
}

func parseRecord(line []byte) (Record, error) {
	var r Record
	err := json.Unmarshal(line, &r)
	if err != nil || r.Function.Qualname == "" {
		// A header does not decode as a record (its "created" is a time,
		// a record's a count): say what it is first.
		if bytes.Contains(line, []byte(`"recapi_snapshot"`)) {
			return Record{}, fmt.Errorf("%w: a second snapshot header (concatenated snapshots? combine them with recapi merge)", ErrMalformed)
		}
		if err != nil {
			return Record{}, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		return Record{}, fmt.Errorf("%w: no function qualname", ErrMalformed)
	}
	if len(r.Params) == 0 {
		r.Params = nil
	}
	return r, nil
}

// WriteFile writes s to path atomically (see atomicfile.Write): a reader sees
// the old file or the whole new one, never half of one. On error (a full
// disk, say) no temporary file is left and, unless only the final directory
// sync failed, path is left as it was. The file is 0644 whatever the umask:
// a snapshot written by the root daemon is meant to be read by the
// unprivileged recapi. Errors read "write snapshot PATH: ...".
func WriteFile(path string, s *Snapshot) error {
	return writeFile(path, func(w io.Writer) error { return Encode(w, s) })
}

func writeFile(path string, write func(io.Writer) error) error {
	err := atomicfile.Write(path, 0o644, func(f *os.File) error {
		bw := bufio.NewWriterSize(f, 256<<10)
		if err := write(bw); err != nil {
			return err
		}
		return bw.Flush()
	})
	// atomicfile says "write PATH: ..."; snapshot errors say what the
	// file is, as ReadFile's do.
	if pe, ok := err.(*fs.PathError); ok {
		return &fs.PathError{Op: "write snapshot", Path: pe.Path, Err: pe.Err}
	}
	return err
}

// ReadFile reads the snapshot at path. Errors name the path; format problems
// are *FormatError.
func ReadFile(path string) (*Snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}
	defer f.Close()
	s, ferr := decode(f)
	if ferr != nil {
		ferr.Path = path
		return nil, ferr
	}
	return s, nil
}
