/* The columnar journal's typed columns, filled in C: see imload/journal/colbuf.py.

   A Rows holds the events of one key list (their keys in one order) as Arrow buffers,
   one column per key: a validity bitmap, and the values (int64, float64, bit-packed bools,
   or UTF-8 strings with int32 offsets). add() takes an event's values in its keys' order
   in one pass, or nothing when one does not fit its column's type exactly (None fits every
   column); take() hands the buffers over and starts again. Python turns the buffers into
   Arrow arrays without a copy (pyarrow's Array.from_buffers). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

typedef struct { char *p; Py_ssize_t len, cap; } Buf;

static int grow(Buf *b, Py_ssize_t need) {
    if (b->len + need <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + need) cap *= 2;
    char *p = PyMem_Realloc(b->p, cap);
    if (p == NULL) { PyErr_NoMemory(); return -1; }
    b->p = p; b->cap = cap;
    return 0;
}

typedef struct { char kind; Buf valid, offsets, data; Py_ssize_t nulls; } Col;

typedef struct {
    PyObject_HEAD
    Py_ssize_t width, count;
    Col *cols;
    Buf numbers;
} Rows;

static void set_bit(Buf *b, Py_ssize_t i, int on) {
    unsigned char *p = (unsigned char *)b->p + (i >> 3);
    if (on) *p |= (unsigned char)(1u << (i & 7)); else *p &= (unsigned char)~(1u << (i & 7));
}

static int reset(Rows *r) {
    r->count = 0; r->numbers.len = 0;
    for (Py_ssize_t i = 0; i < r->width; i++) {
        Col *c = &r->cols[i];
        c->valid.len = 0; c->data.len = 0; c->offsets.len = 0; c->nulls = 0;
        if (c->kind == 's') {
            if (grow(&c->offsets, 4) < 0) return -1;
            memset(c->offsets.p, 0, 4); c->offsets.len = 4;
        }
    }
    return 0;
}

static void Rows_dealloc(Rows *r) {
    if (r->cols) {
        for (Py_ssize_t i = 0; i < r->width; i++) {
            PyMem_Free(r->cols[i].valid.p); PyMem_Free(r->cols[i].offsets.p);
            PyMem_Free(r->cols[i].data.p);
        }
        PyMem_Free(r->cols);
    }
    PyMem_Free(r->numbers.p);
    Py_TYPE(r)->tp_free((PyObject *)r);
}

static int Rows_init(Rows *r, PyObject *args, PyObject *Py_UNUSED(kw)) {
    const char *kinds; Py_ssize_t width;
    if (r->cols != NULL) {
        PyErr_SetString(PyExc_TypeError, "Rows is set up once");
        return -1;
    }
    if (!PyArg_ParseTuple(args, "s#", &kinds, &width)) return -1;
    for (Py_ssize_t i = 0; i < width; i++)
        if (kinds[i] == '\0' || !strchr("sifb", kinds[i])) {
            PyErr_Format(PyExc_ValueError, "unknown column kind %c", kinds[i]); return -1;
        }
    r->cols = PyMem_Calloc(width ? width : 1, sizeof(Col));
    if (r->cols == NULL) { PyErr_NoMemory(); return -1; }
    r->width = width;
    for (Py_ssize_t i = 0; i < width; i++) r->cols[i].kind = kinds[i];
    return reset(r);
}

static int append_bit(Buf *b, Py_ssize_t n, int on) {
    Py_ssize_t byte = n >> 3;
    if (b->len <= byte) {
        if (grow(b, byte + 1 - b->len) < 0) return -1;
        b->p[byte] = 0;
        b->len = byte + 1;
    }
    set_bit(b, n, on);
    return 0;
}

/* Value v as row n of column c: 1 done, 0 when it does not fit the column's type exactly
   (nothing written), -1 on an error (out of memory). */
static int append(Col *c, Py_ssize_t n, PyObject *v) {
    if (v == Py_None) {
        if (append_bit(&c->valid, n, 0) < 0) return -1;
        c->nulls++;
        switch (c->kind) {
        case 's':
            if (grow(&c->offsets, 4) < 0) return -1;
            memcpy(c->offsets.p + c->offsets.len, c->offsets.p + c->offsets.len - 4, 4);
            c->offsets.len += 4;
            return 1;
        case 'b':
            return append_bit(&c->data, n, 0) < 0 ? -1 : 1;
        default:
            if (grow(&c->data, 8) < 0) return -1;
            memset(c->data.p + c->data.len, 0, 8);
            c->data.len += 8;
            return 1;
        }
    }
    switch (c->kind) {
    case 's': {
        if (!PyUnicode_CheckExact(v)) return 0;
        Py_ssize_t size;
        const char *s = PyUnicode_AsUTF8AndSize(v, &size);
        if (s == NULL) { PyErr_Clear(); return 0; }  /* e.g. a lone surrogate */
        int32_t end;
        memcpy(&end, c->offsets.p + c->offsets.len - 4, 4);
        if (size > INT32_MAX - end) return 0;  /* beyond 32-bit offsets */
        if (grow(&c->data, size) < 0 || grow(&c->offsets, 4) < 0) return -1;
        memcpy(c->data.p + c->data.len, s, size);
        c->data.len += size;
        end += (int32_t)size;
        memcpy(c->offsets.p + c->offsets.len, &end, 4);
        c->offsets.len += 4;
        break; }
    case 'i': {
        if (!PyLong_CheckExact(v)) return 0;  /* a bool is not an int here */
        int overflow;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow) return 0;
        if (grow(&c->data, 8) < 0) return -1;
        memcpy(c->data.p + c->data.len, &x, 8);
        c->data.len += 8;
        break; }
    case 'f': {
        if (!PyFloat_CheckExact(v)) return 0;
        double x = PyFloat_AS_DOUBLE(v);
        if (grow(&c->data, 8) < 0) return -1;
        memcpy(c->data.p + c->data.len, &x, 8);
        c->data.len += 8;
        break; }
    default:
        if (v != Py_True && v != Py_False) return 0;
        if (append_bit(&c->data, n, v == Py_True) < 0) return -1;
    }
    return append_bit(&c->valid, n, 1) < 0 ? -1 : 1;
}

/* Every column back to its first n rows (after an event that did not fit); the first
   ``done`` columns had row n written. */
static void undo(Rows *r, Py_ssize_t done, Py_ssize_t n) {
    for (Py_ssize_t j = 0; j < r->width; j++) {
        Col *c = &r->cols[j];
        if (j < done && !((unsigned char)c->valid.p[n >> 3] >> (n & 7) & 1)) c->nulls--;
        c->valid.len = (n + 7) >> 3;
        if (c->kind == 's') {
            int32_t end;
            memcpy(&end, c->offsets.p + n * 4, 4);
            c->offsets.len = (n + 1) * 4;
            c->data.len = end;
        } else {
            c->data.len = c->kind == 'b' ? (n + 7) >> 3 : n * 8;
        }
    }
}

/* Whether key k is the key list's key want: the same object (the literals of the code that
   builds events, a JSON parser's cached keys), else an equal exact str. */
static int same_key(PyObject *k, PyObject *want) {
    if (k == want) return 1;
    if (!PyUnicode_CheckExact(k) || !PyUnicode_CheckExact(want)) return 0;
    return PyUnicode_Compare(k, want) == 0;
}

/* Event ev as row ``number`` of r: 1 done, 0 when it is not taken (a key other than keys'
   when keys is given, a value that does not fit its column; nothing kept), -1 on an error. */
static int rows_append(Rows *r, PyObject *ev, PyObject *keys, long long number) {
    PyObject *key, *v;
    if (PyDict_GET_SIZE(ev) != r->width) return 0;
    Py_ssize_t n = r->count, pos = 0, i = 0;
    while (PyDict_Next(ev, &pos, &key, &v)) {
        int done = keys == NULL || same_key(key, PyTuple_GET_ITEM(keys, i))
            ? append(&r->cols[i], n, v) : 0;
        if (done <= 0) {
            undo(r, i, n);
            return done;
        }
        i++;
    }
    if (grow(&r->numbers, 8) < 0) {
        undo(r, i, n);
        return -1;
    }
    memcpy(r->numbers.p + r->numbers.len, &number, 8);
    r->numbers.len += 8;
    r->count = n + 1;
    return 1;
}

/* add(event, number) -> bool: the event's values appended in its keys' order (True), or
   nothing when one does not fit its column (False: the caller keeps the event another
   way). The caller gives events of this Rows' key list: only their count is checked. */
static PyObject *Rows_add(Rows *r, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyDict_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "add(event: dict, number: int)");
        return NULL;
    }
    long long number = PyLong_AsLongLong(args[1]);
    if (number == -1 && PyErr_Occurred()) return NULL;
    int done = rows_append(r, args[0], NULL, number);
    if (done < 0) return NULL;
    return PyBool_FromLong(done);
}

static PyObject *bytes_of(Buf *b) { return PyBytes_FromStringAndSize(b->p ? b->p : "", b->len); }

/* take() -> (count, numbers, [(null_count, validity, offsets or None, data)]): the buffers of
   every column (Arrow's layouts), and the rows emptied. */
static PyObject *Rows_take(Rows *r, PyObject *Py_UNUSED(ignored)) {
    PyObject *cols = PyList_New(r->width);
    if (cols == NULL) return NULL;
    for (Py_ssize_t i = 0; i < r->width; i++) {
        Col *c = &r->cols[i];
        PyObject *t = Py_BuildValue("(nNNN)", c->nulls, bytes_of(&c->valid),
                                    c->kind == 's' ? bytes_of(&c->offsets) : Py_NewRef(Py_None),
                                    bytes_of(&c->data));
        if (t == NULL) { Py_DECREF(cols); return NULL; }
        PyList_SET_ITEM(cols, i, t);
    }
    PyObject *out = Py_BuildValue("(nNN)", r->count, bytes_of(&r->numbers), cols);
    if (out == NULL || reset(r) < 0) { Py_XDECREF(out); return NULL; }
    return out;
}

static Py_ssize_t Rows_len(Rows *r) { return r->count; }

static PyMethodDef Rows_methods[] = {
    {"add", (PyCFunction)(void (*)(void))Rows_add, METH_FASTCALL, "add(event, number) -> bool"},
    {"take", (PyCFunction)Rows_take, METH_NOARGS, "take() -> (count, numbers, columns)"},
    {NULL}
};

static PySequenceMethods Rows_seq = {.sq_length = (lenfunc)Rows_len};

static PyTypeObject RowsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "imload.journal._colbuf.Rows",
    .tp_basicsize = sizeof(Rows),
    .tp_dealloc = (destructor)Rows_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Rows(kinds): events' values in typed column buffers, one kind letter per key "
              "(s string, i int64, f float64, b bool)",
    .tp_methods = Rows_methods,
    .tp_as_sequence = &Rows_seq,
    .tp_init = (initproc)Rows_init,
    .tp_new = PyType_GenericNew,
};

/* Pending: a writer's events since its last flush, by key list, and their numbering. */

typedef struct { Py_hash_t hash; PyObject *keys; Rows *rows; } Entry;

typedef struct {
    PyObject_HEAD
    Entry *table;  /* open addressing by the key list's hash; cap a power of two */
    Py_ssize_t cap, used;
    long long count, flush_at;
} Pending;


static void Pending_dealloc(Pending *p) {
    for (Py_ssize_t i = 0; i < p->cap; i++) {
        Py_XDECREF(p->table[i].keys);
        Py_XDECREF((PyObject *)p->table[i].rows);
    }
    PyMem_Free(p->table);
    Py_TYPE(p)->tp_free((PyObject *)p);
}

static int Pending_init(Pending *p, PyObject *args, PyObject *Py_UNUSED(kw)) {
    if (p->table != NULL) {
        PyErr_SetString(PyExc_TypeError, "Pending is set up once");
        return -1;
    }
    if (!PyArg_ParseTuple(args, "L", &p->flush_at)) return -1;
    p->cap = 64;
    p->table = PyMem_Calloc(p->cap, sizeof(Entry));
    if (p->table == NULL) { PyErr_NoMemory(); return -1; }
    return 0;
}

/* A key list's hash: its keys' str hashes, combined in order (``mix``, then ``finish``). */
static Py_uhash_t mix(Py_uhash_t h, Py_hash_t key) { return (h ^ (Py_uhash_t)key) * 1000003UL; }
static Py_hash_t finish(Py_uhash_t h) { return h == (Py_uhash_t)-1 ? 1 : (Py_hash_t)h; }
#define KEYS_SEED 0x345678UL

/* The hash of the event's key list, or -1 for a key that is not an exact str (the caller
   takes the slow path). */
static Py_hash_t keys_hash(PyObject *ev) {
    Py_uhash_t h = KEYS_SEED;
    Py_ssize_t pos = 0;
    PyObject *key, *v;
    while (PyDict_Next(ev, &pos, &key, &v)) {
        if (!PyUnicode_CheckExact(key)) return -1;  /* (no Python code runs in here) */
        Py_hash_t kh = PyObject_Hash(key);
        if (kh == -1) { PyErr_Clear(); return -1; }
        h = mix(h, kh);
    }
    return finish(h);
}

static int set_up(Pending *p) {
    if (p->table != NULL) return 1;
    PyErr_SetString(PyExc_TypeError, "Pending was not set up (Pending(flush_at))");
    return 0;
}

static Entry *find(Pending *p, Py_hash_t h, Py_ssize_t size) {
    for (Py_ssize_t i = (Py_ssize_t)((Py_uhash_t)h & (p->cap - 1));; i = (i + 1) & (p->cap - 1)) {
        Entry *e = &p->table[i];
        if (e->keys == NULL || (e->hash == h && PyTuple_GET_SIZE(e->keys) == size)) return e;
    }
}

/* add(event) -> 0, 1 or 2: 0 when not taken (a key list not registered, a value that does
   not fit its column: nothing kept, no number used); else taken, numbered ``count``
   (then one more), 2 when that number reached flush_at. One C call: atomic under the
   GIL, so the writer's lock is not needed around it. */
static PyObject *Pending_add(Pending *p, PyObject *ev) {
    if (!set_up(p)) return NULL;
    if (!PyDict_Check(ev)) {
        PyErr_SetString(PyExc_TypeError, "add(event: dict)");
        return NULL;
    }
    Py_hash_t h = keys_hash(ev);
    if (h == -1) return PyLong_FromLong(0);
    Entry *e = find(p, h, PyDict_GET_SIZE(ev));
    if (e->keys == NULL) return PyLong_FromLong(0);
    long long n = p->count;
    int done = rows_append(e->rows, ev, e->keys, n);
    if (done <= 0) return done < 0 ? NULL : PyLong_FromLong(0);
    p->count = n + 1;
    return PyLong_FromLong(n >= p->flush_at ? 2 : 1);
}

/* register(keys, kinds) -> Rows: typed buffers for the events of key list keys (a tuple of
   str), one kind letter per key. */
static PyObject *Pending_register(Pending *p, PyObject *args) {
    PyObject *keys, *kinds;
    if (!set_up(p) || !PyArg_ParseTuple(args, "O!U", &PyTuple_Type, &keys, &kinds)) return NULL;
    Py_uhash_t h = KEYS_SEED;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(keys); i++) {
        PyObject *key = PyTuple_GET_ITEM(keys, i);
        if (!PyUnicode_CheckExact(key)) {
            PyErr_SetString(PyExc_ValueError, "keys are str");
            return NULL;
        }
        Py_hash_t kh = PyObject_Hash(key);
        if (kh == -1) return NULL;
        h = mix(h, kh);
    }
    Py_hash_t hash = finish(h);
    if (find(p, hash, PyTuple_GET_SIZE(keys))->keys != NULL) {
        PyErr_SetString(PyExc_ValueError, "a key list of that hash is registered");
        return NULL;
    }
    if ((p->used + 1) * 2 > p->cap) {  /* at most half full */
        Entry *old = p->table;
        Py_ssize_t old_cap = p->cap;
        p->table = PyMem_Calloc(old_cap * 2, sizeof(Entry));
        if (p->table == NULL) { p->table = old; PyErr_NoMemory(); return NULL; }
        p->cap = old_cap * 2;
        for (Py_ssize_t i = 0; i < old_cap; i++)
            if (old[i].keys != NULL)
                *find(p, old[i].hash, PyTuple_GET_SIZE(old[i].keys)) = old[i];
        PyMem_Free(old);
    }
    PyObject *rows = PyObject_CallOneArg((PyObject *)&RowsType, kinds);
    if (rows == NULL) return NULL;
    if (((Rows *)rows)->width != PyTuple_GET_SIZE(keys)) {
        Py_DECREF(rows);
        PyErr_SetString(PyExc_ValueError, "one kind per key");
        return NULL;
    }
    Entry *e = find(p, hash, PyTuple_GET_SIZE(keys));
    e->hash = hash;
    e->keys = Py_NewRef(keys);
    e->rows = (Rows *)Py_NewRef(rows);
    p->used++;
    return rows;
}

/* claim() -> int: the next number, for an event kept another way. */
static PyObject *Pending_claim(Pending *p, PyObject *Py_UNUSED(ignored)) {
    return PyLong_FromLongLong(p->count++);
}

/* take() -> [(keys, (count, numbers, columns))]: every key list's events since the last
   take (``Rows.take``), at once. */
static PyObject *Pending_take(Pending *p, PyObject *Py_UNUSED(ignored)) {
    PyObject *out = PyList_New(0);
    if (out == NULL) return NULL;
    for (Py_ssize_t i = 0; i < p->cap; i++) {
        Entry *e = &p->table[i];
        if (e->keys == NULL || e->rows->count == 0) continue;
        PyObject *taken = Rows_take(e->rows, NULL);
        PyObject *pair = taken == NULL ? NULL : Py_BuildValue("(ON)", e->keys, taken);
        if (pair == NULL || PyList_Append(out, pair) < 0) {
            Py_XDECREF(pair);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(pair);
    }
    return out;
}

static PyMethodDef Pending_methods[] = {
    {"add", (PyCFunction)Pending_add, METH_O, "add(event) -> 0 (not taken), 1, 2 (flush due)"},
    {"register", (PyCFunction)Pending_register, METH_VARARGS, "register(keys, kinds) -> Rows"},
    {"claim", (PyCFunction)Pending_claim, METH_NOARGS, "claim() -> the next number"},
    {"take", (PyCFunction)Pending_take, METH_NOARGS, "take() -> [(keys, Rows.take())]"},
    {NULL}
};

static PyMemberDef Pending_members[] = {
    {"count", T_LONGLONG, offsetof(Pending, count), READONLY, "events numbered so far"},
    {"flush_at", T_LONGLONG, offsetof(Pending, flush_at), 0,
     "the number whose event makes a flush due"},
    {NULL}
};

static PyTypeObject PendingType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "imload.journal._colbuf.Pending",
    .tp_basicsize = sizeof(Pending),
    .tp_dealloc = (destructor)Pending_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Pending(flush_at): a writer's events by key list (registered ones in typed "
              "buffers) and their numbers",
    .tp_methods = Pending_methods,
    .tp_members = Pending_members,
    .tp_init = (initproc)Pending_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_colbuf", .m_doc = "Typed column buffers", .m_size = -1,
};

PyMODINIT_FUNC PyInit__colbuf(void) {
    if (PyType_Ready(&RowsType) < 0 || PyType_Ready(&PendingType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "Rows", (PyObject *)&RowsType) < 0 ||
        PyModule_AddObjectRef(m, "Pending", (PyObject *)&PendingType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
