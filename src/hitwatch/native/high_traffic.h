/* The high_traffic rule's sliding window in C (rules/high_traffic.py).
 *
 * scan(seconds, first, end, window, cut, total, firing, old) does what
 * HighTraffic.take_seconds does with its pure-Python loops: it takes the
 * hits of the seconds first, first + 1, ... from the engine's dict
 * `seconds` (second -> hits), keeps the total of the last `window` seconds
 * and notes every second where `total > cut` changes. `old` is the rule's
 * window before `first` (second -> hits, non-zero seconds only). Like
 * on_seconds it stops before end at the first second, after the first,
 * that has no hits while the total is 0 (the engine skips such stretches).
 * The seconds it took are removed from `seconds`, the others left as they
 * are.
 *
 * `cut` is limit // den: for integers, total * den > limit exactly when
 * total > limit // den, so the rule's rational comparison needs no
 * multiplication (and cannot overflow) here.
 *
 * Returns (flips, taken, total, window): flips is a list of (second,
 * total) where the state changed (they alternate, starting from the opposite
 * of `firing`), window the rule's new window dict. The engine uses it only
 * through the rule, and tests hold it to the pure loop.
 */
#ifndef HW_HIGH_TRAFFIC_H
#define HW_HIGH_TRAFFIC_H

#include <Python.h>
#include <stdint.h>

#define HW_SCAN_MAX ((int64_t)1 << 24) /* seconds per call: bounds the array below */
#define HW_SCAN_SPAN ((int64_t)1 << 61) /* |second| and window: sums cannot overflow */

/* seconds[key], as an int64 (0 when missing); -1 with an exception set. */
static int hw_dict_hits(PyObject *dict, long long key, long long *out, PyObject **key_out) {
    PyObject *k = PyLong_FromLongLong(key);
    if (k == NULL) return -1;
    PyObject *v = PyDict_GetItemWithError(dict, k); /* borrowed */
    *out = 0;
    if (v == NULL) {
        Py_DECREF(k);
        return PyErr_Occurred() ? -1 : 0;
    }
    long long h = PyLong_AsLongLong(v);
    if (h == -1 && PyErr_Occurred()) {
        Py_DECREF(k);
        return -1;
    }
    *out = h;
    if (key_out) {
        *key_out = k;
    } else {
        Py_DECREF(k);
    }
    return 1;
}

static int hw_dict_put(PyObject *dict, long long key, long long value) {
    PyObject *k = PyLong_FromLongLong(key), *v = PyLong_FromLongLong(value);
    int rc = k && v ? PyDict_SetItem(dict, k, v) : -1;
    Py_XDECREF(k);
    Py_XDECREF(v);
    return rc;
}

static PyObject *hw_scan(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *seconds, *old;
    long long first, end, window, cut, total;
    int firing;
    if (!PyArg_ParseTuple(args, "O!LLLLLpO!", &PyDict_Type, &seconds, &first, &end, &window, &cut,
                          &total, &firing, &PyDict_Type, &old))
        return NULL;
    if (end < first || end - first > HW_SCAN_MAX || first < -HW_SCAN_SPAN ||
        end > HW_SCAN_SPAN || window <= 0 || window > HW_SCAN_SPAN || total < 0 || cut < 0) {
        PyErr_SetString(PyExc_ValueError, "scan: seconds, window or totals out of range");
        return NULL;
    }
    int64_t n = end - first;
    int64_t *hits = PyMem_Malloc((size_t)(n ? n : 1) * sizeof *hits);
    PyObject *flips = PyList_New(0), *kept = NULL, *result = NULL;
    if (hits == NULL || flips == NULL) {
        if (hits == NULL) PyErr_NoMemory();
        goto done;
    }
    int64_t taken = 0;
    int old_empty = PyDict_GET_SIZE(old) == 0;
    for (int64_t i = 0; i < n; i++) {
        long long h;
        PyObject *key = NULL;
        int found = hw_dict_hits(seconds, first + i, &h, &key);
        if (found < 0) goto done;
        if (h < 0 || (i >= 1 && h == 0 && total == 0)) {
            Py_XDECREF(key);
            if (h >= 0) break; /* idle from here: the engine skips to the next second with hits */
            PyErr_SetString(PyExc_ValueError, "scan: negative hits");
            goto done;
        }
        if (found) {
            int rc = PyDict_DelItem(seconds, key);
            Py_DECREF(key);
            if (rc < 0) goto done;
        }
        hits[i] = h;
        long long out = 0;
        if (i >= window) {
            out = hits[i - window];
        } else if (!old_empty && hw_dict_hits(old, first + i - window, &out, NULL) < 0) {
            goto done;
        }
        if (h > LLONG_MAX - total) {
            PyErr_SetString(PyExc_OverflowError, "scan: total hits overflow");
            goto done;
        }
        total += h - out;
        int now = total > cut;
        if (now != firing) {
            firing = now;
            PyObject *flip = Py_BuildValue("(LL)", first + i, total);
            int rc = flip ? PyList_Append(flips, flip) : -1;
            Py_XDECREF(flip);
            if (rc < 0) goto done;
        }
        taken = i + 1;
    }
    /* The window after the last second taken: seconds > keep. */
    kept = PyDict_New();
    if (kept == NULL) goto done;
    int64_t last = first + taken - 1, keep = last - window;
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(old, &pos, &k, &v)) {
        long long t = PyLong_AsLongLong(k);
        if (t == -1 && PyErr_Occurred()) goto done;
        if (t > keep && PyDict_SetItem(kept, k, v) < 0) goto done;
    }
    for (int64_t t = keep + 1 > first ? keep + 1 : first; t <= last; t++)
        if (hits[t - first] && hw_dict_put(kept, t, hits[t - first]) < 0) goto done;
    result = Py_BuildValue("(OLLO)", flips, (long long)taken, total, kept);
done:
    PyMem_Free(hits);
    Py_XDECREF(flips);
    Py_XDECREF(kept);
    return result;
}

#endif
