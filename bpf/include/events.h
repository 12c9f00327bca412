/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * Structures and constants shared between the BPF programs and Go. bpf2go
 * -type generates the Go twins (bpf/gen.go), so every constant Go needs is
 * a member of a named enum here, never a #define: Go uses the generated
 * constants, or thin aliases defined from them (bpf/loader.go). Fixed-width
 * fields, explicit padding, no implicit holes.
 */
#ifndef RECAPI_EVENTS_H
#define RECAPI_EVENTS_H

#include "bpf_base.h"

/*
 * How much is recorded of a call. Parameters: functions with more are
 * recorded with the first MAX_PARAMS and marked truncated. A value's type is
 * described by up to NODES_PER_VALUE nodes, in preorder: the type pointer,
 * and for an exact list, tuple, dict, set or frozenset a header node
 * (enum node_hdr) followed by the types of up to MAX_ELEMS sampled
 * elements. Elements of the value itself are expanded once more, except
 * inside a tuple, so nesting stops at depth 2 (docs/element-types.md).
 * Keyword-only parameters: code_event.kwdefaults covers the first
 * MAX_KWONLY.
 */
enum limits {
	MAX_PARAMS = 64,
	NODES_PER_VALUE = 24,
	MAX_NODES = MAX_PARAMS * NODES_PER_VALUE,
	MAX_ELEMS = 8,
	MAX_KWONLY = 16,
	EVENTS_BYTES = 8 << 20, /* the event ring buffer's default size (recapid --event-buffer) */
};

#define FILE_LEN 256
#define NAME_LEN 128
#define PARAM_NAME_LEN 32
#define TYPE_NAME_LEN 128

/* py_config.flags */
enum cfg_flags {
	CFG_OLD_FRAMES = 1, /* PyFrameObject eval loop (3.8-3.10): start iff f_lasti == -1 */
	CFG_OUTCOMES = 2,   /* outcome probes are attached: count calls when they end, with what they returned */
};

/* Header nodes of a container's type description: small numbers, never
 * pointers. */
enum node_hdr {
	NODE_HDR = 0x100,        /* | the number of element nodes that follow; 0: the container is empty */
	NODE_LONG_TUPLE = 0x200, /* a tuple longer than MAX_ELEMS: its first item's node follows */
	NODE_UNEXPANDED = 0x300, /* elements not read (split dict, no live entry among the slots scanned) */
};

/* Indices of py_config.container_types: the builtin containers whose
 * elements are sampled. recapid maps cpython's list of their type
 * symbols onto these by name (tracer/bpfmap.go). */
enum container_type {
	CT_LIST = 0,
	CT_TUPLE = 1,
	CT_DICT = 2,
	CT_SET = 3,
	CT_FROZENSET = 4,
	CT_COUNT = 5,
};

/*
 * Where things are in one interpreter's memory: offsets from cpython.Layout,
 * addresses with the process's load bias applied. One per traced PID.
 * Offsets of fields a version lacks are -1.
 */
struct py_config {
	__u32 flags;
	__s32 fr_code;
	__s32 fr_previous;
	__s32 fr_instr;
	__s32 fr_lasti;
	__s32 fr_localsplus;
	__s32 fr_owner;
	__s32 fr_globals;
	__s32 fr_funcobj; /* -1 on 3.8-3.10 */
	__s32 first_shim_owner; /* frames whose owner is this or above are not Python calls (3.12+), else -1 */
	__u32 resume_ops; /* up to 4 RESUME-family opcode bytes, low byte first; 0 = unused */
	__s32 co_argcount;
	__s32 co_posonlyargcount;
	__s32 co_kwonlyargcount;
	__s32 co_nlocals;
	__s32 co_flags;
	__s32 co_firstlineno;
	__s32 co_varnames;
	__s32 co_filename;
	__s32 co_name;
	__s32 co_qualname;
	__s32 co_cellvars;
	__s32 co_cell2arg;
	__s32 ob_type;
	__s32 ob_size;
	__s32 tp_name;
	__s32 tp_flags;
	__s32 ht_qualname;
	__s32 tuple_items;
	__s32 cell_ref;
	__s32 str_state;
	__s32 str_length;
	__s32 ascii_size;
	__u32 co_internal_flags; /* co_flags bits of interpreter-internal shim code (3.13+ CO_NO_MONITORING_EVENTS) */
	__s32 tp_dict;
	__s32 dict_keys;  /* PyDictObject.ma_keys */
	__u32 dict_flavor; /* DICT_KEYS_38 or DICT_KEYS_311: layout of PyDictKeysObject */
	__u32 frame_head;  /* bytes of a frame that hold code, previous, instr/lasti and owner */
	__s32 co_instr_version;     /* PyCodeObject._co_instrumentation_version (3.12+), else -1 */
	__s32 interp_instr_version; /* the interpreter's global instrumentation version (3.12+), else -1 */
	__s32 co_nlocalsplus; /* 3.11+: the value stack starts at localsplus[co_nlocalsplus] */
	__s32 co_consts;
	__s32 fr_stacktop;   /* 3.8/3.9: non-NULL while a generator is suspended, else -1 */
	__s32 fr_state;      /* 3.10: f_state, FRAME_SUSPENDED (-1) while suspended, else -1 */
	__s32 dict_values;   /* PyDictObject.ma_values */
	__u32 extended_arg;  /* opcode of EXTENDED_ARG */
	__u32 ret_const_ops; /* up to 4 RETURN_CONST-family opcodes, low byte first */
	__s32 fn_code;       /* PyFunctionObject.func_code */
	__s32 fn_defaults;   /* PyFunctionObject.func_defaults: a tuple, or NULL */
	__s32 fn_kwdefaults; /* PyFunctionObject.func_kwdefaults: a dict, or NULL */
	__u32 stackref_tags; /* tag bits of a _PyStackRef frame slot (3.14+), else 0 */
	__u64 interp_head; /* address of _PyRuntime.interpreters.head */
	__u64 interp;      /* the main interpreter, filled in by BPF once it exists */
	__u64 cell_type; /* runtime address of PyCell_Type (3.11+): arguments captured by closures sit in cells */
	__u64 long_type; /* runtime address of PyLong_Type: the type of a small int tagged into a _PyStackRef */
	__u64 container_types[CT_COUNT]; /* runtime addresses of PyList_Type ... PyFrozenSet_Type; 0 = not sampled */
};

/* py_config.dict_flavor */
enum dict_flavor {
	DICT_KEYS_38 = 1,  /* 3.8-3.10: dk_size 8, dk_nentries 32, indices at 40, 24-byte entries */
	DICT_KEYS_311 = 2, /* 3.11+: dk_log2_index_bytes 9, dk_kind 10, dk_nentries 24, indices at 32 */
};

/* call_key.kind */
enum call_kind {
	CALL_START = 1,  /* a function call, or the first run of a generator/coroutine */
	CALL_RESUME = 2, /* a generator/coroutine resumed after yield or await */
	CALL_CREATE = 3, /* a call that created a generator/coroutine object (RETURN_GENERATOR, 3.11+) */
	/* Or'ed into kind while outcome probes are on: the call is counted
	 * when it ends, in the outcome maps; this count only marks first
	 * sight. */
	CALL_PENDING = 0x80,
};

/* The unit of in-kernel aggregation: one distinct call shape of one process. */
struct call_key {
	__u32 pid;
	__u8 kind;
	__u8 nparams;
	__u8 truncated;
	__u8 _pad;
	__u64 code;      /* callee code object */
	__u64 code_fp;   /* its fingerprint: tells apart code objects that reuse an address */
	__u64 caller;    /* code object of the nearest Python caller, 0 if none */
	__u64 caller_fp; /* the caller's fingerprint */
	__u64 sig;       /* hash of the argument type pointers; 0 for resumptions */
};

/* How a call or resumption ended: outcome_key.outcome. */
enum outcome {
	OUTCOME_RETURNED = 1,
	OUTCOME_YIELDED = 2,
	OUTCOME_RAISED = 3,
	OUTCOME_UNSEEN = 4, /* ended without a return the probes see: a 3.11+ suspension, or unfinished when the probes went */
};

struct outcome_key {
	struct call_key call; /* kind without CALL_PENDING */
	__u64 value;          /* the value's type pointer, or its description hash (odd) for containers; 0 if none */
	__u8 outcome;
	__u8 _pad[7];
};

/* A call waiting for its end: keyed by frame (3.11+) or by the stack pointer
 * at the eval loop's entry (3.8-3.10), which its uretprobe sees plus 8.
 * Entries are reused in place by the next call at the same address (an
 * insert and a delete per call would cost about 0.2 us); the daemon removes
 * them when the outcome probes go. */
struct frame_key {
	__u32 pid;
	__u32 _pad;
	__u64 addr;
};

struct pending_call {
	struct call_key key;
	__u64 frame;
	__u64 consts;      /* co_consts, for RETURN_CONST */
	__u32 nlocalsplus; /* where stack slot 0 is, for RETURN_VALUE */
	__u32 flags;       /* co_flags */
	__u32 done;        /* the call ended; the entry is kept for the next call at this frame */
	__u32 _pad;
};

/*
 * A count of call_to_count_* or outcome_to_count_*: the number of calls in
 * the low 63 bits, and in the top bit whether a name the key's first sight
 * had to send (its signature or value descriptions, a code object, a type)
 * was lost to a full ring buffer. Every later sight of a key with the bit
 * set sends its names again, and clears the bit once they all went.
 */
enum count_bits {
	COUNT_UNNAMED_SHIFT = 63,
};

/* Ring-buffer events, sent at first sight only (never per call):
 * event_header.type. */
enum event_type {
	EVENT_SIG = 1,
	EVENT_CODE = 2,
	EVENT_TYPE = 3,
	EVENT_VALUE = 4, /* a returned or yielded container's description: a sig_event with one value */
};

struct event_header {
	__u32 type;
	__u32 pid;
	__u64 ptr; /* sig hash, code object or type object */
	__u64 fp;  /* code objects: fingerprint as in call_key; 0 otherwise */
};

/* The argument type descriptions behind a sig hash: NODES_PER_VALUE nodes
 * per parameter. Sent with only nparams * NODES_PER_VALUE nodes. */
struct sig_event {
	struct event_header hdr;
	__u32 nparams;
	__u32 _pad;
	__u64 nodes[MAX_NODES];
};

/* str_flags bits: a string that BPF could not copy whole (non-ASCII, longer
 * than the buffer, unreadable). Userspace re-reads those from /proc/PID/mem. */
enum str_flags {
	STR_FILENAME = 1,
	STR_NAME = 2,
	STR_QUALNAME = 4,
	STR_PARAMS = 8,
	STR_TP_NAME = 16,
	STR_MODULE = 32,
};

/* code_event.ndefaults when the function object could not be read (3.8-3.10
 * frames do not reference theirs). */
enum code_defaults {
	DEFAULTS_UNKNOWN = 0xffffffffU,
};

struct code_event {
	struct event_header hdr;
	__u64 funcobj; /* the function object of the frame it was seen in (3.11+), for its defaults */
	__u32 firstlineno;
	__u32 argcount;
	__u32 posonlyargcount;
	__u32 kwonlyargcount;
	__u32 flags;
	__u32 nparams;
	__u32 str_flags;
	__u32 ndefaults; /* positional parameters with a default, len(__defaults__); DEFAULTS_UNKNOWN if not read */
	__u64 kwdefaults; /* bit i: keyword-only parameter i has a default (in __kwdefaults__) */
	char filename[FILE_LEN];
	char name[NAME_LEN];
	char qualname[NAME_LEN];
	char params[MAX_PARAMS][PARAM_NAME_LEN];
};

struct type_event {
	struct event_header hdr;
	__u64 tp_flags;
	__u32 str_flags;
	__u32 _pad;
	char tp_name[TYPE_NAME_LEN];
	char qualname[TYPE_NAME_LEN]; /* ht_qualname of heap types */
	char module[TYPE_NAME_LEN];   /* __module__ of heap types */
};

/* How a probe point is used: the low byte of its attach cookie. */
enum probe_kind {
	PROBE_CALL = 0,         /* a RESUME-family handler, or the eval loop's entry */
	PROBE_CREATE = 1,       /* RETURN_GENERATOR: count the creation */
	PROBE_RETURN_VALUE = 2, /* RETURN_VALUE: the value is in stack slot 0 */
	PROBE_RETURN_CONST = 3, /* RETURN_CONST: the value is co_consts[oparg] */
	PROBE_EVAL_RETURN = 4,  /* uretprobe on the eval loop (3.8-3.10): the value is in rax */
};

/* The register that holds the frame at a probe point: the second byte of
 * its attach cookie. Numbered as x86-64 encodes registers, plus one, like
 * pyelf.Reg (recapid maps one onto the other by name, in
 * tracer/bpfmap.go, and its tests check the names); rsp never holds a
 * frame. */
enum frame_reg {
	REG_NONE = 0,
	REG_RAX = 1,
	REG_RCX = 2,
	REG_RDX = 3,
	REG_RBX = 4,
	REG_RSP = 5,
	REG_RBP = 6,
	REG_RSI = 7,
	REG_RDI = 8,
	REG_R8 = 9,
	REG_R9 = 10,
	REG_R10 = 11,
	REG_R11 = 12,
	REG_R12 = 13,
	REG_R13 = 14,
	REG_R14 = 15,
	REG_R15 = 16,
};

/* An attach cookie: enum probe_kind in the low byte, enum frame_reg in the
 * next. */
enum cookie_layout {
	COOKIE_REG_SHIFT = 8,
	COOKIE_FIELD_MASK = 0xff,
};

#define COOKIE_PROBE(c) ((c) & COOKIE_FIELD_MASK)
#define COOKIE_REG(c) (((c) >> COOKIE_REG_SHIFT) & COOKIE_FIELD_MASK)

/* stats indices (per-CPU counters, summed by the daemon; their names are
 * bpf.StatNames, keyed by the generated constants) */
enum stat_index {
	STAT_NO_CONFIG = 0,
	STAT_NO_FRAME,
	STAT_NO_CODE,
	STAT_INSTR_UNKNOWN,
	STAT_COUNTS_FULL,
	STAT_EVENTS_LOST,
	STAT_TRUNCATED,
	STAT_NEW_KEYS,
	STAT_REEXECUTED,
	STAT_PENDING_FULL,
	STAT_OUTCOMES_FULL,
	STAT_STALE_PENDING,
	STAT_RETURN_OTHER_FRAME,
	STAT_NAMES_RESENT,
	STAT_SCRATCH_BUSY,
	STAT_MAX,
};

/*
 * CPython's flag bits the programs test. Their Go twins are cpython's
 * (CO_VARARGS, Py_TPFLAGS_HEAPTYPE, ...); a daemon test reads this enum from
 * the object's BTF and checks that both agree. CPython v3.12.0
 * Include/cpython/code.h, Include/object.h.
 */
enum cpython_flags {
	CO_VARARGS = 0x4,
	CO_VARKEYWORDS = 0x8,
	CO_GENERATOR = 0x20,
	CO_COROUTINE = 0x80,
	CO_ITERABLE_COROUTINE = 0x100,
	CO_ASYNC_GENERATOR = 0x200,
	Py_TPFLAGS_HEAPTYPE = 1 << 9,
};

#endif
