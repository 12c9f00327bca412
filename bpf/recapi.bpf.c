//go:build ignore

/*
 * recapid's BPF side: count every Python call of traced processes by its
 * shape (callee, caller, argument types) in kernel maps.
 *
 * Three programs, one per kind of probe point, serve every supported CPython:
 *   on_call         3.8-3.10: uprobe at the entry of _PyEval_EvalFrameDefault,
 *                   where every Python call (and generator resumption) enters
 *                   as a C call; 3.11+: uprobes on the RESUME-family bytecode
 *                   handlers, found through the interpreter's computed-goto
 *                   table and moved onto an instruction the kernel emulates.
 *   on_return       3.11+: the return handlers, while an outcome window is open.
 *   on_eval_return  uretprobe of _PyEval_EvalFrameDefault (returns, yields and
 *                   raises on 3.8-3.10, raises on 3.11+).
 * The attach cookie carries the probe kind and the register that holds the
 * frame at that point (enum probe_kind, enum frame_reg), which pyelf finds for
 * each probe point; frame_register() reads it with constant-offset context
 * loads, the only kind the verifier accepts.
 *
 * Nothing is sent to userspace per call. A call increments a counter keyed by
 * {pid, kind, callee, caller, hash of argument types}; only the first sight of
 * a key in a drain interval sends its type pointers, and only the first sight
 * of a code object or type sends its names, so a process that lives 50 ms is
 * still named. A name the full ring buffer refused is sent again at the
 * key's next sight (enum count_bits), never dropped for good.
 *
 * CPython's structs live in user memory, so CO-RE does not apply: all offsets
 * come from recapid per PID (pid_to_config), taken from cpython.Layout.
 * Minimum kernel: 6.1 (bpf.MinKernel; the kernel matrix in scripts/vmtest.sh
 * runs 6.1, 6.12 and sid's newest). Every program keeps its combined stack
 * at 512 bytes or less and its verified instructions under 250,000.
 */

#include "include/bpf_base.h"
#include "include/events.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define MAX_PIDS 4096
#define MAX_KEYS 65536
#define MAX_SEEN 131072
#define MAX_CALLER_HOPS 4
#define MAX_CELLS 32
#define MAX_PENDING 65536

/* Referenced so that their BTF is emitted for bpf2go's -type. */
const struct code_event *unused_code_event __attribute__((unused));
const struct type_event *unused_type_event __attribute__((unused));
const struct sig_event *unused_sig_event __attribute__((unused));
const struct outcome_key *unused_outcome_key __attribute__((unused));
const struct pending_call *unused_pending_call __attribute__((unused));

/* The enums of include/events.h, one field each, so that their BTF is
 * emitted too: for bpf2go's -type, and for the daemon's tests that tie
 * them to pyelf's numberings. */
struct shared_enums {
	enum limits limits;
	enum cfg_flags cfg_flags;
	enum node_hdr node_hdr;
	enum container_type container_type;
	enum dict_flavor dict_flavor;
	enum call_kind call_kind;
	enum outcome outcome;
	enum event_type event_type;
	enum str_flags str_flags;
	enum code_defaults code_defaults;
	enum probe_kind probe_kind;
	enum frame_reg frame_reg;
	enum cookie_layout cookie_layout;
	enum count_bits count_bits;
	enum stat_index stat_index;
	enum cpython_flags cpython_flags;
};
const struct shared_enums *unused_shared_enums __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_PIDS);
	__type(key, __u32);
	__type(value, struct py_config);
} pid_to_config SEC(".maps");

/*
 * Two count maps: BPF adds to the active one while the daemon drains and
 * clears the other, so no increment races with a delete.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_KEYS);
	__type(key, struct call_key);
	__type(value, __u64);
} call_to_count_0 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_KEYS);
	__type(key, struct call_key);
	__type(value, __u64);
} call_to_count_1 SEC(".maps");

/* index 0: which call_to_count map is active (0 or 1) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} active_counts SEC(".maps");

struct seen_key {
	__u32 pid;
	__u32 type; /* EVENT_CODE or EVENT_TYPE */
	__u64 ptr;
};

/* Code objects and types whose names were sent, with a fingerprint so that
 * an address reused by a new object is sent again. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_SEEN);
	__type(key, struct seen_key);
	__type(value, __u64);
} seen_to_fingerprint SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, EVENTS_BYTES);
} events SEC(".maps");

/*
 * While outcome probes are on, each call waits here from its start to its
 * end. Not an LRU: an entry that finds no room is counted at its start,
 * without an outcome, rather than evicting another call unseen.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_PENDING);
	__type(key, struct frame_key);
	__type(value, struct pending_call);
} frame_to_call SEC(".maps");

/* Calls counted at their end, by shape and outcome; swapped with the call
 * maps by the same active_counts flag. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_KEYS);
	__type(key, struct outcome_key);
	__type(value, __u64);
} outcome_to_count_0 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_KEYS);
	__type(key, struct outcome_key);
	__type(value, __u64);
} outcome_to_count_1 SEC(".maps");

/* The head of a code object, read with one probe_read: every field recapid
 * needs from it lies in the first CODE_HEAD bytes on 3.8-3.13. */
#define CODE_HEAD 176
/* A frame is read with one probe_read too: its head (code, previous,
 * instruction, owner) and the first FAST_ARGS argument slots. Reads from
 * user memory dominate the program's cost, so fewer and bigger is better. */
#define FAST_ARGS 8
#define FRAME_HEAD_MAX 368 /* PyFrameObject up to f_localsplus on 3.8/3.9 */
#define FRAME_BUF (FRAME_HEAD_MAX + 8 * FAST_ARGS)
/* 3.11+ push frames on a per-thread data stack, each right above its
 * caller's: reading from FRAME_BELOW bytes below the frame usually brings in
 * the caller's frame head with the same read. */
#define FRAME_BELOW 256
#define WIDE_BUF (FRAME_BELOW + FRAME_BUF)

/*
 * What a call needs from a code object's head, cached per CPU so that a loop
 * calling the same function from the same caller reads no code head at all
 * (each read of user memory costs about 80 ns). Entries are keyed by the code
 * object and the globals dict of the frame running it: a code object freed
 * and replaced at the same address would also need a new module dict at its
 * predecessor's address to be mistaken for it.
 */
#define CODE_FACT_SLOTS 16
struct code_facts {
	__u64 code;
	__u64 varnames;   /* the parameter-names tuple */
	__u64 first_name; /* its first item */
	__u64 fp;
	__u64 instr_version; /* _co_instrumentation_version when last read (3.12+) */
	__u64 consts;
	__u32 flags;
	__u32 nparams;
	__u32 nlocalsplus;
	__u32 _pad;
};

/* Live dict entries looked at for a dict's first key and value. */
#define DICT_SCAN 4

/* Bytes of an object read to learn its type: up to a tuple's 8th item. */
#define OBJ_HEAD 88

/* Per-call working memory: too big for the BPF stack. */
struct scratch {
	struct sig_event sig;      /* the argument (or value) descriptions, built in place */
	__u8 nnodes[MAX_PARAMS];   /* nodes used per parameter in sig */
	__u64 elems[2][MAX_ELEMS]; /* sampled elements, at depth 1 and 2 */
	/* The first OBJ_HEAD bytes of the value (0) or element (1) being
	 * described, read with its type: a container's size and items or table
	 * pointer come with the same read. head_of says whose they are. */
	__u64 heads[2][OBJ_HEAD / 8];
	__u64 head_of[2];
	__u8 slots[256];           /* dict entries or set slots being scanned */
	__u8 code[CODE_HEAD];
	__u8 wide[WIDE_BUF]; /* the frame, at wide + FRAME_BELOW, and what lies below it */
	__u8 prev[FRAME_HEAD_MAX];
	struct code_facts facts[CODE_FACT_SLOTS]; /* by code address: see code_facts */
	__u64 entries[3 * DICT_SCAN];  /* dict entries being scanned */
	struct call_key key;           /* the call being recorded */
	struct pending_call pending;   /* a new entry of frame_to_call, or a copy of an ended one */
	struct outcome_key outcome;    /* the outcome being counted */
	__u64 caller_func;             /* the caller's function object (3.11+), with s->key.caller */
	__u64 kwmask;                  /* keyword-only parameters with a default, being found */
	__u32 names_lost;              /* a note_* function could not send a name (see names_lost) */
	__u32 busy;                    /* a program run owns this scratch (see own_scratch) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} cpu_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void stat_inc(__u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &i);
	if (v)
		*v += 1; /* per-CPU: no atomics needed */
}

/* Keep the compiler from dropping a bounds check the verifier needs. */
#define OPAQUE(x) asm volatile("" : "+r"(x))

/* Reads of user memory return 0 when the address is not readable: every
 * caller treats 0 as "absent", so a racing or corrupt target cannot make the
 * program misbehave, only lose that one observation. */
static __always_inline __u64 rd64(__u64 addr)
{
	__u64 v = 0;
	bpf_probe_read_user(&v, sizeof(v), (void *)addr);
	return v;
}

static __always_inline __u32 rd32(__u64 addr)
{
	__u32 v = 0;
	bpf_probe_read_user(&v, sizeof(v), (void *)addr);
	return v;
}

static __always_inline __u16 rd16(__u64 addr)
{
	__u16 v = 0;
	bpf_probe_read_user(&v, sizeof(v), (void *)addr);
	return v;
}

static __always_inline __u8 rd8(__u64 addr)
{
	__u8 v = 0;
	bpf_probe_read_user(&v, sizeof(v), (void *)addr);
	return v;
}

/*
 * The type of obj, reading its first OBJ_HEAD bytes into s->heads[level]
 * on the way (one read costs the same for 8 or 88 bytes). Near the end of a
 * mapping only the type is read.
 */
static __always_inline __u64 object_type(struct py_config *cfg, struct scratch *s, __u64 obj, __u32 level)
{
	level &= 1;
	s->head_of[level] = 0;
	if (!obj)
		return 0;
	if (bpf_probe_read_user(s->heads[level], OBJ_HEAD, (void *)obj)) {
		__u64 v = 0;
		bpf_probe_read_user(&v, sizeof(v), (void *)(obj + cfg->ob_type));
		return v;
	}
	s->head_of[level] = obj;
	__u32 o = (__u32)cfg->ob_type / 8;
	return o < OBJ_HEAD / 8 ? s->heads[level][o] : 0;
}

/*
 * From 3.14 a frame's code and function slots and its locals hold
 * _PyStackRefs: an object pointer whose low stackref_tags bits are a tag
 * (CPython v3.14.0 Include/internal/pycore_stackref.h). ref_object clears
 * them; 0 before 3.14, where slots hold plain pointers. A reference with
 * every tag bit set is a small int stored in the reference itself (3.14+
 * Py_INT_TAG), with no object behind it: ref_is_int tells, and its type is
 * int.
 */
static __always_inline __u64 ref_object(struct py_config *cfg, __u64 ref)
{
	return ref & ~(__u64)cfg->stackref_tags;
}

static __always_inline int ref_is_int(struct py_config *cfg, __u64 ref)
{
	__u64 tags = cfg->stackref_tags;
	return tags && (ref & tags) == tags;
}

/* Copy 8-byte words from offset 16 of obj into dst: from the head read with
 * its type when there is one, else from memory. Returns nonzero on failure. */
static __always_inline int object_words(struct scratch *s, __u64 obj, __u32 level, __u64 *dst, __u32 words)
{
	level &= 1;
	if (s->head_of[level] == obj && obj) {
		for (__u32 i = 0; i < 4; i++)
			if (i < words)
				dst[i] = s->heads[level][2 + i];
		return 0;
	}
	return bpf_probe_read_user(dst, words * 8, (void *)(obj + 16));
}

/* Is op one of the up to four opcodes packed into ops (low byte first)? */
static __always_inline int op_in(__u32 ops, __u8 op)
{
	return op && (op == (ops & 0xff) || op == ((ops >> 8) & 0xff) || op == ((ops >> 16) & 0xff) ||
		      op == ((ops >> 24) & 0xff));
}

/*
 * Where a dict keys object's entry table starts, from its 8-byte word at
 * offset 8 (dk_size on 3.8-3.10; dk_log2_size, dk_log2_index_bytes and
 * dk_kind from 3.11): an offset from the keys object, 0 if implausible.
 * *general says whether entries are {hash, key, value} (24 bytes) rather
 * than {key, value} (str-only keys, 3.11+).
 */
static __always_inline __u64 dict_entries_offset(struct py_config *cfg, __u64 word8, __u32 *general)
{
	*general = 1;
	if (cfg->dict_flavor == DICT_KEYS_38) {
		__u64 ix = word8 <= 0xff ? 1 : word8 <= 0xffff ? 2 : word8 <= 0xffffffffULL ? 4 : 8;
		return 40 + word8 * ix;
	}
	if (cfg->dict_flavor != DICT_KEYS_311)
		return 0;
	__u8 log2_index_bytes = (word8 >> 8) & 0xff, kind = (word8 >> 16) & 0xff;
	if (log2_index_bytes > 40)
		return 0;
	*general = !kind;
	return 32 + (1ULL << log2_index_bytes);
}

/* Fields of a code head copied into scratch; off comes from the config and is
 * bounded here for the verifier, as a 64-bit value: clang may spill it before
 * a 32-bit check, and Linux 6.1 carries no 32-bit bound to the spilled copy. */
static __always_inline __u32 head32(__u8 *head, __s32 off)
{
	__u64 o = (__u32)off;
	OPAQUE(o);
	if (o > CODE_HEAD - 4)
		return 0;
	return *(__u32 *)(head + o);
}

static __always_inline __u64 head64(__u8 *head, __s32 off)
{
	__u64 o = (__u32)off;
	OPAQUE(o);
	if (o > CODE_HEAD - 8)
		return 0;
	return *(__u64 *)(head + o);
}

/* Fields of a copied frame: cap is the buffer's capacity (a constant, for
 * the verifier), size the bytes actually copied. */
static __always_inline __u64 buf64(__u8 *buf, __u32 cap, __u32 size, __s32 off)
{
	__u32 o = (__u32)off;
	if (o > cap - 8 || o + 8 > size)
		return 0;
	return *(__u64 *)(buf + o);
}

static __always_inline __u8 buf8(__u8 *buf, __u32 cap, __u32 size, __s32 off)
{
	__u32 o = (__u32)off;
	if (o > cap - 1 || o + 1 > size)
		return 0;
	return buf[o];
}

/* Copy size bytes of user memory at addr into buf (size is bounded for the
 * verifier here, right at the call: a bound the compiler proved earlier may
 * sit on a 32-bit stack slot in between, which Linux 6.1 forgets). */
static __always_inline int read_into(__u8 *buf, __u32 size, __u64 addr)
{
	OPAQUE(size);
	if (size > FRAME_BUF)
		return -1;
	return bpf_probe_read_user(buf, size, (void *)addr);
}

/*
 * A code object's fingerprint: its filename, name and constants objects,
 * first line, parameter counts and its first parameter's name (first_name, 0
 * for none).
 * Code objects are freed (module bodies right after import, exec'd code) and
 * their addresses reused; the fingerprint keeps counts of the old and the new
 * object apart. Generated code shares file, name and line: every dataclass's
 * __init__ is made by a `__create_fn__` exec'd from "<string>", line 1, each
 * with parameters of its own, and the next one is often allocated where the
 * last one was freed, its parameter-names tuple too. The daemon computes the
 * same from process memory (memCodeFP in tracer/codes.go); a privileged test
 * of the tracer checks the two against each other on every interpreter.
 */
static __always_inline __u64 code_fp(struct py_config *cfg, __u8 *head, __u64 first_name)
{
	__u64 params = head32(head, cfg->co_argcount) ^ ((__u64)head32(head, cfg->co_kwonlyargcount) << 8) ^
		       ((__u64)head32(head, cfg->co_nlocals) << 16);
	return head64(head, cfg->co_filename) ^ (head64(head, cfg->co_name) << 1) ^ (first_name >> 3) ^
	       (head64(head, cfg->co_consts) << 2) ^ ((__u64)head32(head, cfg->co_firstlineno) << 48) ^ (params << 24);
}

/* The first item of the parameter-names tuple at names, 0 if it is empty. */
static __always_inline __u64 first_name(struct py_config *cfg, __u64 names)
{
	if (!names || !rd64(names + cfg->ob_size))
		return 0;
	return rd64(names + cfg->tuple_items);
}

/* How many parameters a code object has: positional and keyword-only ones,
 * *args and **kwargs (as cpython.CodeInfo.NParams counts them). */
static __always_inline __u32 code_nparams(__u32 argcount, __u32 kwonlyargcount, __u32 flags)
{
	return argcount + kwonlyargcount + !!(flags & CO_VARARGS) + !!(flags & CO_VARKEYWORDS);
}

/*
 * Copy a str object into dst. Only compact ASCII strings (state bits 5 and 6)
 * are copied here; anything else, or a string longer than dst, returns 1 so
 * userspace re-reads it whole from /proc/PID/mem.
 */
static __always_inline int read_pystr(struct py_config *cfg, __u64 obj, char *dst, __u32 size)
{
	if (!obj)
		return 1;
	__u32 state = rd32(obj + cfg->str_state);
	if (!(state & (1 << 5)) || !(state & (1 << 6)))
		return 1;
	__u64 len = rd64(obj + cfg->str_length);
	if (bpf_probe_read_user_str(dst, size, (void *)(obj + cfg->ascii_size)) < 0)
		return 1;
	return len >= size;
}

/* ---- first-sight events (global functions: verified once, called rarely) ---- */

static __always_inline int already_sent(__u32 pid, __u32 type, __u64 ptr, __u64 fp)
{
	struct seen_key k = {.pid = pid, .type = type, .ptr = ptr};
	__u64 *old = bpf_map_lookup_elem(&seen_to_fingerprint, &k);
	return old && *old == fp;
}

static __always_inline void mark_sent(__u32 pid, __u32 type, __u64 ptr, __u64 fp)
{
	struct seen_key k = {.pid = pid, .type = type, .ptr = ptr};
	bpf_map_update_elem(&seen_to_fingerprint, &k, &fp, BPF_ANY);
}

#define KWDEFAULTS_UNKNOWN (1ULL << 63)
#define KWDEFAULTS_SCAN 8

/* Is name among the keys of the n dict entries (words words each, the key
 * at word koff) in the scratch's slots? A global function: verified once,
 * not once per keyword-only parameter. */
__attribute__((noinline)) int among_keys(__u64 name, __u32 n, __u32 words_koff /* words << 8 | koff */)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&cpu_scratch, &zero);
	if (!s || !name)
		return 0;
	__u64 words = words_koff >> 8, koff = words_koff & 0xff;
	__u64 *w = (__u64 *)s->slots;
	for (__u32 e = 0; e < KWDEFAULTS_SCAN; e++) {
		if (e >= n)
			break;
		__u64 at = e * words + koff;
		OPAQUE(at);
		if (at >= KWDEFAULTS_SCAN * 3)
			break;
		if (w[at] == name)
			return 1;
	}
	return 0;
}

/*
 * Which keyword-only parameters have a default: bit j for parameter first+j
 * of co_varnames (names), when its name is a key of the function's
 * __kwdefaults__ dict kwd. Parameter names and the dict's keys are the same
 * interned str objects, so pointers are compared. KWDEFAULTS_UNKNOWN when
 * the dict is not a small combined table. Read at first sight, while the
 * frame runs: the function may be gone by the time the daemon could read it.
 */
__attribute__((noinline)) __u64 kwdefaults_mask(struct py_config *cfg, __u64 kwd, __u64 names, __u32 first,
						__u32 nkwonly)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&cpu_scratch, &zero);
	if (!cfg || !s)
		return KWDEFAULTS_UNKNOWN;
	__u64 keys = rd64(kwd + cfg->dict_keys);
	if (!keys || (cfg->dict_values >= 0 && rd64(kwd + cfg->dict_values)))
		return KWDEFAULTS_UNKNOWN;
	__u32 general;
	__u64 off = dict_entries_offset(cfg, rd64(keys + 8), &general);
	__u64 n = rd64(keys + (cfg->dict_flavor == DICT_KEYS_38 ? 32 : 24));
	if (!off || n > KWDEFAULTS_SCAN || nkwonly > MAX_KWONLY)
		return KWDEFAULTS_UNKNOWN;
	__u64 words = general ? 3 : 2, koff = general ? 1 : 0;
	__u64 size = n * words * 8;
	OPAQUE(size);
	if (size > KWDEFAULTS_SCAN * 24)
		return KWDEFAULTS_UNKNOWN;
	__u64 *w = (__u64 *)s->slots;
	if (size && bpf_probe_read_user(w, size, (void *)(keys + off)))
		return KWDEFAULTS_UNKNOWN;
	/* The mask is built in the scratch, not in a register: a register
	 * would hold a different known value on each of 2^16 paths, and Linux
	 * 6.1's verifier would walk them all. */
	s->kwmask = 0;
	for (__u32 j = 0; j < MAX_KWONLY; j++) {
		if (j >= nkwonly)
			break;
		if (among_keys(rd64(names + cfg->tuple_items + 8 * (__u64)(first + j)), n, words << 8 | koff))
			s->kwmask |= 1ULL << j;
	}
	return s->kwmask;
}

/* The note_* functions send a name at first sight. One that could not be
 * sent (the ring buffer was full) sets the scratch's names_lost, for the
 * caller to mark the key that needed it (enum count_bits). A flag in map
 * memory, not a return value: the verifier tracks a returned value through
 * note_sig's loops and walked them three times as often. */
static __always_inline void names_lost(void)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&cpu_scratch, &zero);
	if (s)
		s->names_lost = 1;
}

__attribute__((noinline)) int note_code(__u32 pid, __u64 code, __u64 fp, __u64 funcobj)
{
	struct py_config *cfg = bpf_map_lookup_elem(&pid_to_config, &pid);
	if (!cfg || !code)
		return 0;
	if (already_sent(pid, EVENT_CODE, code, fp))
		return 0;

	struct code_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		stat_inc(STAT_EVENTS_LOST);
		names_lost();
		return 0;
	}
	ev->hdr.type = EVENT_CODE;
	ev->hdr.pid = pid;
	ev->hdr.ptr = code;
	ev->hdr.fp = fp;
	ev->funcobj = funcobj;
	__u64 filename = rd64(code + cfg->co_filename);
	__u64 name = rd64(code + cfg->co_name);
	ev->firstlineno = rd32(code + cfg->co_firstlineno);
	ev->argcount = rd32(code + cfg->co_argcount);
	ev->posonlyargcount = rd32(code + cfg->co_posonlyargcount);
	ev->kwonlyargcount = rd32(code + cfg->co_kwonlyargcount);
	ev->flags = rd32(code + cfg->co_flags);
	__u32 n = code_nparams(ev->argcount, ev->kwonlyargcount, ev->flags);
	ev->nparams = n;
	__u32 sf = 0;
	ev->filename[0] = 0;
	ev->name[0] = 0;
	ev->qualname[0] = 0;
	if (read_pystr(cfg, filename, ev->filename, sizeof(ev->filename)))
		sf |= STR_FILENAME;
	if (read_pystr(cfg, name, ev->name, sizeof(ev->name)))
		sf |= STR_NAME;
	if (cfg->co_qualname >= 0 &&
	    read_pystr(cfg, rd64(code + cfg->co_qualname), ev->qualname, sizeof(ev->qualname)))
		sf |= STR_QUALNAME;
	__u64 names = rd64(code + cfg->co_varnames);
	for (__u32 i = 0; i < MAX_PARAMS; i++) {
		if (i >= n)
			break;
		ev->params[i][0] = 0;
		if (read_pystr(cfg, rd64(names + cfg->tuple_items + 8 * i), ev->params[i], PARAM_NAME_LEN))
			sf |= STR_PARAMS;
	}
	ev->str_flags = sf;
	ev->ndefaults = DEFAULTS_UNKNOWN;
	ev->kwdefaults = 0;
	if (funcobj && cfg->fn_code >= 0 && rd64(funcobj + cfg->fn_code) == code) {
		__u64 defs = rd64(funcobj + cfg->fn_defaults);
		__u64 kwd = rd64(funcobj + cfg->fn_kwdefaults);
		__u64 mask = kwd ? kwdefaults_mask(cfg, kwd, names, ev->argcount, ev->kwonlyargcount) : 0;
		if (!(mask & KWDEFAULTS_UNKNOWN)) {
			ev->ndefaults = defs ? (__u32)rd64(defs + cfg->ob_size) : 0;
			ev->kwdefaults = mask;
		}
	}
	bpf_ringbuf_submit(ev, 0);
	mark_sent(pid, EVENT_CODE, code, fp);
	return 0;
}

/*
 * Entries of a class dict searched for __module__. A class body stores it
 * first, but type(name, bases, ns) appends it after the entries of ns, and
 * collections.namedtuple (typing.NamedTuple too) builds its class that way:
 * its __module__ is the 13th to 15th entry plus one per field.
 */
#define MODULE_KEY_SCAN 64
#define MODULE_KEY_CHUNK 8 /* entries per read; 8 of 24 bytes fit in s->slots */

/* Is obj the str "__module__"? Compact ASCII, ten characters. Most keys fail
 * on their length, at the cost of one read. A global function: verified
 * once, not once per entry of the scan. */
__attribute__((noinline)) int is_module_key(struct py_config *cfg, __u64 obj)
{
	if (!cfg || rd64(obj + cfg->str_length) != 10)
		return 0;
	__u32 state = rd32(obj + cfg->str_state);
	if (!(state & (1 << 5)) || !(state & (1 << 6)))
		return 0;
	__u64 w = rd64(obj + cfg->ascii_size);
	__u16 t = rd16(obj + cfg->ascii_size + 8);
	return w == 0x656c75646f6d5f5fULL /* "__module" */ && t == 0x5f5f /* "__" */;
}

/*
 * The value of the "__module__" key among count dict entries of words words
 * each, the key at word koff, at addr in the process: read with one read into
 * s->slots (free while types are named). A global function: verified once,
 * not once per chunk of the scan (Linux 6.1's verifier took 85,000 more
 * instructions for the unrolled scan of 64 entries).
 */
__attribute__((noinline)) __u64 module_in_chunk(struct py_config *cfg, struct scratch *s, __u64 addr, __u32 count,
						__u32 words_koff /* words << 8 | koff: five arguments */)
{
	if (!cfg || !s)
		return 0;
	__u32 words = words_koff >> 8, koff = words_koff & 0xff;
	/* 64-bit, checked at the call: Linux 6.1 cannot bound a 32-bit
	 * product compared in 32 bits */
	__u64 size = (__u64)count * words * 8;
	OPAQUE(size);
	if (size > MODULE_KEY_CHUNK * 24 || size == 0)
		return 0;
	__u64 *w = (__u64 *)s->slots;
	if (bpf_probe_read_user(w, size, (void *)addr))
		return 0;
	for (__u32 j = 0; j < MODULE_KEY_CHUNK; j++) {
		if (j >= count)
			break;
		__u64 at = (__u64)j * words + koff;
		OPAQUE(at); /* bound at itself: Linux 6.1 does not carry a bound from at + 1 back to at */
		if (at >= MODULE_KEY_CHUNK * 3 - 1)
			break;
		__u64 key = w[at];
		if (key && is_module_key(cfg, key))
			return w[at + 1];
	}
	return 0;
}

/*
 * The __module__ entry of a heap type's dict: among the first
 * MODULE_KEY_SCAN entries of its entry table, MODULE_KEY_CHUNK at a time.
 */
static __always_inline __u64 type_module(struct py_config *cfg, struct scratch *s, __u64 tp)
{
	__u64 dict = rd64(tp + cfg->tp_dict);
	if (!dict)
		return 0;
	__u64 keys = rd64(dict + cfg->dict_keys);
	if (!keys)
		return 0;
	__u32 general;
	__u64 off = dict_entries_offset(cfg, rd64(keys + 8), &general);
	if (!off)
		return 0;
	__u64 entries = keys + off;
	__u64 nentries = rd64(keys + (cfg->dict_flavor == DICT_KEYS_38 ? 32 : 24));
	/* entries: {hash, key, value} (general) or {key, value} (str keys, 3.11+) */
	__u32 words = general ? 3 : 2, koff = general ? 1 : 0;
	for (__u32 i = 0; i < MODULE_KEY_SCAN; i += MODULE_KEY_CHUNK) {
		if (i >= nentries)
			break;
		__u64 left = nentries - i;
		__u32 count = left < MODULE_KEY_CHUNK ? (__u32)left : MODULE_KEY_CHUNK;
		__u64 v = module_in_chunk(cfg, s, entries + (__u64)i * words * 8, count, words << 8 | koff);
		if (v)
			return v;
	}
	return 0;
}

__attribute__((noinline)) int note_type(__u32 pid, __u64 tp)
{
	struct py_config *cfg = bpf_map_lookup_elem(&pid_to_config, &pid);
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&cpu_scratch, &zero);
	if (!cfg || !s || !tp)
		return 0;
	__u64 tp_name = rd64(tp + cfg->tp_name);
	__u64 tp_flags = rd64(tp + cfg->tp_flags);
	__u64 fp = tp_name ^ (tp_flags << 1);
	if (already_sent(pid, EVENT_TYPE, tp, fp))
		return 0;

	struct type_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		stat_inc(STAT_EVENTS_LOST);
		s->names_lost = 1;
		return 0;
	}
	ev->hdr.type = EVENT_TYPE;
	ev->hdr.pid = pid;
	ev->hdr.ptr = tp;
	ev->hdr.fp = 0;
	ev->tp_flags = tp_flags;
	ev->_pad = 0;
	__u32 sf = 0;
	ev->tp_name[0] = 0;
	ev->qualname[0] = 0;
	ev->module[0] = 0;
	long n = bpf_probe_read_user_str(ev->tp_name, sizeof(ev->tp_name), (void *)tp_name);
	if (n < 0 || n >= (long)sizeof(ev->tp_name))
		sf |= STR_TP_NAME;
	if (tp_flags & Py_TPFLAGS_HEAPTYPE) { /* the short tp_name is not enough */
		if (read_pystr(cfg, rd64(tp + cfg->ht_qualname), ev->qualname, sizeof(ev->qualname)))
			sf |= STR_QUALNAME;
		if (read_pystr(cfg, type_module(cfg, s, tp), ev->module, sizeof(ev->module)))
			sf |= STR_MODULE;
	}
	ev->str_flags = sf;
	bpf_ringbuf_submit(ev, 0);
	mark_sent(pid, EVENT_TYPE, tp, fp);
	return 0;
}

/* Send the descriptions of nparams values built in s->sig (EVENT_SIG for
 * arguments, EVENT_VALUE for a returned or yielded value), naming every type
 * they mention that was not named yet. */
__attribute__((noinline)) int note_sig(__u32 pid, __u64 sig, __u32 nparams, __u32 type)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&cpu_scratch, &zero);
	if (!s || nparams > MAX_PARAMS)
		return 0;
	for (__u32 i = 0; i < MAX_PARAMS; i++) {
		if (i >= nparams)
			break;
		__u32 used = s->nnodes[i];
		for (__u32 j = 0; j < NODES_PER_VALUE; j++) {
			if (j >= used)
				break;
			__u32 at = i * NODES_PER_VALUE + j;
			if (at >= MAX_NODES)
				break;
			__u64 t = s->sig.nodes[at];
			if (t > 0xfff)
				note_type(pid, t);
		}
	}
	s->sig.hdr.type = type;
	s->sig.hdr.pid = pid;
	s->sig.hdr.ptr = sig;
	s->sig.hdr.fp = 0;
	s->sig.nparams = nparams;
	s->sig._pad = 0;
	__u64 size = sizeof(s->sig) - sizeof(s->sig.nodes) + (__u64)nparams * NODES_PER_VALUE * 8;
	OPAQUE(size); /* keep the check: Linux 6.1 cannot bound the computed size itself */
	if (size > sizeof(s->sig))
		return 0;
	if (bpf_ringbuf_output(&events, &s->sig, size, 0)) {
		stat_inc(STAT_EVENTS_LOST);
		s->names_lost = 1;
	}
	return 0;
}

/* ---- element types of containers ---- */

static __always_inline int container_kind(struct py_config *cfg, __u64 tp)
{
	if (!tp)
		return -1;
	for (int i = 0; i < CT_COUNT; i++)
		if (tp == cfg->container_types[i])
			return i;
	return -1;
}

/*
 * Sampling the elements of a container: up to MAX_ELEMS element pointers go
 * to s->elems[level], and the result is the header node << 8 | how many.
 * list, set, frozenset: the first element (sets: the first live slot, the one
 * iteration yields first); dict: the first live entry's key and value; tuple:
 * every item when it has at most MAX_ELEMS, else the first. One global
 * function per layout keeps each verification small.
 */
#define SAMPLED(hdr, n) (((__u64)(hdr) << 8) | (n))

__attribute__((noinline)) __u64 sample_sequence(struct py_config *cfg, struct scratch *s, __u64 obj, __u32 is_tuple,
						   __u32 level)
{
	if (!cfg || !s)
		return SAMPLED(NODE_UNEXPANDED, 0);
	__u64 *out = s->elems[level & 1];
	__u64 head[2] = {}; /* ob_size, and a list's ob_item */
	if (object_words(s, obj, level, head, 2))
		return SAMPLED(NODE_UNEXPANDED, 0);
	__s64 size = (__s64)head[0];
	if (size <= 0)
		return SAMPLED(NODE_HDR, 0);
	if (!is_tuple) {
		out[0] = rd64(head[1]);
		return SAMPLED(NODE_HDR | 1, 1);
	}
	if (size > MAX_ELEMS) {
		out[0] = rd64(obj + cfg->tuple_items);
		return SAMPLED(NODE_LONG_TUPLE, 1);
	}
	__u32 n = (__u32)size;
	OPAQUE(n);
	if (n > MAX_ELEMS || n == 0)
		return SAMPLED(NODE_UNEXPANDED, 0);
	if (s->head_of[level & 1] == obj && cfg->tuple_items == 24) {
		/* the items came with the type read */
		for (__u32 i = 0; i < MAX_ELEMS; i++)
			if (i < n)
				out[i] = s->heads[level & 1][3 + i];
		return SAMPLED(NODE_HDR | n, n);
	}
	if (bpf_probe_read_user(out, n * 8, (void *)(obj + cfg->tuple_items)))
		return SAMPLED(NODE_UNEXPANDED, 0);
	return SAMPLED(NODE_HDR | n, n);
}

#define DICT_KEYS_READ 144 /* 3.8-3.10 header (40) + 8 index bytes + 4 entries of 24 */

__attribute__((noinline)) __u64 sample_dict(struct py_config *cfg, struct scratch *s, __u64 obj, __u32 level)
{
	if (!cfg || !s)
		return SAMPLED(NODE_UNEXPANDED, 0);
	__u64 *out = s->elems[level & 1];
	__u64 head[4] = {}; /* ma_used, ma_version_tag, ma_keys, ma_values */
	if (object_words(s, obj, level, head, 4))
		return SAMPLED(NODE_UNEXPANDED, 0);
	if ((__s64)head[0] <= 0)
		return SAMPLED(NODE_HDR, 0);
	__u64 keys = head[2];
	if (head[3] || !keys)
		return SAMPLED(NODE_UNEXPANDED, 0); /* split table: its values are ordered elsewhere */
	/* One read brings the keys header, a small dict's index table (8
	 * bytes) and its first entries; bigger tables take a second read. */
	__u64 *kb = (__u64 *)s->slots;
	if (bpf_probe_read_user(kb, DICT_KEYS_READ, (void *)keys))
		return SAMPLED(NODE_UNEXPANDED, 0);
	__u32 general;
	__u64 off = dict_entries_offset(cfg, kb[1], &general);
	if (!off)
		return SAMPLED(NODE_UNEXPANDED, 0);
	/* entries: {hash, key, value} (general) or {key, value} (str keys, 3.11+) */
	__u64 *e = s->entries;
	__u32 esz = general ? 24 * DICT_SCAN : 16 * DICT_SCAN;
	if (off + esz <= DICT_KEYS_READ && off % 8 == 0) {
		for (__u32 i = 0; i < 3 * DICT_SCAN; i++) {
			__u32 w = (__u32)(off / 8) + i;
			e[i] = i < esz / 8 && w < DICT_KEYS_READ / 8 ? kb[w] : 0;
		}
	} else if (bpf_probe_read_user(e, esz, (void *)(keys + off))) {
		return SAMPLED(NODE_UNEXPANDED, 0);
	}
	for (__u32 i = 0; i < DICT_SCAN; i++) {
		__u64 k = general ? e[3 * i + 1] : e[2 * i];
		__u64 v = general ? e[3 * i + 2] : e[2 * i + 1];
		if (k && v) {
			out[0] = k;
			out[1] = v;
			return SAMPLED(NODE_HDR | 2, 2);
		}
	}
	return SAMPLED(NODE_UNEXPANDED, 0);
}

#define SET_SCAN 16

__attribute__((noinline)) __u64 sample_set(struct scratch *s, __u64 obj, __u32 level)
{
	if (!s)
		return SAMPLED(NODE_UNEXPANDED, 0);
	__u64 *out = s->elems[level & 1];
	__u64 head[4] = {}; /* fill, used, mask, table */
	if (object_words(s, obj, level, head, 4))
		return SAMPLED(NODE_UNEXPANDED, 0);
	if ((__s64)head[1] <= 0)
		return SAMPLED(NODE_HDR, 0);
	__u32 nslots = head[2] + 1 < SET_SCAN ? (__u32)head[2] + 1 : SET_SCAN;
	OPAQUE(nslots);
	if (nslots > SET_SCAN || nslots == 0)
		return SAMPLED(NODE_UNEXPANDED, 0);
	/* slots are {key, hash}; hash -1 marks a deleted one (the dummy key) */
	if (bpf_probe_read_user(s->slots, nslots * 16, (void *)head[3]))
		return SAMPLED(NODE_UNEXPANDED, 0);
	__u64 *slot = (__u64 *)s->slots;
	for (__u32 i = 0; i < SET_SCAN; i++) {
		if (i >= nslots)
			break;
		__u64 k = slot[2 * i], h = slot[2 * i + 1];
		if (k && h != (__u64)-1) {
			out[0] = k;
			return SAMPLED(NODE_HDR | 1, 1);
		}
	}
	return SAMPLED(NODE_UNEXPANDED, 0);
}

static __always_inline __u64 sample_elements(struct py_config *cfg, struct scratch *s, __u64 obj, int kind,
					     __u32 level)
{
	if (kind == CT_LIST || kind == CT_TUPLE)
		return sample_sequence(cfg, s, obj, kind == CT_TUPLE, level);
	if (kind == CT_DICT)
		return sample_dict(cfg, s, obj, level);
	return sample_set(s, obj, level);
}

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static __always_inline void put_node(struct scratch *s, __u32 base, __u32 at, __u64 v)
{
	__u32 pos = base + at;
	OPAQUE(pos);
	if (at < NODES_PER_VALUE && pos < MAX_NODES)
		s->sig.nodes[pos] = v;
}

/*
 * Put the header and element types of a container found at depth 1 into the
 * nodes of the value at base, from position at; returns the next position.
 */
__attribute__((noinline)) __u32 describe_child(struct py_config *cfg, struct scratch *s, __u64 child, __u32 kind,
						 __u32 base_at /* base << 8 | at: BPF calls take five arguments */)
{
	__u32 base = base_at >> 8, at = base_at & 0xff;
	if (!cfg || !s)
		return at;
	__u64 r = sample_elements(cfg, s, child, kind, 1);
	put_node(s, base, at++, r >> 8);
	__u32 m = r & 0xff;
	for (__u32 j = 0; j < MAX_ELEMS; j++) {
		if (j >= m)
			break;
		__u64 g = s->elems[1][j];
		put_node(s, base, at++, g ? rd64(g + cfg->ob_type) : 0);
	}
	return at;
}

/*
 * Describe a container value into s->sig.nodes for parameter slot idx, and
 * return the description's hash (odd, so it never equals a type pointer).
 * A global function: verified once, called only for container values.
 */
__attribute__((noinline)) __u64 describe(struct py_config *cfg, struct scratch *s, __u64 obj, __u64 tp, __u32 idx)
{
	if (!cfg || !s || idx >= MAX_PARAMS)
		return 0;
	int kind = container_kind(cfg, tp);
	__u32 base = idx * NODES_PER_VALUE;
	__u32 at = 0;
	put_node(s, base, at++, tp);
	if (kind >= 0) {
		__u64 r = sample_elements(cfg, s, obj, kind, 0);
		put_node(s, base, at++, r >> 8);
		__u32 n = r & 0xff;
		for (__u32 i = 0; i < MAX_ELEMS; i++) {
			if (i >= n)
				break;
			__u64 child = s->elems[0][i];
			__u64 ctp = object_type(cfg, s, child, 1);
			put_node(s, base, at++, ctp);
			int ck = container_kind(cfg, ctp);
			if (ck >= 0 && kind != CT_TUPLE)
				at = describe_child(cfg, s, child, ck, base << 8 | (at & 0xff));
		}
	}
	if (at > NODES_PER_VALUE)
		at = NODES_PER_VALUE;
	__u64 h = FNV_OFFSET;
	for (__u32 j = 0; j < NODES_PER_VALUE; j++) {
		__u32 pos = base + j;
		OPAQUE(pos);
		if (j >= at || pos >= MAX_NODES)
			break;
		h = (h ^ s->sig.nodes[pos]) * FNV_PRIME;
	}
	s->nnodes[idx] = at;
	return h | 1;
}

/* The hash of one value's description, with the description in s->sig at
 * slot idx: a plain type is its own pointer. */
static __always_inline __u64 value_hash(struct py_config *cfg, struct scratch *s, __u64 obj, __u64 tp, __u32 idx)
{
	if (container_kind(cfg, tp) >= 0 && obj)
		return describe(cfg, s, obj, tp, idx);
	__u32 at = idx * NODES_PER_VALUE;
	OPAQUE(at);
	if (at < MAX_NODES)
		s->sig.nodes[at] = tp;
	if (idx < MAX_PARAMS)
		s->nnodes[idx] = 1;
	return tp;
}

/* ---- the per-call path ---- */

/*
 * The facts of a code object, read from its head at every call. (A cache
 * keyed by address and globals hit on a code object freed and another made
 * at its address: a second dataclass's __create_fn__, the next doctest
 * example. Checking a hit took as long as reading the head.) Each code
 * object gets a slot of s->facts by its address, so that the callee's facts
 * usually survive the caller's read.
 */
static __always_inline struct code_facts *code_facts(struct py_config *cfg, struct scratch *s, __u64 code)
{
	__u32 slot = (code >> 4) & (CODE_FACT_SLOTS - 1);
	struct code_facts *f = &s->facts[slot];
	if (bpf_probe_read_user(s->code, CODE_HEAD, (void *)code))
		return 0;
	f->code = code;
	f->varnames = head64(s->code, cfg->co_varnames);
	f->first_name = first_name(cfg, f->varnames);
	f->fp = code_fp(cfg, s->code, f->first_name);
	f->flags = head32(s->code, cfg->co_flags);
	f->nparams = code_nparams(head32(s->code, cfg->co_argcount), head32(s->code, cfg->co_kwonlyargcount), f->flags);
	f->instr_version = cfg->co_instr_version >= 0 ? head64(s->code, cfg->co_instr_version) : 0;
	f->consts = head64(s->code, cfg->co_consts);
	f->nlocalsplus = cfg->co_nlocalsplus >= 0 ? head32(s->code, cfg->co_nlocalsplus) : 0;
	return f;
}

/*
 * Will this RESUME run again? On 3.12+, a RESUME-family instruction whose
 * code object is instrumented for an older monitoring version (a profiler,
 * tracer or coverage tool changed monitoring) instruments the code and
 * dispatches the same instruction again (CPython v3.12.1 and v3.13.0
 * Python/bytecodes.c RESUME, INSTRUMENTED_RESUME; RESUME_CHECK deopts to
 * RESUME): only that second run is the call. The code's version is kept in
 * the code-facts cache and read again only when it differs from the global one.
 */
static __always_inline int resume_runs_again(struct py_config *cfg, struct code_facts *f, __u64 code)
{
	if (cfg->co_instr_version < 0)
		return 0;
	__u64 interp = cfg->interp;
	if (!interp) {
		interp = rd64(cfg->interp_head);
		if (!interp)
			return 0; /* not initialized yet: no Python code has run */
		cfg->interp = interp;
	}
	__u64 global = rd64(interp + cfg->interp_instr_version);
	if (global == f->instr_version)
		return 0;
	__u64 v = rd64(code + cfg->co_instr_version);
	if (v == global) {
		f->instr_version = v;
		return 0;
	}
	return 1;
}

#define CO_RESUMABLE (CO_GENERATOR | CO_COROUTINE | CO_ITERABLE_COROUTINE | CO_ASYNC_GENERATOR)

/*
 * Is this a fresh start or a generator/coroutine resumption? Code that is not
 * resumable only ever starts, so only resumable code pays for the check.
 * 3.8-3.10: f_lasti is -1 until the frame has run.
 * 3.11+: the RESUME oparg's low two bits are 0 for a start. The frame's
 * instruction pointer points at the RESUME itself (after the handler's store,
 * or 3.13 fresh frames) or one code unit before it (3.11/3.12 handler entry,
 * or after a MAKE_CELL/COPY_FREE_VARS prefix), so both places are tried.
 */
static __always_inline __u8 call_kind(struct py_config *cfg, __u8 *frame, __u32 flags)
{
	if (!(flags & CO_RESUMABLE))
		return CALL_START;
	if (cfg->flags & CFG_OLD_FRAMES) {
		__u32 o = (__u32)cfg->fr_lasti;
		if (o > FRAME_BUF - 4)
			return CALL_START;
		return *(__s32 *)(frame + o) == -1 ? CALL_START : CALL_RESUME;
	}
	__u64 p = buf64(frame, FRAME_BUF, FRAME_BUF, cfg->fr_instr);
	__u16 w = rd16(p);
	if (!op_in(cfg->resume_ops, w & 0xff)) {
		w = rd16(p + 2);
		if (!op_in(cfg->resume_ops, w & 0xff)) {
			stat_inc(STAT_INSTR_UNKNOWN);
			return CALL_START;
		}
	}
	return ((w >> 8) & 3) ? CALL_RESUME : CALL_START;
}

/* A field of the caller's frame head: in the wide buffer at base (first
 * hop, when the read of the callee's frame brought it in), else in prev. */
static __always_inline __u64 link64(struct scratch *s, int in_wide, __u32 base, __u32 size, __s32 off)
{
	if (in_wide)
		return buf64(s->wide, WIDE_BUF, WIDE_BUF, (__s32)(base + (__u32)off));
	return buf64(s->prev, FRAME_HEAD_MAX, size, off);
}

static __always_inline __u8 link8(struct scratch *s, int in_wide, __u32 base, __u32 size, __s32 off)
{
	if (in_wide)
		return buf8(s->wide, WIDE_BUF, WIDE_BUF, (__s32)(base + (__u32)off));
	return buf8(s->prev, FRAME_HEAD_MAX, size, off);
}

/*
 * Find the nearest Python caller of the frame at frame, whose previous frame
 * is prev: its code object, fingerprint and function object go to s->key and
 * s->caller_func (zero when there is none). Frames that are not Python
 * callers are skipped: the shim frames C code pushes when it calls into the
 * interpreter (3.12+, owner first_shim_owner or above) and interpreter-internal
 * code such as 3.13's _Py_InitCleanup, which CALL_ALLOC_AND_ENTER_INIT puts
 * between a class call and its __init__ (marked CO_NO_MONITORING_EVENTS).
 * A global function: its loop is verified once, and its locals stay off the
 * stack of the argument path.
 */
__attribute__((noinline)) int find_caller(struct py_config *cfg, struct scratch *s, __u64 frame, __u32 below,
					   __u64 prev)
{
	if (!cfg || !s)
		return 0;
	s->key.caller = 0;
	s->key.caller_fp = 0;
	s->caller_func = 0;
	__u32 fh = cfg->frame_head;
	if (fh > FRAME_HEAD_MAX)
		fh = FRAME_HEAD_MAX;
	for (int i = 0; i < MAX_CALLER_HOPS; i++) {
		if (!prev)
			return 0;
		int in_wide = 0;
		__u32 base = 0;
		if (i == 0 && below && prev < frame && frame - prev >= 8 && frame - prev <= below) {
			in_wide = 1;
			base = below - (__u32)(frame - prev);
		} else if (read_into(s->prev, fh, prev)) {
			return 0;
		}
		__u64 next = link64(s, in_wide, base, fh, cfg->fr_previous);
		if (cfg->fr_owner >= 0 && cfg->first_shim_owner >= 0 &&
		    link8(s, in_wide, base, fh, cfg->fr_owner) >= (__u8)cfg->first_shim_owner) {
			prev = next;
			continue;
		}
		__u64 code = ref_object(cfg, link64(s, in_wide, base, fh, cfg->fr_code));
		if (!code)
			return 0;
		struct code_facts *f = code_facts(cfg, s, code);
		if (!f)
			return 0;
		if (f->flags & cfg->co_internal_flags) {
			prev = next;
			continue;
		}
		s->key.caller = code;
		s->key.caller_fp = f->fp;
		s->caller_func = cfg->fr_funcobj >= 0 ? ref_object(cfg, link64(s, in_wide, base, fh, cfg->fr_funcobj)) : 0;
		return 0;
	}
	return 0;
}

/*
 * 3.8-3.10: an argument captured by an inner function was moved into a cell
 * before the frame started, and its own slot cleared. co_cell2arg maps cell
 * index to argument index; cells follow the co_nlocals locals in f_localsplus.
 */
static __always_inline __u64 old_cell_arg(struct py_config *cfg, __u64 frame, __u64 code, __u32 arg)
{
	__u64 cell2arg = rd64(code + cfg->co_cell2arg);
	if (!cell2arg)
		return 0;
	__u64 ncells = rd64(rd64(code + cfg->co_cellvars) + cfg->ob_size);
	__u32 nlocals = rd32(code + cfg->co_nlocals);
	for (__u32 j = 0; j < MAX_CELLS; j++) {
		if (j >= ncells)
			break;
		if (rd64(cell2arg + 8 * j) == arg) {
			__u64 cell = rd64(frame + cfg->fr_localsplus + 8 * (__u64)(nlocals + j));
			return cell ? rd64(cell + cfg->cell_ref) : 0;
		}
	}
	return 0;
}

#define COUNT_UNNAMED (1ULL << COUNT_UNNAMED_SHIFT)

/* What count_in found: a key seen before whose names all went (COUNT_SEEN),
 * a new key (COUNT_NEW) or one whose names must be sent again
 * (COUNT_RESEND): both send the key's names. */
enum count_state {
	COUNT_FULL = -1,
	COUNT_SEEN = 0,
	COUNT_NEW = 1,
	COUNT_RESEND = 2,
};

static __always_inline int count_in(void *map, void *k)
{
	__u64 *v = bpf_map_lookup_elem(map, k);
	if (v) {
		__sync_fetch_and_add(v, 1);
		return (*v & COUNT_UNNAMED) ? COUNT_RESEND : COUNT_SEEN;
	}
	__u64 one = 1;
	if (bpf_map_update_elem(map, k, &one, BPF_NOEXIST) == 0)
		return COUNT_NEW;
	/* lost a race with another CPU inserting the same key, or the map is full */
	v = bpf_map_lookup_elem(map, k);
	if (v) {
		__sync_fetch_and_add(v, 1);
		return COUNT_SEEN;
	}
	stat_inc(STAT_COUNTS_FULL);
	return COUNT_FULL;
}

/* After the names of a key were sent (state COUNT_NEW or COUNT_RESEND):
 * mark the key for its next sight to send them again if one was lost, or
 * unmark it once they all went. */
static __always_inline void mark_named(void *map, void *k, int state, __u32 lost)
{
	if (lost == (state == COUNT_RESEND))
		return; /* already marked as it should be */
	__u64 *v = bpf_map_lookup_elem(map, k);
	if (!v)
		return;
	if (lost)
		__sync_fetch_and_or(v, COUNT_UNNAMED);
	else
		__sync_fetch_and_and(v, ~COUNT_UNNAMED);
}

static __always_inline void count_outcome(__u32 pid, struct scratch *s, struct call_key *call, __u64 value,
					  __u8 outcome)
{
	struct outcome_key *k = &s->outcome;
	k->call = *call;
	k->call.kind &= ~CALL_PENDING;
	k->value = value;
	k->outcome = outcome;
	for (int i = 0; i < 7; i++)
		k->_pad[i] = 0;
	__u32 zero = 0;
	__u32 *active = bpf_map_lookup_elem(&active_counts, &zero);
	int second = active && *active;
	int state = second ? count_in(&outcome_to_count_1, k) : count_in(&outcome_to_count_0, k);
	if (state == COUNT_FULL) {
		stat_inc(STAT_OUTCOMES_FULL);
		return;
	}
	if (state == COUNT_SEEN || !value)
		return;
	if (state == COUNT_RESEND)
		stat_inc(STAT_NAMES_RESENT);
	s->names_lost = 0;
	if (value & 1)
		note_sig(pid, value, 1, EVENT_VALUE);
	else
		note_type(pid, value);
	if (second)
		mark_named(&outcome_to_count_1, k, state, s->names_lost);
	else
		mark_named(&outcome_to_count_0, k, state, s->names_lost);
}

/*
 * The hash of argument i's description (built in s->sig): the i-th fast
 * local of the frame at frame, read from the frame copy when it holds the
 * first fast bytes. A global function: verified once for all 64 parameter
 * slots instead of once per slot.
 */
__attribute__((noinline)) __u64 arg_hash(struct py_config *cfg, struct scratch *s, __u64 frame, __u64 code,
					   __u32 i_fast /* i << 16 | bytes of the frame copy in s->wide: five arguments */)
{
	if (!cfg || !s)
		return 0;
	__u32 i = i_fast >> 16, fast = i_fast & 0xffff;
	if (i >= MAX_PARAMS)
		return 0;
	__u8 *fb = s->wide + FRAME_BELOW;
	__u32 slot = (__u32)cfg->fr_localsplus + 8 * i;
	__u64 obj = i < FAST_ARGS && fast ? buf64(fb, FRAME_BUF, fast, slot) : rd64(frame + slot);
	if (ref_is_int(cfg, obj))
		return value_hash(cfg, s, 0, cfg->long_type, i);
	obj = ref_object(cfg, obj);
	if (!obj && cfg->co_cell2arg >= 0)
		obj = old_cell_arg(cfg, frame, code, i);
	__u64 tp = object_type(cfg, s, obj, 0);
	if (tp && tp == cfg->cell_type) {
		obj = rd64(obj + cfg->cell_ref);
		tp = object_type(cfg, s, obj, 0);
	}
	return value_hash(cfg, s, obj, tp, i);
}

/*
 * Start waiting for the end of the call in the scratch's key, whose frame is
 * at frame (3.8-3.10: whose eval loop entry had stack pointer sp). A call
 * still waiting at the same address ended unseen, and is counted so. Returns
 * whether the call now waits (and is counted at its end).
 *
 * The scratch is looked up here, not passed in: a global function's pointer
 * arguments are plain memory to the verifier, and Linux 6.1 takes map keys
 * and values only from the stack or a map value.
 */
__attribute__((noinline)) int await_outcome(struct py_config *cfg, __u64 frame, __u64 sp, __u64 consts)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&cpu_scratch, &zero);
	if (!cfg || !s)
		return 0;
	__u32 pid = s->key.pid;
	struct frame_key fk = {.pid = pid, .addr = (cfg->flags & CFG_OLD_FRAMES) ? sp : frame};
	struct pending_call *old = bpf_map_lookup_elem(&frame_to_call, &fk);
	if (old) {
		if (!old->done) {
			/* The call that had this frame ended without a return
			 * the probes saw: by raising, or (generators,
			 * coroutines) by suspending. 3.8-3.10 see every end
			 * through the uretprobe, so there a leftover only
			 * predates it. */
			stat_inc(STAT_STALE_PENDING);
			int raised = !(cfg->flags & CFG_OLD_FRAMES) && !(old->flags & CO_RESUMABLE);
			count_outcome(pid, s, &old->key, 0, raised ? OUTCOME_RAISED : OUTCOME_UNSEEN);
		}
		old->key = s->key;
		old->frame = frame;
		old->consts = consts;
		old->nlocalsplus = s->pending.nlocalsplus;
		old->flags = s->pending.flags;
		old->done = 0;
		return 1;
	}
	struct pending_call *pc = &s->pending;
	pc->key = s->key;
	pc->frame = frame;
	pc->consts = consts;
	pc->done = 0;
	pc->_pad = 0;
	if (bpf_map_update_elem(&frame_to_call, &fk, pc, BPF_NOEXIST) == 0)
		return 1;
	stat_inc(STAT_PENDING_FULL);
	return 0;
}

/* Record one call whose frame is at frame; sp is the stack pointer at the
 * probe (3.8-3.10 match returns by it). A global function: the verifier
 * checks it once. */
__attribute__((noinline)) int record_call(__u64 frame, __u64 sp, __u64 how)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct py_config *cfg = bpf_map_lookup_elem(&pid_to_config, &pid);
	if (!cfg) {
		stat_inc(STAT_NO_CONFIG);
		return 0;
	}
	if (!frame) {
		stat_inc(STAT_NO_FRAME);
		return 0;
	}
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&cpu_scratch, &zero);
	if (!s)
		return 0;

	/* The frame head and the first argument slots in one read; near the end
	 * of a mapping, the head alone and the slots one by one. */
	__u32 fh = cfg->frame_head;
	if (fh > FRAME_HEAD_MAX)
		return 0;
	__u32 fast = fh + 8 * FAST_ARGS;
	__u8 *fb = s->wide + FRAME_BELOW;
	__u32 below = 0;
	if (!(cfg->flags & CFG_OLD_FRAMES) && frame > FRAME_BELOW &&
	    bpf_probe_read_user(s->wide, FRAME_BELOW + (fast & 0x1ff) > WIDE_BUF ? WIDE_BUF : FRAME_BELOW + (fast & 0x1ff),
				(void *)(frame - FRAME_BELOW)) == 0) {
		below = FRAME_BELOW;
	} else if (read_into(fb, fast, frame)) {
		fast = 0;
		if (read_into(fb, fh, frame)) {
			stat_inc(STAT_NO_FRAME);
			return 0;
		}
	}
	__u64 code = ref_object(cfg, buf64(fb, FRAME_BUF, FRAME_BUF, cfg->fr_code));
	struct code_facts *f = code ? code_facts(cfg, s, code) : 0;
	if (!f) {
		stat_inc(STAT_NO_CODE);
		return 0;
	}
	if (resume_runs_again(cfg, f, code)) {
		stat_inc(STAT_REEXECUTED);
		return 0;
	}
	/* Copy out: the caller's facts may take the same slot. */
	__u32 flags = f->flags;
	__u32 nparams = f->nparams;
	__u64 consts = f->consts;
	s->pending.nlocalsplus = f->nlocalsplus;
	s->pending.flags = flags;

	struct call_key *key = &s->key;
	key->pid = pid;
	key->code = code;
	key->code_fp = f->fp;
	key->kind = how == PROBE_CREATE ? CALL_CREATE : call_kind(cfg, fb, flags);
	key->truncated = 0;
	key->_pad = 0;
	find_caller(cfg, s, frame, below, buf64(fb, FRAME_BUF, FRAME_BUF, cfg->fr_previous));

	__u32 n = 0;
	key->sig = 0;
	if (key->kind != CALL_RESUME) {
		n = nparams;
		if (n > MAX_PARAMS) {
			key->truncated = 1;
			stat_inc(STAT_TRUNCATED);
			n = MAX_PARAMS;
		}
		/* FNV-1a over the argument descriptions */
		__u64 sig = FNV_OFFSET;
		for (__u32 i = 0; i < MAX_PARAMS; i++) {
			if (i >= n)
				break;
			sig = (sig ^ arg_hash(cfg, s, frame, code, i << 16 | (fast & 0xffff))) * FNV_PRIME;
		}
		key->sig = sig ^ n;
	}
	key->nparams = n;

	if ((cfg->flags & CFG_OUTCOMES) && key->kind != CALL_CREATE && await_outcome(cfg, frame, sp, consts))
		key->kind |= CALL_PENDING;

	__u32 *active = bpf_map_lookup_elem(&active_counts, &zero);
	int second = active && *active;
	int state = second ? count_in(&call_to_count_1, key) : count_in(&call_to_count_0, key);
	if (state != COUNT_NEW && state != COUNT_RESEND)
		return 0;

	/* First sight of this call shape in this drain interval, or a later one
	 * after its names could not all be sent. */
	stat_inc(state == COUNT_NEW ? STAT_NEW_KEYS : STAT_NAMES_RESENT);
	__u64 caller = key->caller, caller_fp = key->caller_fp, code_fp = key->code_fp;
	s->names_lost = 0;
	if ((key->kind & ~CALL_PENDING) != CALL_RESUME)
		note_sig(pid, key->sig, n, EVENT_SIG);
	note_code(pid, code, code_fp,
		  cfg->fr_funcobj >= 0 ? ref_object(cfg, buf64(fb, FRAME_BUF, FRAME_BUF, cfg->fr_funcobj)) : 0);
	if (caller)
		note_code(pid, caller, caller_fp, s->caller_func);
	if (second)
		mark_named(&call_to_count_1, key, state, s->names_lost);
	else
		mark_named(&call_to_count_0, key, state, s->names_lost);
	return 0;
}

/*
 * The end of a call: a RETURN_VALUE/RETURN_CONST handler (3.11+, frame in a
 * register) or the eval loop's return (3.8-3.10, value in rax, matched by
 * the stack pointer). Counts the pending call with what it returned, yielded
 * or that it raised.
 */
__attribute__((noinline)) int record_return(__u64 frame, __u64 sp, __u64 rax, __u64 how)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct py_config *cfg = bpf_map_lookup_elem(&pid_to_config, &pid);
	if (!cfg)
		return 0;
	struct frame_key fk = {.pid = pid, .addr = how == PROBE_EVAL_RETURN ? sp - 8 : frame};
	struct pending_call *p = bpf_map_lookup_elem(&frame_to_call, &fk);
	if (!p || p->done)
		return 0;
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&cpu_scratch, &zero);
	if (!s)
		return 0;
	__u64 obj = 0, instr = 0;
	if (how != PROBE_EVAL_RETURN) {
		/* Is the returning frame the call waiting here? A frame whose
		 * RESUME was not counted (3.13 code run inside a profiler's
		 * callback) may return at the address of one that raised. One
		 * read brings the frame's code, instruction pointer and, for
		 * small frames, stack slot 0. */
		__u32 slot = (__u32)cfg->fr_localsplus + 8 * p->nlocalsplus;
		__u32 size = slot + 8 <= FRAME_BUF ? slot + 8 : cfg->frame_head;
		if (size > FRAME_BUF || read_into(s->wide, size, frame))
			return 0;
		if (ref_object(cfg, buf64(s->wide, WIDE_BUF, size, cfg->fr_code)) != p->key.code) {
			stat_inc(STAT_RETURN_OTHER_FRAME);
			return 0;
		}
		instr = buf64(s->wide, WIDE_BUF, size, cfg->fr_instr);
		if (how == PROBE_RETURN_VALUE)
			obj = slot + 8 <= size ? buf64(s->wide, WIDE_BUF, size, (__s32)slot) : rd64(frame + slot);
	}
	p->done = 1;
	struct pending_call *pc = &s->pending;
	*pc = *p;

	__u8 outcome = OUTCOME_RETURNED;
	if (how == PROBE_RETURN_VALUE) {
		/* obj was read with the frame */
	} else if (how == PROBE_RETURN_CONST) {
		/* The frame's instruction pointer is at the RETURN_CONST by now;
		 * an EXTENDED_ARG before it supplies the oparg's high byte. */
		__u32 w = rd32(instr - 2);
		if (!op_in(cfg->ret_const_ops, (w >> 16) & 0xff)) {
			stat_inc(STAT_INSTR_UNKNOWN);
			count_outcome(pid, s, &pc->key, 0, OUTCOME_UNSEEN);
			return 0;
		}
		__u64 oparg = w >> 24;
		if ((w & 0xff) == cfg->extended_arg)
			oparg |= ((w >> 8) & 0xff) << 8;
		obj = rd64(pc->consts + cfg->tuple_items + 8 * oparg);
	} else {
		obj = rax;
		if (!obj) {
			outcome = OUTCOME_RAISED;
		} else if (cfg->fr_stacktop >= 0) {
			if (rd64(pc->frame + cfg->fr_stacktop))
				outcome = OUTCOME_YIELDED;
		} else if (cfg->fr_state >= 0) {
			if ((__s8)rd8(pc->frame + cfg->fr_state) == -1) /* FRAME_SUSPENDED */
				outcome = OUTCOME_YIELDED;
		}
	}
	__u64 value = 0;
	if (how == PROBE_RETURN_VALUE && ref_is_int(cfg, obj)) {
		value = value_hash(cfg, s, 0, cfg->long_type, 0);
	} else if (how == PROBE_RETURN_VALUE) {
		obj = ref_object(cfg, obj); /* a stack slot, a _PyStackRef from 3.14 */
	}
	if (obj && !value) {
		__u64 tp = object_type(cfg, s, obj, 0);
		value = tp ? value_hash(cfg, s, obj, tp, 0) : 0;
	}
	if (outcome != OUTCOME_RAISED && !value)
		outcome = OUTCOME_UNSEEN; /* the value could not be read */
	count_outcome(pid, s, &pc->key, value, outcome);
	return 0;
}

/*
 * Word w of the context, x86-64 struct pt_regs. Inline assembly keeps each
 * load a constant-offset context access, as the verifier requires: clang
 * would merge plain loads of a switch into one load at a computed offset.
 */
#define CTX_WORD(ctx, w)                                                            \
	({                                                                          \
		__u64 v_;                                                           \
		asm volatile("%0 = *(u64 *)(%1 + %2)" : "=r"(v_) : "r"(ctx), "i"((w) * 8)); \
		v_;                                                                 \
	})

/*
 * The register that holds the frame, by its number in the attach cookie:
 * one program serves every register, so a kernel verifies it once.
 */
static __always_inline __u64 frame_register(struct pt_regs *ctx, __u64 reg)
{
	switch (reg) {
	case REG_R15: return CTX_WORD(ctx, 0);
	case REG_R14: return CTX_WORD(ctx, 1);
	case REG_R13: return CTX_WORD(ctx, 2);
	case REG_R12: return CTX_WORD(ctx, 3);
	case REG_RBP: return CTX_WORD(ctx, 4);
	case REG_RBX: return CTX_WORD(ctx, 5);
	case REG_R11: return CTX_WORD(ctx, 6);
	case REG_R10: return CTX_WORD(ctx, 7);
	case REG_R9: return CTX_WORD(ctx, 8);
	case REG_R8: return CTX_WORD(ctx, 9);
	case REG_RAX: return CTX_WORD(ctx, 10);
	case REG_RCX: return CTX_WORD(ctx, 11);
	case REG_RDX: return CTX_WORD(ctx, 12);
	case REG_RSI: return CTX_WORD(ctx, 13);
	case REG_RDI: return CTX_WORD(ctx, 14);
	}
	return 0;
}

/* Words of x86-64 struct pt_regs. */
#define PT_REGS_RAX 10
#define PT_REGS_RSP 19

/*
 * uprobe on a RESUME-family handler (3.11+), RETURN_GENERATOR (3.11+) or the
 * eval loop's entry (3.8-3.10). The cookie says how the point is used and
 * which register holds the frame (COOKIE). Maps: pid_to_config, cpu_scratch,
 * call_to_count_*, frame_to_call, outcome_to_count_*, seen_to_fingerprint,
 * events, stats. Attach cookies need 5.15; the oldest kernel supported is 6.1.
 */
/*
 * The per-CPU scratch belongs to one program run at a time. Uprobe programs
 * run with migration disabled but, on a kernel that preempts kernel code
 * (preempt=full, PREEMPT_RT, and lazy preemption at a tick), not with
 * preemption disabled: a run can be preempted half way, and another task on
 * that CPU can then run a program over the same scratch. The second run is
 * skipped and counted (STAT_SCRATCH_BUSY) rather than let it garble the
 * first one's key. Kernels that do not preempt kernel code (preempt=none or
 * voluntary, the default of Debian's kernels) never skip.
 */
static __always_inline struct scratch *own_scratch(void)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&cpu_scratch, &zero);
	if (!s)
		return 0;
	if (__sync_lock_test_and_set(&s->busy, 1)) {
		stat_inc(STAT_SCRATCH_BUSY);
		return 0;
	}
	return s;
}

static __always_inline void release_scratch(struct scratch *s)
{
	/* A plain store: its owner is the only writer now, and BPF has no
	 * store-release before clang 17. The barrier keeps it last. */
	asm volatile("" ::: "memory");
	s->busy = 0;
}

SEC("uprobe")
int on_call(struct pt_regs *ctx)
{
	struct scratch *s = own_scratch();
	if (!s)
		return 0;
	__u64 cookie = bpf_get_attach_cookie(ctx);
	record_call(frame_register(ctx, COOKIE_REG(cookie)), CTX_WORD(ctx, PT_REGS_RSP), COOKIE_PROBE(cookie));
	release_scratch(s);
	return 0;
}

/* uprobe on a RETURN_VALUE or RETURN_CONST handler (3.11+); cookie and maps
 * as on_call. */
SEC("uprobe")
int on_return(struct pt_regs *ctx)
{
	struct scratch *s = own_scratch();
	if (!s)
		return 0;
	__u64 cookie = bpf_get_attach_cookie(ctx);
	record_return(frame_register(ctx, COOKIE_REG(cookie)), 0, 0, COOKIE_PROBE(cookie));
	release_scratch(s);
	return 0;
}

/* uretprobe on the eval loop (3.8-3.10): the value in rax, the call matched
 * by the stack pointer. */
SEC("uretprobe")
int on_eval_return(struct pt_regs *ctx)
{
	struct scratch *s = own_scratch();
	if (!s)
		return 0;
	record_return(0, CTX_WORD(ctx, PT_REGS_RSP), CTX_WORD(ctx, PT_REGS_RAX), PROBE_EVAL_RETURN);
	release_scratch(s);
	return 0;
}
