/* hitwatch native kernel, part 4: the JSON line of a report, in C.
 *
 * sinks/jsonl.py's `report_line` is the contract (SPEC §5); this is the same
 * line, byte for byte, for the reports of an ordinary log, and None for
 * anything else, which the sink then leaves to Python: a name that is not
 * ASCII, two entries of one name in status or methods (a dict keeps the
 * first place and the last count), a count beyond 64 bits, or a time past
 * year 9999. At about 1800 reports per
 * million lines, encoding in Python was a tenth of a run's CPU time.
 *
 * rate and errors are the Report's own properties (Python's round, then
 * float repr), read through the object: exact by construction.
 */
#ifndef HITWATCH_JSONL_H
#define HITWATCH_JSONL_H

typedef struct {
    char *p;
    size_t n, cap;
    int failed; /* out of memory, or a value left to Python */
} hw_out;

static int hw_out_room(hw_out *o, size_t more) {
    if (o->n + more <= o->cap) return 0;
    size_t cap = o->cap ? o->cap : 1024;
    while (cap < o->n + more) cap *= 2;
    char *p = PyMem_Realloc(o->p, cap);
    if (p == NULL) {
        o->failed = 1;
        return -1;
    }
    o->p = p;
    o->cap = cap;
    return 0;
}

static void hw_put(hw_out *o, const char *s, size_t n) {
    if (o->failed || hw_out_room(o, n) < 0) return;
    memcpy(o->p + o->n, s, n);
    o->n += n;
}

#define HW_PUT_LIT(o, s) hw_put((o), (s), sizeof(s) - 1)

/* An int (exactly: a bool would print as True) that fits 64 bits, into *x;
 * else -1, with the value left to Python. */
static int hw_int(hw_out *o, PyObject *v, long long *x) {
    int overflow = 0;
    *x = PyLong_CheckExact(v) ? PyLong_AsLongLongAndOverflow(v, &overflow) : -1;
    if (!PyLong_CheckExact(v) || overflow || (*x == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        o->failed = 1;
        return -1;
    }
    return 0;
}

/* u in decimal, as %llu writes it: snprintf's format parsing was a tenth
 * of the encoder's time. */
static void hw_put_ull(hw_out *o, unsigned long long u) {
    char tmp[24], *w = tmp + sizeof tmp;
    do {
        *--w = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    hw_put(o, w, (size_t)(tmp + sizeof tmp - w));
}

/* x in decimal, as %lld writes it. */
static void hw_put_ll(hw_out *o, long long x) {
    if (x < 0) HW_PUT_LIT(o, "-");
    hw_put_ull(o, x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x);
}

static void hw_put_int(hw_out *o, PyObject *v) {
    long long x;
    if (hw_int(o, v, &x) < 0) return;
    hw_put_ll(o, x);
}

/* The two digits of 0 <= x < 100 at w. */
static inline void hw_d2(char *w, long long x) {
    w[0] = (char)('0' + x / 10);
    w[1] = (char)('0' + x % 10);
}

/* ASCII text as json's encode_basestring_ascii writes it: quoted, with `"`
 * and `\` escaped, \b \f \n \r \t, and other controls (DEL too) as \u00XX. */
static void hw_put_ascii(hw_out *o, const unsigned char *c, size_t len) {
    if (o->failed || hw_out_room(o, len * 6 + 2) < 0) return;
    char *w = o->p + o->n;
    *w++ = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = c[i];
        if (ch >= 0x20 && ch != 0x7f && ch != '"' && ch != '\\') {
            *w++ = (char)ch;
            continue;
        }
        *w++ = '\\';
        switch (ch) {
        case '"': *w++ = '"'; break;
        case '\\': *w++ = '\\'; break;
        case '\b': *w++ = 'b'; break;
        case '\f': *w++ = 'f'; break;
        case '\n': *w++ = 'n'; break;
        case '\r': *w++ = 'r'; break;
        case '\t': *w++ = 't'; break;
        default:
            *w++ = 'u';
            *w++ = '0';
            *w++ = '0';
            *w++ = "0123456789abcdef"[ch >> 4];
            *w++ = "0123456789abcdef"[ch & 15];
        }
    }
    *w++ = '"';
    o->n = (size_t)(w - o->p);
}

/* An ASCII str, as hw_put_ascii. Other text is left to Python. */
static void hw_put_name(hw_out *o, PyObject *s) {
    if (!PyUnicode_Check(s) || !PyUnicode_IS_ASCII(s)) {
        o->failed = 1;
        return;
    }
    hw_put_ascii(o, PyUnicode_1BYTE_DATA(s), (size_t)PyUnicode_GET_LENGTH(s));
}

/* How many (name, count) pairs `items` holds when it is a tuple of them;
 * else -1, with the report left to Python. */
static Py_ssize_t hw_pairs(hw_out *o, PyObject *items) {
    if (PyTuple_Check(items)) {
        Py_ssize_t n = PyTuple_GET_SIZE(items), i = 0;
        for (; i < n; i++) {
            PyObject *pair = PyTuple_GET_ITEM(items, i);
            if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) break;
        }
        if (i == n) return n;
    }
    o->failed = 1;
    return -1;
}

/* `"name":count,...` of (name, count) pairs whose names are all different. */
static void hw_put_object(hw_out *o, PyObject *items) {
    Py_ssize_t n = hw_pairs(o, items);
    for (Py_ssize_t i = 0; i < n && !o->failed; i++) {
        PyObject *pair = PyTuple_GET_ITEM(items, i);
        PyObject *name = PyTuple_GET_ITEM(pair, 0);
        for (Py_ssize_t j = 0; j < i; j++) {
            PyObject *other = PyTuple_GET_ITEM(PyTuple_GET_ITEM(items, j), 0);
            if (other == name || (PyUnicode_Check(other) && PyUnicode_Check(name) &&
                                  PyUnicode_Compare(other, name) == 0)) {
                o->failed = 1; /* a dict would merge them: Python's business */
                return;
            }
        }
        if (i) HW_PUT_LIT(o, ",");
        hw_put_name(o, name);
        HW_PUT_LIT(o, ":");
        hw_put_int(o, PyTuple_GET_ITEM(pair, 1));
    }
}

/* `{"name":"...","hits":n},...` */
static void hw_put_ranked(hw_out *o, PyObject *items) {
    Py_ssize_t n = hw_pairs(o, items);
    for (Py_ssize_t i = 0; i < n && !o->failed; i++) {
        PyObject *pair = PyTuple_GET_ITEM(items, i);
        if (i) HW_PUT_LIT(o, ",");
        HW_PUT_LIT(o, "{\"name\":");
        hw_put_name(o, PyTuple_GET_ITEM(pair, 0));
        HW_PUT_LIT(o, ",\"hits\":");
        hw_put_int(o, PyTuple_GET_ITEM(pair, 1));
        HW_PUT_LIT(o, "}");
    }
}

#define HW_LAST_ISO 253402300799LL /* 9999-12-31T23:59:59Z: past it, sinks/base.py shifts */

/* `"YYYY-MM-DDThh:mm:ssZ"`, as sinks/base.py's iso_utc (H. Hinnant's civil_from_days). */
static void hw_put_iso_ts(hw_out *o, long long ts) {
    if (ts < 0 || ts > HW_LAST_ISO) {
        o->failed = 1;
        return;
    }
    long long day = ts / 86400, sec = ts % 86400;
    long long z = day + 719468, era = z / 146097, doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    long long mday = doy - (153 * mp + 2) / 5 + 1;
    long long month = mp < 10 ? mp + 3 : mp - 9;
    long long year = yoe + era * 400 + (month <= 2);
    /* 0 <= year <= 9999 here: "YYYY-MM-DDThh:mm:ssZ" */
    char t[] = "\"0000-00-00T00:00:00Z\"";
    hw_d2(t + 1, year / 100);
    hw_d2(t + 3, year % 100);
    hw_d2(t + 6, month);
    hw_d2(t + 9, mday);
    hw_d2(t + 12, sec / 3600);
    hw_d2(t + 15, sec / 60 % 60);
    hw_d2(t + 18, sec % 60);
    hw_put(o, t, sizeof t - 1);
}

static void hw_put_iso(hw_out *o, PyObject *v) {
    long long ts;
    if (hw_int(o, v, &ts) < 0) return;
    hw_put_iso_ts(o, ts);
}

/* repr() of a float, as json writes it. */
static void hw_put_double(hw_out *o, double x) {
    if (o->failed) return;
    char *s = PyOS_double_to_string(x, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (s == NULL) {
        PyErr_Clear();
        o->failed = 1;
        return;
    }
    hw_put(o, s, strlen(s));
    PyMem_Free(s);
}

/* repr(round(x, digits)) for a finite float x. round() is dtoa's correctly
 * rounded decimal with `digits` places (mode 3) read back by strtod, which
 * is what formatting with 'f' and reading it back does, exactly. */
static void hw_put_rounded(hw_out *o, double x, int digits) {
    if (o->failed) return;
    char *s = PyOS_double_to_string(x, 'f', digits, 0, NULL);
    double r = s ? PyOS_string_to_double(s, NULL, NULL) : -1.0;
    PyMem_Free(s);
    if (s == NULL || (r == -1.0 && PyErr_Occurred())) {
        PyErr_Clear();
        o->failed = 1;
        return;
    }
    hw_put_double(o, r);
}

/* repr() of a float attribute (a property of the report). */
static void hw_put_repr(hw_out *o, PyObject *obj, PyObject *attr) {
    if (o->failed) return;
    PyObject *v = PyObject_GetAttr(obj, attr);
    if (v == NULL || !PyFloat_CheckExact(v)) {
        Py_XDECREF(v);
        PyErr_Clear();
        o->failed = 1;
        return;
    }
    hw_put_double(o, PyFloat_AS_DOUBLE(v));
    Py_DECREF(v);
}

/* The line written, as a str; NULL (no exception) when something was left
 * to Python or memory ran out. Frees the buffer. */
static PyObject *hw_out_str(hw_out *o) {
    PyObject *out = o->failed ? NULL : PyUnicode_DecodeASCII(o->p, (Py_ssize_t)o->n, NULL);
    PyMem_Free(o->p);
    if (out == NULL) PyErr_Clear();
    return out;
}

static PyObject *attr_rate, *attr_errors; /* interned "rate", "errors" */

/* report_line(report) -> str | None: see the top of this file. */
static PyObject *hw_report_line(PyObject *Py_UNUSED(module), PyObject *r) {
    if (!PyTuple_Check(r) || PyTuple_GET_SIZE(r) != 11) Py_RETURN_NONE;
    hw_out o = {NULL, 0, 0, 0};
#define F(i) PyTuple_GET_ITEM(r, (i))
    HW_PUT_LIT(&o, "{\"type\":\"stats\",\"start_ts\":");
    hw_put_int(&o, F(0));
    HW_PUT_LIT(&o, ",\"end_ts\":");
    hw_put_int(&o, F(1));
    HW_PUT_LIT(&o, ",\"start\":");
    hw_put_iso(&o, F(0));
    HW_PUT_LIT(&o, ",\"end\":");
    hw_put_iso(&o, F(1));
    HW_PUT_LIT(&o, ",\"hits\":");
    hw_put_int(&o, F(2));
    HW_PUT_LIT(&o, ",\"rate\":");
    hw_put_repr(&o, r, attr_rate);
    HW_PUT_LIT(&o, ",\"bytes\":");
    hw_put_int(&o, F(3));
    HW_PUT_LIT(&o, ",\"status\":{");
    hw_put_object(&o, F(4));
    HW_PUT_LIT(&o, "},\"methods\":{");
    hw_put_object(&o, F(5));
    HW_PUT_LIT(&o, "},\"sections\":[");
    hw_put_ranked(&o, F(6));
    HW_PUT_LIT(&o, "],\"hosts\":[");
    hw_put_ranked(&o, F(7));
    HW_PUT_LIT(&o, "],\"errors\":");
    hw_put_repr(&o, r, attr_errors);
    HW_PUT_LIT(&o, ",\"late\":");
    hw_put_int(&o, F(9));
    HW_PUT_LIT(&o, ",\"invalid\":");
    hw_put_int(&o, F(10));
    HW_PUT_LIT(&o, "}");
#undef F
    /* Whatever went wrong (even memory), Python's encoder will meet it too. */
    PyObject *out = hw_out_str(&o);
    return out ? out : Py_NewRef(Py_None);
}

/* `"name":count,...` or `{"name":"...","hits":n},...` of ranked keys. */
static void hw_put_keys(hw_out *o, const hw_ranked *r, size_t n, int as_objects) {
    for (size_t i = 0; i < n && !o->failed; i++) {
        if (i) HW_PUT_LIT(o, ",");
        if (as_objects) HW_PUT_LIT(o, "{\"name\":");
        hw_put_ascii(o, r[i].p, r[i].len);
        if (as_objects) HW_PUT_LIT(o, ",\"hits\":");
        else HW_PUT_LIT(o, ":");
        hw_put_ll(o, (long long)r[i].count);
        if (as_objects) HW_PUT_LIT(o, "}");
    }
}

#define HW_EXACT (1LL << 53) /* ints below this are exact doubles */

/* The JSON line of the report of a complete interval [start_ts, end_ts),
 * from the kernel's counts and its keys ranked as Engine._emit_report ranks
 * them (ASCII keys, all different): byte for byte what report_line writes
 * for that Report (tests hold the two together). NULL, with no exception,
 * when it is left to Python: a count too large to divide exactly as a
 * double, bytes past 64 bits, a time past year 9999. */
static PyObject *hw_interval_line(const hw_interval *iv, long long start_ts, long long end_ts,
                                  const hw_ranked *methods, size_t nm, const hw_ranked *sections,
                                  size_t ns, const hw_ranked *hosts, size_t nh) {
    static const char *classes[5] = {"\"1xx\":", "\"2xx\":", "\"3xx\":", "\"4xx\":", "\"5xx\":"};
    long long hits = iv->hits, span = end_ts - start_ts;
    if (iv->bytes_hi || hits < 0 || hits >= HW_EXACT || span <= 0 || span >= HW_EXACT)
        return NULL;
    hw_out o = {NULL, 0, 0, 0};
    HW_PUT_LIT(&o, "{\"type\":\"stats\",\"start_ts\":");
    hw_put_ll(&o, start_ts);
    HW_PUT_LIT(&o, ",\"end_ts\":");
    hw_put_ll(&o, end_ts);
    HW_PUT_LIT(&o, ",\"start\":");
    hw_put_iso_ts(&o, start_ts);
    HW_PUT_LIT(&o, ",\"end\":");
    hw_put_iso_ts(&o, end_ts);
    HW_PUT_LIT(&o, ",\"hits\":");
    hw_put_ll(&o, hits);
    HW_PUT_LIT(&o, ",\"rate\":");
    hw_put_rounded(&o, (double)hits / (double)span, 3);
    HW_PUT_LIT(&o, ",\"bytes\":");
    hw_put_ull(&o, iv->bytes_lo);
    HW_PUT_LIT(&o, ",\"status\":{");
    for (int c = 0, first = 1; c < 5; c++) {
        if (!iv->status[c]) continue;
        if (!first) HW_PUT_LIT(&o, ",");
        first = 0;
        hw_put(&o, classes[c], 6);
        hw_put_ll(&o, (long long)iv->status[c]);
    }
    HW_PUT_LIT(&o, "},\"methods\":{");
    hw_put_keys(&o, methods, nm, 0);
    HW_PUT_LIT(&o, "},\"sections\":[");
    hw_put_keys(&o, sections, ns, 1);
    HW_PUT_LIT(&o, "],\"hosts\":[");
    hw_put_keys(&o, hosts, nh, 1);
    HW_PUT_LIT(&o, "],\"errors\":");
    if (hits)
        hw_put_rounded(&o, (double)iv->status[4] / (double)hits, 4);
    else
        HW_PUT_LIT(&o, "0.0");
    HW_PUT_LIT(&o, ",\"late\":");
    hw_put_ll(&o, (long long)iv->late);
    HW_PUT_LIT(&o, ",\"invalid\":");
    hw_put_ll(&o, (long long)iv->invalid);
    HW_PUT_LIT(&o, "}");
    return hw_out_str(&o);
}

#endif
