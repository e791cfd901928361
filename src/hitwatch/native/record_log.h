/* hitwatch native kernel: the accepted-record log, written per record
 * (hw_log_record) and read back (hw_log_next). Included by kernel_core.h. */
#ifndef HITWATCH_RECORD_LOG_H
#define HITWATCH_RECORD_LOG_H

/* ------------------------------------------------ accepted-record log
 *
 * With K->records set, every record the kernel counts (accepted: not late,
 * not invalid, not a header or an empty line) is also written, in reading
 * order, to K->log, which hw_detach hands over with the result (Kernel(...,
 * records=True): the 19th element of `Fed`, decoded by
 * hitwatch.native.decode_records and _kernel.records_columns). Per record,
 * little-endian, no padding:
 *
 *     int64  ts
 *     uint16 status        100..599, the three digits as a number, | flags:
 *                          HW_LOG_DURATION, HW_LOG_VHOST (other bits 0)
 *     uint16 method_len
 *     uint32 section_len
 *     uint32 host_len
 *     float64 duration     with HW_LOG_DURATION: seconds, NaN for none
 *     uint32 vhost_len     with HW_LOG_VHOST
 *     method, section, host bytes (method_len, section_len, host_len of them)
 *     vhost bytes          with HW_LOG_VHOST
 *
 * The keys are the bytes the kernel counts, raw (not decoded; "(other)" where
 * it has HW_OTHER). The flags are set on every record of a format that has
 * vhosts or durations (a description's), on none of the others': logs of
 * CSV and CLF are as they always were. A log holds the records of the
 * lines of one feed (one block of a file), so it is at most a few times the
 * block's size. */
#define HW_LOG_HEAD 20
#define HW_LOG_DURATION 0x4000
#define HW_LOG_VHOST 0x8000
#define HW_LOG_STATUS 0x03FF /* the status's bits; the others are flags or 0 */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HW_LITTLE 1 /* the log's order: its numbers are plain loads and stores */
#else
#define HW_LITTLE 0
#endif

static inline void hw_put_le(uint8_t *o, uint64_t v, int n) {
#if HW_LITTLE
    memcpy(o, &v, (size_t)n);
#else
    for (int i = 0; i < n; i++) o[i] = (uint8_t)(v >> (8 * i));
#endif
}

/* Powers of two: buffers handed back for reuse then fit most logs. */
static HW_NOINLINE int hw_log_grow(hw_kernel *K, size_t need) {
    size_t cap = K->log_cap < 4096 ? 4096 : K->log_cap;
    while (cap < need) cap *= 2;
    uint8_t *log = realloc(K->log, cap);
    if (log == NULL) return -1;
    K->log = log;
    K->log_cap = cap;
    return 0;
}

/* Writes record r to the log; the log's length moves only once the whole
 * record is there (a worker's block may be cut short by SIGBUS, reader_io.h). */
static int hw_log_record(hw_kernel *K, const hw_rec *r) {
    size_t ml = r->method_len, sl = r->section_len, hl = r->host_len;
    size_t vl = K->with_vhost ? r->vhost_len : 0;
    size_t extra = (K->with_duration ? 8 : 0) + (K->with_vhost ? 4 : 0);
    /* a method is at most 20 bytes, a key at most a line (HW_MAX_LINE) */
    if (ml > UINT16_MAX || sl > UINT32_MAX || hl > UINT32_MAX || vl > UINT32_MAX) return -1;
    size_t need = K->log_n + HW_LOG_HEAD + extra + ml + sl + hl + vl;
    if (need > K->log_cap && hw_log_grow(K, need) < 0) return -1;
    uint8_t *o = K->log + K->log_n;
    const uint8_t *d = r->status;
    unsigned status = (unsigned)(d[0] - '0') * 100 + (unsigned)(d[1] - '0') * 10 +
                      (unsigned)(d[2] - '0');
    if (K->with_duration) status |= HW_LOG_DURATION;
    if (K->with_vhost) status |= HW_LOG_VHOST;
    hw_put_le(o, (uint64_t)r->ts, 8);
    hw_put_le(o + 8, status, 2);
    hw_put_le(o + 10, ml, 2);
    hw_put_le(o + 12, sl, 4);
    hw_put_le(o + 16, hl, 4);
    o += HW_LOG_HEAD;
    if (K->with_duration) {
        uint64_t bits = 0x7FF8000000000000ULL; /* NaN: none */
        if (r->has_duration) memcpy(&bits, &r->duration, 8);
        hw_put_le(o, bits, 8);
        o += 8;
    }
    if (K->with_vhost) {
        hw_put_le(o, vl, 4);
        o += 4;
    }
    memcpy(o, r->method, ml);
    memcpy(o + ml, r->section, sl);
    memcpy(o + ml + sl, r->host, hl);
    if (vl) memcpy(o + ml + sl + hl, r->vhost, vl);
    K->log_n = need;
    return 0;
}

/* Reading a log back (_kernel.c's records_columns; the fuzzer). */
typedef struct {
    int64_t ts;
    unsigned status; /* 100..599, without the flags */
    const uint8_t *method, *section, *host, *vhost;
    size_t method_len, section_len, host_len, vhost_len;
    int has_vhost;    /* HW_LOG_VHOST: the record has the vhost column */
    int dur_column;   /* HW_LOG_DURATION: the record has the duration column... */
    int has_duration; /* ...and a duration in it (not NaN) */
    double duration;
} hw_log_rec;

static inline uint64_t hw_get_le(const uint8_t *s, int n) {
    uint64_t v = 0;
#if HW_LITTLE
    memcpy(&v, s, (size_t)n);
#else
    for (int i = n - 1; i >= 0; i--) v = v << 8 | s[i];
#endif
    return v;
}

/* The record at *p of a log that ends at `end`: its fields, and *p moved
 * past it. 0, or -1 when the log is malformed there (cut short, a length
 * past its end, a status out of 100..599, an unknown flag); nothing outside
 * [*p, end) is read. */
static HW_ALWAYS_INLINE int hw_log_next(const uint8_t **p, const uint8_t *end, hw_log_rec *r) {
    const uint8_t *q = *p;
    if ((size_t)(end - q) < HW_LOG_HEAD) return -1;
    uint64_t ts = hw_get_le(q, 8);
    memcpy(&r->ts, &ts, 8); /* int64_t is two's complement: no conversion to define */
    unsigned status = (unsigned)hw_get_le(q + 8, 2);
    r->method_len = (size_t)hw_get_le(q + 10, 2);
    r->section_len = (size_t)hw_get_le(q + 12, 4);
    r->host_len = (size_t)hw_get_le(q + 16, 4);
    r->status = status & HW_LOG_STATUS;
    if (r->status < 100 || r->status > 599) return -1;
    if (status & ~(unsigned)(HW_LOG_STATUS | HW_LOG_DURATION | HW_LOG_VHOST)) return -1;
    q += HW_LOG_HEAD;
    size_t left = (size_t)(end - q); /* each length checked alone: no sum to overflow */
    r->dur_column = (status & HW_LOG_DURATION) != 0;
    r->has_duration = 0;
    r->duration = 0;
    if (r->dur_column) {
        if (left < 8) return -1;
        uint64_t bits = hw_get_le(q, 8);
        memcpy(&r->duration, &bits, 8);
        r->has_duration = r->duration == r->duration; /* not NaN */
        q += 8;
        left -= 8;
    }
    r->has_vhost = (status & HW_LOG_VHOST) != 0;
    r->vhost_len = 0;
    if (r->has_vhost) {
        if (left < 4) return -1;
        r->vhost_len = (size_t)hw_get_le(q, 4);
        q += 4;
        left -= 4;
    }
    if (r->method_len > left) return -1;
    left -= r->method_len;
    if (r->section_len > left) return -1;
    left -= r->section_len;
    if (r->host_len > left) return -1;
    left -= r->host_len;
    if (r->vhost_len > left) return -1;
    r->method = q;
    r->section = q + r->method_len;
    r->host = r->section + r->section_len;
    r->vhost = r->host + r->host_len;
    *p = r->vhost + r->vhost_len;
    return 0;
}

#endif
