/* hitwatch.native._kernel: the Python face of kernel_core.h. Bytes in, counts out.
 *
 * Kernel(format, interval, lateness, top, records, desc): set_state(..., floor) takes the
 * engine's time state while the kernel holds no counts, and the largest k of
 * an interval the engine holds counts of (complete intervals past it are
 * handed over ranked, see export_ready); feed(data, first_lineno, last, all)
 * parses the whole lines of `data` (all of it when `last`) with the GIL
 * released and returns the counts it can hand over (see _kernel.pyi).
 * start(fd, ...) does the same for a regular file with worker threads that
 * read it (reader.h), and next() returns their results in order.
 * Keys are decoded with errors="replace" here, and raw keys that decode to
 * the same text are merged, so Python only ever sees text keys.
 * With records=True each result also carries the log of the records it
 * accepted, as bytes (record_log.h, hw_log_record), which Python decodes
 * only when a rule needs them: records_columns(log) gives its columns.
 * Format DESC reads any text format from its description (describe.h; `desc`,
 * as hitwatch.native.description makes it): its results carry the vhosts
 * and durations of the format's records too (see _kernel.pyi).
 *
 * Here: the Kernel type (its state, init and method table) and the module;
 * the headers it includes hold the rest: py_result.h (a result as Python
 * objects: export_ready, result_to_python), py_kernel_methods.h (Kernel's
 * feeding and reader methods) and py_records.h (record logs as columns).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <limits.h>
#include <time.h>

#include "kernel_core.h"

#ifndef _WIN32
#define HW_THREADS 1
#include "reader.h"
#endif

typedef struct {
    PyObject_HEAD hw_kernel k;
    hw_desc desc; /* format DESC: the description, which k (and the workers) read */
    int ready;
    int busy;
    /* Complete intervals with k > floor are ranked here for Report (see
     * export_ready); top < 0 turns that off. The engine may hold counts of
     * intervals up to floor, which must be handed over as counts to merge. */
    long long top, floor;
    hw_ranked *rank_buf;
    size_t rank_cap;
#ifdef HW_THREADS
    hw_reader rd;
    int reading;       /* rd was started and not freed yet */
    int pending_error; /* an errno to raise at the next next() */
    long long chunks, guessed, redone; /* of the last file read */
#endif
} KernelObject;

#ifdef HW_THREADS
static void reader_stop(KernelObject *self);
#endif

static void Kernel_dealloc(KernelObject *self) {
#ifdef HW_THREADS
    reader_stop(self);
#endif
    if (self->ready) hw_free(&self->k);
    hw_desc_free(&self->desc);
    free(self->rank_buf);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Kernel_init(KernelObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"format", "interval", "lateness", "top", "records", "desc", NULL};
    int format, records = 0;
    long long interval, lateness, top = -1;
    Py_buffer desc = {0};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iLL|Lpy*", kwlist, &format, &interval,
                                     &lateness, &top, &records, &desc))
        return -1;
    int has_desc = desc.obj != NULL;
    hw_desc loaded;
    memset(&loaded, 0, sizeof loaded);
    const char *why = NULL;
    if (format != HW_CSV && format != HW_CLF && format != HW_DESC)
        why = "format must be 0 (csv), 1 (clf) or 2 (desc)";
    else if ((format == HW_DESC) != has_desc)
        why = "a description goes with format 2 (desc), and only with it";
    else if (has_desc)
        why = hw_desc_load(&loaded, desc.buf, (size_t)desc.len);
    if (has_desc) PyBuffer_Release(&desc);
    if (why) {
        PyErr_SetString(PyExc_ValueError, why);
        return -1;
    }
    if (interval <= 0 || lateness < 0 || lateness > (1LL << 60) || interval > (1LL << 60)) {
        PyErr_SetString(PyExc_ValueError, "interval or lateness out of range");
        return -1;
    }
    if (self->busy) {
        hw_desc_free(&loaded);
        PyErr_SetString(PyExc_RuntimeError, "Kernel is busy");
        return -1;
    }
    if (self->ready) hw_free(&self->k);
    self->ready = 0;
    hw_desc_free(&self->desc);
    self->desc = loaded;
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)self << 16) ^ (uint64_t)clock();
    if (hw_init(&self->k, format, interval, lateness, hw_mix(seed)) < 0) {
        hw_free(&self->k);
        PyErr_NoMemory();
        return -1;
    }
    if (format == HW_DESC) hw_set_desc(&self->k, &self->desc);
    self->k.records = records;
    self->ready = 1;
    self->top = top < 0 ? -1 : top;
    self->floor = LLONG_MAX;
    return 0;
}

#include "py_result.h"
#include "py_kernel_methods.h"

static PyMethodDef Kernel_methods[] = {
    {"set_state", (PyCFunction)Kernel_set_state, METH_VARARGS,
     "set_state(started, start, final, max_ts, min_ts, pending_invalid, floor=no ranking)"},
    {"feed", (PyCFunction)Kernel_feed, METH_VARARGS, "feed(data, first_lineno, last, all)"},
#ifdef HW_THREADS
    {"start", (PyCFunction)Kernel_start, METH_VARARGS,
     "start(fd, offset, head, first_lineno, block, skipping, workers, chunk, map=True, size=-1, "
     "check=True, lazy=False): read a regular file with worker threads, in a map of it unless "
     "map is false (tests: size >= 0 is taken as its size at the start, check=False skips "
     "checking it before each mapped block); lazy: a mapped block's result carries its file "
     "offset instead of its record log"},
    {"next", (PyCFunction)Kernel_next, METH_NOARGS,
     "next(): the next result of the file started by start(), in order, or None at the end"},
    {"stop", (PyCFunction)Kernel_stop, METH_NOARGS, "stop(): stop the threads, if any"},
    {"chunks", (PyCFunction)Kernel_chunks, METH_NOARGS,
     "chunks(): (chunks, started from a guess, guesses found wrong) of the last file read"},
#endif
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

static PyObject *hw_classify_line(PyObject *Py_UNUSED(module), PyObject *line) {
    char *p;
    Py_ssize_t n;
    if (PyBytes_AsStringAndSize(line, &p, &n) < 0) return NULL;
    uint8_t *scratch = PyMem_Malloc(2 * HW_MAX_LINE + 64);
    if (scratch == NULL) return PyErr_NoMemory();
    int kinds = hw_classify((const uint8_t *)p, (size_t)n, scratch);
    PyMem_Free(scratch);
    return PyLong_FromLong(kinds);
}

#include "py_records.h"

/* ------------------------------------------------------ descriptions */

static PyObject *hw_describe_problem(PyObject *Py_UNUSED(module), PyObject *arg) {
    Py_buffer buf;
    if (PyObject_GetBuffer(arg, &buf, PyBUF_SIMPLE) < 0) return NULL;
    hw_desc D;
    const char *why = hw_desc_load(&D, buf.buf, (size_t)buf.len);
    PyBuffer_Release(&buf);
    if (why) return PyUnicode_FromString(why);
    hw_desc_free(&D);
    Py_RETURN_NONE;
}

/* parse_line(desc, line): one line read with a description, as the kernel
 * reads it (for tests): (ts, bytes, section, host, status, method, vhost,
 * duration or None), keys decoded with errors="replace", or the reason
 * code of an invalid line (100: a header). */
static PyObject *hw_parse_desc_line(PyObject *Py_UNUSED(module), PyObject *args) {
    Py_buffer desc, line;
    if (!PyArg_ParseTuple(args, "y*y*", &desc, &line)) return NULL;
    hw_desc D;
    const char *why = hw_desc_load(&D, desc.buf, (size_t)desc.len);
    PyBuffer_Release(&desc);
    if (why) {
        PyBuffer_Release(&line);
        PyErr_SetString(PyExc_ValueError, why);
        return NULL;
    }
    hw_kernel K;
    PyObject *out = NULL;
    if (hw_init(&K, HW_DESC, 1, 0, 0) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    hw_set_desc(&K, &D);
    const uint8_t *p = line.buf;
    size_t n = (size_t)line.len;
    if (n && p[n - 1] == '\r') n--;
    hw_rec r;
    int64_t nfields = 0;
    int reason = hw_parse_k(&K, p, n, &r, &nfields);
    if (reason != HW_OK) {
        out = PyLong_FromLong(reason);
        goto done;
    }
    PyObject *duration = r.has_duration ? PyFloat_FromDouble(r.duration) : Py_NewRef(Py_None);
#define HW_TEXT(s, n) PyUnicode_DecodeUTF8((const char *)(s), (Py_ssize_t)(n), "replace")
    PyObject *keys[5] = {HW_TEXT(r.section, r.section_len), HW_TEXT(r.host, r.host_len),
                         HW_TEXT(r.status, 3), HW_TEXT(r.method, r.method_len),
                         HW_TEXT(r.vhost, r.vhost_len)};
#undef HW_TEXT
    if (duration && keys[0] && keys[1] && keys[2] && keys[3] && keys[4])
        out = Py_BuildValue("(LLOOOOOO)", (long long)r.ts, (long long)r.nbytes, keys[0], keys[1],
                            keys[2], keys[3], keys[4], duration);
    Py_XDECREF(duration);
    for (int i = 0; i < 5; i++) Py_XDECREF(keys[i]);
done:
    hw_free(&K);
    hw_desc_free(&D);
    PyBuffer_Release(&line);
    return out;
}

static PyMethodDef module_methods[] = {
    {"classify", (PyCFunction)hw_classify_line, METH_O,
     "classify(line): what format detection asks of a line without its line ending, as "
     "bits: 1 a CSV record, 2 a CLF record, 4 CLF with referer and user agent (see parse.h)"},
    {"records_columns", (PyCFunction)hw_records_columns, METH_O,
     "records_columns(log): (ts, sections, hosts, methods, statuses) of a record log "
     "(Kernel(..., records=True)), as lists; keys decoded with errors=\"replace\", statuses "
     "as their three digits; ValueError when it is malformed"},
    {"records_full", (PyCFunction)hw_records_full, METH_VARARGS,
     "records_full(log, first=-inf, last=inf): records_columns(log) and (vhosts, durations), "
     "each None when no record of the log has it; only the records with ts in [first, last]"},
    {"records_tally", (PyCFunction)hw_records_tally, METH_VARARGS,
     "records_tally(log, first=-inf, last=inf): (ts, sections, hosts, methods, statuses, "
     "vhosts, counts): one row per distinct record with ts in [first, last] and how many "
     "there were, in order of first appearance; vhosts \"\" when a record has none"},
    {"describe_problem", (PyCFunction)hw_describe_problem, METH_O,
     "describe_problem(desc): why the kernel cannot read this description, or None"},
    {"parse_line", (PyCFunction)hw_parse_desc_line, METH_VARARGS,
     "parse_line(desc, line): the record the kernel reads from one line with a description "
     "(ts, bytes, section, host, status, method, vhost, duration), or its reason code"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef kernel_module = {
    PyModuleDef_HEAD_INIT, "_kernel", "hitwatch's compiled block kernel.", -1, module_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__kernel(void) {
    if (PyType_Ready(&KernelType) < 0) return NULL;
    for (int c = 0; c < 5; c++) {
        char name[4] = {(char)('1' + c), 'x', 'x', 0};
        if (class_names[c] == NULL && (class_names[c] = PyUnicode_InternFromString(name)) == NULL)
            return NULL;
    }
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
        PyModule_AddIntConstant(m, "DESC", HW_DESC) < 0 ||
        PyModule_AddStringConstant(m, "UNIDATA_VERSION", HW_UNIDATA_VERSION) < 0 ||
        PyModule_AddIntConstant(m, "MAX_LINE", HW_MAX_LINE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
