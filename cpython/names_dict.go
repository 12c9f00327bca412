package cpython

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// maxDictEntries bounds the entries Reader.DictLookupStr scans. Type dicts hold a
// few dozen entries and sys.modules a few thousand; a larger count in a dict
// recapi reads means garbage.
const maxDictEntries = 1 << 17

// dictScanChunk is how many entries the dict readers read at once.
const dictScanChunk = 128

// dk_kind values (CPython v3.11.0 Include/internal/pycore_dict.h).
const (
	dictKeysGeneral = 0
	dictKeysUnicode = 1
	dictKeysSplit   = 2
)

// maxDictLog2Size bounds dk_log2_size (and log2 of dk_size): 2^40 slots
// would take terabytes.
const maxDictLog2Size = 40

// dictKeysView is a validated dict keys object: where its entries are and
// how to read them.
type dictKeysView struct {
	entries   uint64 // address of entry 0
	nentries  int
	entrySize uint64
	keyOff    uint64
	valueOff  uint64
}

// DictLookupStr looks up the str key in the dict at dict. It returns the
// value pointer and true when the key is present, false when it is not.
//
// recapi cannot hash the key (str hashes are randomized per process), so it
// scans the entries in insertion order and compares keys by length, then by
// content; keys that are not str never match. Split dicts (instance dicts
// sharing their keys with the class) are supported on every version: 3.8-3.12
// keep the values array at ma_values, 3.13 behind a PyDictValues header. The
// scan stops after maxDictEntries entries.
func (r *Reader) DictLookupStr(dict uint64, key string) (value uint64, ok bool, err error) {
	value, ok, err = r.dictLookupStr(dict, key)
	if err != nil {
		return 0, false, fmt.Errorf("look up %q in dict at %#x: %w", key, dict, err)
	}
	return value, ok, nil
}

func (r *Reader) dictLookupStr(dict uint64, key string) (uint64, bool, error) {
	m, l := r.Mem, r.Layout
	if err := r.checkObjectTypeFlags(dict, Py_TPFLAGS_DICT_SUBCLASS); err != nil {
		return 0, false, fmt.Errorf("not a dict: %w", err)
	}
	keys, err := m.U64(dict + uint64(l.PyDictObject_ma_keys))
	if err != nil {
		return 0, false, fmt.Errorf("read ma_keys: %w", err)
	}
	values, err := m.U64(dict + uint64(l.PyDictObject_ma_values))
	if err != nil {
		return 0, false, fmt.Errorf("read ma_values: %w", err)
	}
	view, err := r.dictKeys(keys)
	if err != nil {
		return 0, false, fmt.Errorf("read keys object at %#x: %w", keys, err)
	}
	valuesCap := view.nentries
	if values != 0 && l.PyDictValues_values > 0 {
		// 3.13: struct _dictvalues starts with uint8_t capacity.
		b, err := m.Bytes(values, 1)
		if err != nil {
			return 0, false, fmt.Errorf("read values capacity: %w", err)
		}
		valuesCap = min(valuesCap, int(b[0]))
	}

	buf := make([]byte, min(view.nentries, dictScanChunk)*int(view.entrySize))
	for start := 0; start < view.nentries; start += dictScanChunk {
		n := min(dictScanChunk, view.nentries-start)
		chunk := buf[:n*int(view.entrySize)]
		if err := m.Read(chunk, view.entries+uint64(start)*view.entrySize); err != nil {
			return 0, false, fmt.Errorf("read entries %d-%d: %w", start, start+n-1, err)
		}
		for j := range n {
			e := chunk[uint64(j)*view.entrySize:]
			k := binary.LittleEndian.Uint64(e[view.keyOff:])
			if k == 0 {
				continue // deleted (3.11+) or never used
			}
			eq, err := r.strEqual(k, key)
			if err != nil {
				return 0, false, fmt.Errorf("read key %d at %#x: %w", start+j, k, err)
			}
			if !eq {
				continue
			}
			if values == 0 {
				v := binary.LittleEndian.Uint64(e[view.valueOff:])
				return v, v != 0, nil
			}
			i := start + j
			if i >= valuesCap {
				return 0, false, nil
			}
			v, err := m.U64(values + uint64(l.PyDictValues_values) + uint64(i)*8)
			if err != nil {
				return 0, false, fmt.Errorf("read split value %d: %w", i, err)
			}
			// A NULL value is a key of the shared keys that this instance
			// does not have (or deleted).
			return v, v != 0, nil
		}
	}
	return 0, false, nil
}

// dictKeys reads and validates a dict keys object.
func (r *Reader) dictKeys(keys uint64) (dictKeysView, error) {
	l := r.Layout
	if err := checkObjectPointer(keys); err != nil {
		return dictKeysView{}, err
	}
	if l.PyDictKeysObject_dk_indices <= 0 || l.PyDictKeysObject_dk_nentries <= 0 {
		return dictKeysView{}, fmt.Errorf("layout for 3.%d has no dict keys offsets", l.Minor)
	}
	hdr, err := r.Mem.Bytes(keys, l.PyDictKeysObject_dk_indices)
	if err != nil {
		return dictKeysView{}, err
	}
	nentries := int64(binary.LittleEndian.Uint64(hdr[l.PyDictKeysObject_dk_nentries:]))
	if nentries == 0 {
		// The shared empty keys object has sizes of 0 (3.11+) or 1 (3.8-3.10).
		return dictKeysView{}, nil
	}
	if nentries < 0 || nentries > maxDictEntries {
		return dictKeysView{}, fmt.Errorf("dk_nentries %d out of range [0, %d]", nentries, maxDictEntries)
	}
	view := dictKeysView{nentries: int(nentries)}
	var log2Size, indexBytes uint64
	if l.PyDictKeysObject_dk_size != Absent {
		// 3.8-3.10 (CPython v3.10.0 Objects/dict-common.h): dk_size slots
		// of 1, 2, 4 or 8 bytes, then {me_hash, me_key, me_value}.
		size := binary.LittleEndian.Uint64(hdr[l.PyDictKeysObject_dk_size:])
		if size == 0 || size&(size-1) != 0 || size > 1<<maxDictLog2Size {
			return dictKeysView{}, fmt.Errorf("dk_size %d is not a power of two in range", size)
		}
		log2Size = uint64(bits.TrailingZeros64(size))
		indexBytes = size * dictIndexWidth(log2Size)
		view.entrySize, view.keyOff, view.valueOff = 24, 8, 16
	} else {
		// 3.11+ (CPython v3.11.0 Include/internal/pycore_dict.h): the
		// indices take 1<<dk_log2_index_bytes bytes; unicode and split
		// keys store {me_key, me_value}, general keys add me_hash first.
		log2Size = uint64(hdr[l.PyDictKeysObject_dk_log2_size])
		log2IndexBytes := uint64(hdr[l.PyDictKeysObject_dk_log2_index_bytes])
		kind := hdr[l.PyDictKeysObject_dk_kind]
		if log2Size > maxDictLog2Size {
			return dictKeysView{}, fmt.Errorf("dk_log2_size %d out of range", log2Size)
		}
		if want := log2Size + uint64(bits.TrailingZeros64(dictIndexWidth(log2Size))); log2IndexBytes != want {
			return dictKeysView{}, fmt.Errorf("dk_log2_index_bytes %d does not match dk_log2_size %d", log2IndexBytes, log2Size)
		}
		indexBytes = 1 << log2IndexBytes
		switch kind {
		case dictKeysGeneral:
			view.entrySize, view.keyOff, view.valueOff = 24, 8, 16
		case dictKeysUnicode, dictKeysSplit:
			view.entrySize, view.keyOff, view.valueOff = 16, 0, 8
		default:
			return dictKeysView{}, fmt.Errorf("invalid dk_kind %d", kind)
		}
	}
	if uint64(nentries) > 1<<log2Size {
		return dictKeysView{}, fmt.Errorf("dk_nentries %d exceeds the table size %d", nentries, uint64(1)<<log2Size)
	}
	view.entries = keys + uint64(l.PyDictKeysObject_dk_indices) + indexBytes
	if view.entries < keys {
		return dictKeysView{}, fmt.Errorf("entries beyond the address space")
	}
	return view, nil
}

// dictIndexWidth is the byte width of one dk_indices slot of a table with
// 1<<log2Size slots: the smallest signed integer that holds every index.
func dictIndexWidth(log2Size uint64) uint64 {
	switch {
	case log2Size < 8:
		return 1
	case log2Size < 16:
		return 2
	case log2Size < 32:
		return 4
	default:
		return 8
	}
}

// DictItem is one entry of a dict: the addresses of its key and value.
type DictItem struct {
	Key, Value uint64
}

// DictItems returns the entries of the dict at dict in insertion order,
// without deleted entries and without keys that a split dict (an instance
// dict sharing its keys) has no value for. It reads the entries in chunks,
// so iterating a dict of n entries costs about n/dictScanChunk reads, and
// it stops with an error past maxDictEntries entries.
func (r *Reader) DictItems(dict uint64) ([]DictItem, error) {
	if err := r.checkObjectTypeFlags(dict, Py_TPFLAGS_DICT_SUBCLASS); err != nil {
		return nil, fmt.Errorf("read items of dict at %#x: not a dict: %w", dict, err)
	}
	items, err := r.dictItems(dict)
	if err != nil {
		return nil, fmt.Errorf("read items of dict at %#x: %w", dict, err)
	}
	return items, nil
}

// dictItems is DictItems for an object the caller knows to be a dict.
func (r *Reader) dictItems(dict uint64) ([]DictItem, error) {
	m, l := r.Mem, r.Layout
	hdr, err := m.Bytes(dict, max(l.PyDictObject_ma_keys, l.PyDictObject_ma_values)+8)
	if err != nil {
		return nil, fmt.Errorf("read dict header: %w", err)
	}
	keys := binary.LittleEndian.Uint64(hdr[l.PyDictObject_ma_keys:])
	values := binary.LittleEndian.Uint64(hdr[l.PyDictObject_ma_values:])
	view, err := r.dictKeys(keys)
	if err != nil {
		return nil, fmt.Errorf("read keys object at %#x: %w", keys, err)
	}
	if view.nentries == 0 {
		return nil, nil
	}
	var split []byte
	if values != 0 {
		valuesCap := view.nentries
		if l.PyDictValues_values > 0 {
			// 3.13: struct _dictvalues starts with uint8_t capacity.
			b, err := m.Bytes(values, 1)
			if err != nil {
				return nil, fmt.Errorf("read values capacity: %w", err)
			}
			valuesCap = min(valuesCap, int(b[0]))
		}
		if split, err = m.Bytes(values+uint64(l.PyDictValues_values), valuesCap*8); err != nil {
			return nil, fmt.Errorf("read split values: %w", err)
		}
	}

	items := make([]DictItem, 0, view.nentries)
	buf := make([]byte, min(view.nentries, dictScanChunk)*int(view.entrySize))
	for start := 0; start < view.nentries; start += dictScanChunk {
		n := min(dictScanChunk, view.nentries-start)
		chunk := buf[:n*int(view.entrySize)]
		if err := m.Read(chunk, view.entries+uint64(start)*view.entrySize); err != nil {
			return nil, fmt.Errorf("read entries %d-%d: %w", start, start+n-1, err)
		}
		for j := range n {
			e := chunk[uint64(j)*view.entrySize:]
			k := binary.LittleEndian.Uint64(e[view.keyOff:])
			if k == 0 {
				continue // deleted (3.11+) or never used
			}
			v := binary.LittleEndian.Uint64(e[view.valueOff:])
			if values != 0 {
				v = 0
				if i := start + j; (i+1)*8 <= len(split) {
					v = binary.LittleEndian.Uint64(split[i*8:])
				}
			}
			if v == 0 {
				continue // deleted (3.8-3.10 keep the key), or absent from this split dict
			}
			items = append(items, DictItem{Key: k, Value: v})
		}
	}
	return items, nil
}
