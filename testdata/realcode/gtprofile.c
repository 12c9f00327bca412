/*
 * _gtprofile: an in-process ground truth for recapi's real-code tests, as a
 * C profile function (PyEval_SetProfile). groundtruth.py's Python callback is
 * itself a Python function, which recapid would count (and trap on) several
 * times per call of the program; this one runs no Python code at all, so
 * recapid and it see the same calls.
 *
 * What it counts, for the thread that calls start() (the tests chosen run
 * their code there):
 *   calls[(code, caller code or None, argument types)] += 1 at every start of
 *     a frame (a generator's first resumption is its start, as recapid
 *     counts it);
 *   resumptions[code] += 1 at every other entry of a suspended frame;
 *   returns[(code, type of the returned value)] += 1 when a plain function
 *     (not a generator or coroutine) returns; a frame that raised, or whose
 *     last instruction is not a return, is not counted.
 * A type is the type object; the caller names them (bare names, no element
 * types: what recapi adds inside brackets is checked by other tests).
 *
 * Builds against CPython 3.8 to 3.13 headers.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>

#define SUSPENDABLE (CO_GENERATOR | CO_COROUTINE | CO_ITERABLE_COROUTINE | CO_ASYNC_GENERATOR)

static PyObject *calls, *resumptions, *returns;
static PyObject *return_ops; /* frozenset of the return opcodes, from dis */
static int resume_op = -1;   /* RESUME (3.11+), -1 before */
static long errors;          /* profile events not recorded: an allocation failed */

#if PY_VERSION_HEX < 0x03090000
static PyCodeObject *PyFrame_GetCode(PyFrameObject *f)
{
	Py_INCREF(f->f_code);
	return f->f_code;
}
static PyFrameObject *PyFrame_GetBack(PyFrameObject *f)
{
	Py_XINCREF(f->f_back);
	return f->f_back;
}
#endif

/* The frame's last instruction, in bytes. */
static int lasti(PyFrameObject *f)
{
#if PY_VERSION_HEX >= 0x030b0000
	return PyFrame_GetLasti(f);
#else
	return f->f_lasti;
#endif
}

static PyObject *attr(PyObject *o, const char *name)
{
	return PyObject_GetAttrString(o, name);
}

static int add(PyObject *dict, PyObject *key)
{
	PyObject *n = PyDict_GetItemWithError(dict, key);
	if (!n && PyErr_Occurred())
		return -1;
	long v = n ? PyLong_AsLong(n) + 1 : 1;
	PyObject *nv = PyLong_FromLong(v);
	if (!nv)
		return -1;
	int rc = PyDict_SetItem(dict, key, nv);
	Py_DECREF(nv);
	return rc;
}

/* Whether an entry of the frame is a start: 3.8-3.10 start at f_lasti -1;
 * 3.11+ at or before the first RESUME (a generator's prologue runs when it
 * is created). */
static int is_start(PyFrameObject *f, PyCodeObject *code, int flags)
{
	if (!(flags & SUSPENDABLE))
		return 1;
	int at = lasti(f);
	if (resume_op < 0)
		return at < 0;
	PyObject *co = attr((PyObject *)code, "co_code");
	if (!co)
		return -1;
	const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(co);
	Py_ssize_t n = PyBytes_GET_SIZE(co);
	int first = -1;
	for (Py_ssize_t i = 0; i + 1 < n; i += 2) {
		if (b[i] == resume_op) {
			first = (int)i;
			break;
		}
	}
	Py_DECREF(co);
	return at <= first;
}

/* The argument types of a starting frame, as a tuple of type objects. */
static PyObject *arg_types(PyFrameObject *f, PyCodeObject *code, int flags)
{
	PyObject *argc = attr((PyObject *)code, "co_argcount");
	PyObject *kwc = attr((PyObject *)code, "co_kwonlyargcount");
	PyObject *names = attr((PyObject *)code, "co_varnames");
	PyObject *locals = attr((PyObject *)f, "f_locals");
	PyObject *out = NULL;
	if (!argc || !kwc || !names || !locals)
		goto done;
	Py_ssize_t n = PyLong_AsSsize_t(argc) + PyLong_AsSsize_t(kwc) + !!(flags & CO_VARARGS) + !!(flags & CO_VARKEYWORDS);
	out = PyTuple_New(n);
	if (!out)
		goto done;
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *v = PyObject_GetItem(locals, PyTuple_GET_ITEM(names, i));
		PyObject *t;
		if (v) {
			t = (PyObject *)Py_TYPE(v);
			Py_INCREF(t);
			Py_DECREF(v);
		} else {
			PyErr_Clear(); /* deleted or unbound: no type */
			t = Py_None;
			Py_INCREF(t);
		}
		PyTuple_SET_ITEM(out, i, t);
	}
done:
	Py_XDECREF(argc);
	Py_XDECREF(kwc);
	Py_XDECREF(names);
	Py_XDECREF(locals);
	return out;
}

static int on_call(PyFrameObject *f)
{
	PyCodeObject *code = PyFrame_GetCode(f);
	int rc = -1;
	PyObject *key = NULL, *types = NULL, *caller = NULL, *flagso = attr((PyObject *)code, "co_flags");
	PyFrameObject *back = PyFrame_GetBack(f);
	if (!flagso)
		goto done;
	int flags = (int)PyLong_AsLong(flagso);
	int start = is_start(f, code, flags);
	if (start < 0)
		goto done;
	if (!start) {
		rc = add(resumptions, (PyObject *)code);
		goto done;
	}
	if (back) {
		caller = (PyObject *)PyFrame_GetCode(back);
	} else {
		caller = Py_None;
		Py_INCREF(caller);
	}
	types = arg_types(f, code, flags);
	if (!types)
		goto done;
	key = PyTuple_Pack(3, (PyObject *)code, caller, types);
	if (key)
		rc = add(calls, key);
done:
	Py_XDECREF(key);
	Py_XDECREF(types);
	Py_XDECREF(caller);
	Py_XDECREF(back);
	Py_XDECREF(flagso);
	Py_DECREF(code);
	return rc;
}

static int on_return(PyFrameObject *f, PyObject *value)
{
	if (!value)
		return 0; /* an exception propagates */
	PyCodeObject *code = PyFrame_GetCode(f);
	int rc = -1;
	PyObject *key = NULL, *co = NULL, *flagso = attr((PyObject *)code, "co_flags");
	if (!flagso)
		goto done;
	if (PyLong_AsLong(flagso) & SUSPENDABLE) {
		rc = 0;
		goto done;
	}
	/* 3.12+ report an exception's unwinding as a return of None too: only
	 * a frame stopped at a return instruction returned. */
	co = attr((PyObject *)code, "co_code");
	if (!co)
		goto done;
	int at = lasti(f);
	if (at < 0 || at >= PyBytes_GET_SIZE(co)) {
		rc = 0;
		goto done;
	}
	PyObject *op = PyLong_FromLong(((const unsigned char *)PyBytes_AS_STRING(co))[at]);
	if (!op)
		goto done;
	int is_return = PySet_Contains(return_ops, op);
	Py_DECREF(op);
	if (is_return <= 0) {
		rc = is_return;
		goto done;
	}
	key = PyTuple_Pack(2, (PyObject *)code, (PyObject *)Py_TYPE(value));
	if (key)
		rc = add(returns, key);
done:
	Py_XDECREF(key);
	Py_XDECREF(co);
	Py_XDECREF(flagso);
	Py_DECREF(code);
	return rc;
}

static int profile(PyObject *obj, PyFrameObject *f, int what, PyObject *arg)
{
	(void)obj;
	int rc = 0;
	/* Keep the program's own exception, if one is being raised. */
	PyObject *et, *ev, *tb;
	PyErr_Fetch(&et, &ev, &tb);
	if (what == PyTrace_CALL)
		rc = on_call(f);
	else if (what == PyTrace_RETURN)
		rc = on_return(f, arg);
	if (rc < 0) {
		errors++;
		PyErr_Clear();
	}
	PyErr_Restore(et, ev, tb);
	return 0;
}

static PyObject *start(PyObject *self, PyObject *args)
{
	(void)self;
	PyObject *ops;
	if (!PyArg_ParseTuple(args, "Oi", &ops, &resume_op))
		return NULL;
	return_ops = PyFrozenSet_New(ops);
	calls = PyDict_New();
	resumptions = PyDict_New();
	returns = PyDict_New();
	if (!return_ops || !calls || !resumptions || !returns)
		return NULL;
	errors = 0;
	PyEval_SetProfile(profile, NULL);
	Py_RETURN_NONE;
}

static PyObject *stop(PyObject *self, PyObject *args)
{
	(void)self;
	(void)args;
	PyEval_SetProfile(NULL, NULL);
	if (!calls)
		return PyErr_Format(PyExc_RuntimeError, "start() was not called");
	PyObject *out = Py_BuildValue("OOOl", calls, resumptions, returns, errors);
	Py_CLEAR(calls);
	Py_CLEAR(resumptions);
	Py_CLEAR(returns);
	Py_CLEAR(return_ops);
	return out;
}

static PyMethodDef methods[] = {
	{"start", start, METH_VARARGS, "start(return_opcodes, resume_opcode): start counting this thread's calls"},
	{"stop", stop, METH_NOARGS, "stop() -> (calls, resumptions, returns, errors)"},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_gtprofile", NULL, -1, methods};

PyMODINIT_FUNC PyInit__gtprofile(void)
{
	return PyModule_Create(&module);
}
