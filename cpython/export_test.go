package cpython

// Internals that the live tests in package cpython_test check. Those tests
// live outside the package because they find the interpreter of a running
// process with pyelf.FindInterpreter, which imports this package.

// Names returns every name in the index, by code object address.
func (ix *QualnameIndex) Names() map[uint64]CodeName { return ix.names }

// MaxDictEntries bounds the entries the dict readers accept.
const MaxDictEntries = maxDictEntries

// MaxQualnameObjects bounds the objects one BuildQualnameIndex reads.
const MaxQualnameObjects = maxQualnameObjects

// DebugOffsetsCookie starts _Py_DebugOffsets.
const DebugOffsetsCookie = debugOffsetsCookie

// DebugOffsetsLayouts lists the blocks of _Py_DebugOffsets per minor version.
var DebugOffsetsLayouts = debugOffsetsLayouts

// DebugOffsetsPositions maps "block.field" to its offset in _Py_DebugOffsets.
var DebugOffsetsPositions = debugOffsetsPositions
