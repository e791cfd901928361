/* hitwatch.native._kernel: the Python face of kernel_core.h.
 *
 * Kernel(format, interval, lateness).feed(data, first_lineno, started, start,
 * final, max_ts, min_ts, pending_invalid) parses one block of whole lines with
 * the GIL released, then returns the block's aggregates (see _kernel.pyi).
 * Keys are decoded with errors="replace" here, and raw keys that decode to
 * the same text are merged, so Python only ever sees text keys.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <time.h>

#include "kernel_core.h"

typedef struct {
    PyObject_HEAD hw_kernel k;
    int ready;
    int busy;
} KernelObject;

static void Kernel_dealloc(KernelObject *self) {
    if (self->ready) hw_free(&self->k);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Kernel_init(KernelObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"format", "interval", "lateness", NULL};
    int format;
    long long interval, lateness;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iLL", kwlist, &format, &interval, &lateness))
        return -1;
    if (format != HW_CSV && format != HW_CLF) {
        PyErr_SetString(PyExc_ValueError, "format must be 0 (csv) or 1 (clf)");
        return -1;
    }
    if (interval <= 0 || lateness < 0 || lateness > (1LL << 60) || interval > (1LL << 60)) {
        PyErr_SetString(PyExc_ValueError, "interval or lateness out of range");
        return -1;
    }
    if (self->ready) hw_free(&self->k);
    self->ready = 0;
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)self << 16) ^ (uint64_t)clock();
    if (hw_init(&self->k, format, interval, lateness, hw_mix(seed)) < 0) {
        hw_free(&self->k);
        PyErr_NoMemory();
        return -1;
    }
    self->ready = 1;
    return 0;
}

/* counts[key.decode("utf-8", "replace")] += n */
static int add_count(PyObject *dict, const uint8_t *s, size_t n, int64_t count) {
    PyObject *key = PyUnicode_DecodeUTF8((const char *)s, (Py_ssize_t)n, "replace");
    if (key == NULL) return -1;
    PyObject *old = PyDict_GetItemWithError(dict, key);
    if (old == NULL && PyErr_Occurred()) {
        Py_DECREF(key);
        return -1;
    }
    long long total = count;
    if (old != NULL) total += PyLong_AsLongLong(old);
    PyObject *value = PyLong_FromLongLong(total);
    if (value == NULL) {
        Py_DECREF(key);
        return -1;
    }
    int rc = PyDict_SetItem(dict, key, value);
    Py_DECREF(key);
    Py_DECREF(value);
    return rc;
}

static PyObject *bytes_total(const hw_interval *iv) {
    if (iv->bytes_hi == 0) return PyLong_FromUnsignedLongLong(iv->bytes_lo);
    PyObject *hi = PyLong_FromUnsignedLongLong(iv->bytes_hi);
    PyObject *sh = PyLong_FromLong(64);
    PyObject *lo = PyLong_FromUnsignedLongLong(iv->bytes_lo);
    PyObject *out = NULL, *shifted = NULL;
    if (hi && sh && lo) shifted = PyNumber_Lshift(hi, sh);
    if (shifted) out = PyNumber_Or(shifted, lo);
    Py_XDECREF(hi);
    Py_XDECREF(sh);
    Py_XDECREF(lo);
    Py_XDECREF(shifted);
    return out;
}

static PyObject *export_block(hw_kernel *K) {
    PyObject *seconds = NULL, *intervals = NULL, *bad = NULL, *result = NULL;
    PyObject **dicts = NULL; /* 3 per interval slot */
    seconds = PyDict_New();
    intervals = PyList_New(0);
    bad = PyList_New((Py_ssize_t)K->bad_n);
    if (!seconds || !intervals || !bad) goto fail;
    for (size_t i = 0; i < K->secs_cap; i++) {
        if (K->secs[i].ts < 0) continue;
        PyObject *t = PyLong_FromLongLong(K->secs[i].ts);
        PyObject *h = PyLong_FromLongLong(K->secs[i].hits);
        int rc = t && h ? PyDict_SetItem(seconds, t, h) : -1;
        Py_XDECREF(t);
        Py_XDECREF(h);
        if (rc < 0) goto fail;
    }
    dicts = PyMem_Calloc(K->ivs_cap * 3, sizeof *dicts);
    if (dicts == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (size_t i = 0; i < K->ivs_cap; i++) {
        hw_interval *iv = &K->ivs[i];
        if (!iv->used) continue;
        for (int d = 0; d < 3; d++) {
            dicts[i * 3 + d] = PyDict_New();
            if (dicts[i * 3 + d] == NULL) goto fail;
        }
        PyObject *bytes = bytes_total(iv);
        if (bytes == NULL) goto fail;
        PyObject *item = Py_BuildValue(
            "(LLNLL(LLLLL)OOO)", (long long)iv->k, (long long)iv->hits, bytes,
            (long long)iv->late, (long long)iv->invalid, (long long)iv->status[0],
            (long long)iv->status[1], (long long)iv->status[2], (long long)iv->status[3],
            (long long)iv->status[4], dicts[i * 3 + HW_SECTION], dicts[i * 3 + HW_HOST],
            dicts[i * 3 + HW_METHOD]);
        if (item == NULL) goto fail;
        int rc = PyList_Append(intervals, item);
        Py_DECREF(item);
        if (rc < 0) goto fail;
    }
    for (size_t i = 0; i < K->keys_cap; i++) {
        hw_key *e = &K->keys[i];
        if (e->kind == UINT32_MAX) continue;
        /* find the interval's slot */
        size_t mask = K->ivs_cap - 1, j = hw_mix((uint64_t)e->k) & mask;
        while (K->ivs[j].used && K->ivs[j].k != e->k) j = (j + 1) & mask;
        if (!K->ivs[j].used) {
            PyErr_SetString(PyExc_SystemError, "hitwatch kernel: key without interval");
            goto fail;
        }
        if (add_count(dicts[j * 3 + e->kind], K->arena + e->off, e->len, e->count) < 0) goto fail;
    }
    for (size_t i = 0; i < K->bad_n; i++) {
        PyObject *t = Py_BuildValue("(LiL)", (long long)K->bad[i].lineno, K->bad[i].reason,
                                    (long long)K->bad[i].nfields);
        if (t == NULL) goto fail;
        PyList_SET_ITEM(bad, (Py_ssize_t)i, t);
    }
    result = Py_BuildValue("(iLLLLLLLLLLLLOOO)", K->started, (long long)K->start,
                           (long long)K->final, (long long)K->max_ts, (long long)K->min_ts,
                           (long long)K->pending_invalid, (long long)K->rows,
                           (long long)K->late, (long long)K->invalid, (long long)K->headers,
                           (long long)K->empty, (long long)K->lines, (long long)K->max_late,
                           seconds, intervals, bad);
fail:
    if (dicts) {
        for (size_t i = 0; i < K->ivs_cap * 3; i++) Py_XDECREF(dicts[i]);
        PyMem_Free(dicts);
    }
    Py_XDECREF(seconds);
    Py_XDECREF(intervals);
    Py_XDECREF(bad);
    return result;
}

static PyObject *Kernel_feed(KernelObject *self, PyObject *args) {
    Py_buffer buf;
    long long first_lineno, start, final, max_ts, min_ts, pending;
    int started;
    if (!self->ready) {
        PyErr_SetString(PyExc_RuntimeError, "Kernel not initialised");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "y*LpLLLLL", &buf, &first_lineno, &started, &start, &final,
                          &max_ts, &min_ts, &pending))
        return NULL;
    if (self->busy) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_RuntimeError, "Kernel.feed is not reentrant");
        return NULL;
    }
    self->busy = 1;
    hw_kernel *K = &self->k;
    hw_tables_clear(K);
    K->started = started;
    K->start = start;
    K->final = final;
    K->max_ts = max_ts;
    K->min_ts = min_ts;
    K->pending_invalid = pending;
    K->oom = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = hw_feed(K, buf.buf, (size_t)buf.len, first_lineno);
    Py_END_ALLOW_THREADS PyBuffer_Release(&buf);
    PyObject *out = NULL;
    if (rc < 0)
        PyErr_NoMemory();
    else
        out = export_block(K);
    hw_tables_clear(K);
    self->busy = 0;
    return out;
}

static PyMethodDef Kernel_methods[] = {
    {"feed", (PyCFunction)Kernel_feed, METH_VARARGS,
     "feed(data, first_lineno, started, start, final, max_ts, min_ts, pending_invalid)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject KernelType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "hitwatch.native._kernel.Kernel",
    .tp_basicsize = sizeof(KernelObject),
    .tp_dealloc = (destructor)Kernel_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Parses blocks of log lines and runs the time model over them.",
    .tp_methods = Kernel_methods,
    .tp_init = (initproc)Kernel_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef kernel_module = {
    PyModuleDef_HEAD_INIT, "_kernel", "hitwatch's compiled block kernel.", -1, NULL, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__kernel(void) {
    if (PyType_Ready(&KernelType) < 0) return NULL;
    PyObject *m = PyModule_Create(&kernel_module);
    if (m == NULL) return NULL;
    Py_INCREF(&KernelType);
    if (PyModule_AddObject(m, "Kernel", (PyObject *)&KernelType) < 0) {
        Py_DECREF(&KernelType);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "CSV", HW_CSV) < 0 ||
        PyModule_AddIntConstant(m, "CLF", HW_CLF) < 0 ||
        PyModule_AddIntConstant(m, "MAX_LINE", HW_MAX_LINE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
