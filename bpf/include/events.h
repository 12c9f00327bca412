/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * Structures shared between the BPF programs and Go (bpf2go -type generates
 * the Go twins). Fixed-width fields, explicit padding, no implicit holes.
 */
#ifndef RECAPI_EVENTS_H
#define RECAPI_EVENTS_H

#include "bpf_base.h"

/* Parameters recorded per call. Functions with more are recorded with the
 * first MAX_PARAMS and marked truncated. */
#define MAX_PARAMS 64
#define FILE_LEN 256
#define NAME_LEN 128
#define PARAM_NAME_LEN 32
#define TYPE_NAME_LEN 128

/* py_config.flags */
#define CFG_OLD_FRAMES 1 /* PyFrameObject eval loop (3.8-3.10): start iff f_lasti == -1 */

/*
 * Where things are in one interpreter's memory: offsets from symbolize.Layout,
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
	__s32 owner_cstack;
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
	__u32 _pad3;
	__u64 interp_head; /* address of _PyRuntime.interpreters.head */
	__u64 interp;      /* the main interpreter, filled in by BPF once it exists */
	__u64 cell_type; /* runtime address of PyCell_Type (3.11+): arguments captured by closures sit in cells */
};

/* py_config.dict_flavor */
#define DICT_KEYS_38 1  /* 3.8-3.10: dk_size 8, dk_nentries 32, indices at 40, 24-byte entries */
#define DICT_KEYS_311 2 /* 3.11+: dk_log2_index_bytes 9, dk_kind 10, dk_nentries 24, indices at 32 */

/* call_key.kind */
#define CALL_START 1  /* a function call, or the first run of a generator/coroutine */
#define CALL_RESUME 2 /* a generator/coroutine resumed after yield or await */

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

/* Ring-buffer events, sent at first sight only (never per call). */
#define EVENT_SIG 1
#define EVENT_CODE 2
#define EVENT_TYPE 3

struct event_header {
	__u32 type;
	__u32 pid;
	__u64 ptr; /* sig hash, code object or type object */
	__u64 fp;  /* code objects: fingerprint as in call_key; 0 otherwise */
};

/* The argument type pointers behind a sig hash. */
struct sig_event {
	struct event_header hdr;
	__u32 nparams;
	__u32 _pad;
	__u64 types[MAX_PARAMS];
};

/* str_flags bits: a string that BPF could not copy whole (non-ASCII, longer
 * than the buffer, unreadable). Userspace re-reads those from /proc/PID/mem. */
#define STR_FILENAME 1
#define STR_NAME 2
#define STR_QUALNAME 4
#define STR_PARAMS 8
#define STR_TP_NAME 16
#define STR_MODULE 32

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
	__u32 _pad;
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

/* stats indices (per-CPU counters, summed by the daemon) */
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
	STAT_MAX,
};

#endif
