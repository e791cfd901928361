/* hitwatch native kernel: reading the file: SIGBUS on mapped reads, pread,
 * line starts, and the guess of a chunk's M from the lines before it.
 * Included by reader.h. */
#ifndef HITWATCH_READER_IO_H
#define HITWATCH_READER_IO_H

/* ------------------------------------------------- SIGBUS on mapped reads
 * A worker about to read the map registers the sigjmp_buf to go back to; the
 * handler jumps there when the signal hits a registered thread, and else does
 * what the previous disposition would have (Python's faulthandler, or the
 * default: end the process). Slots, not thread-local storage: a handler may
 * not allocate, and a module's TLS may be allocated on first use. */
#define HW_BUS_SLOTS 64
static struct {
    int used;
    pthread_t thread;
    sigjmp_buf *env;
} hw_bus[HW_BUS_SLOTS];
static struct sigaction hw_bus_previous;
static pthread_mutex_t hw_bus_mu = PTHREAD_MUTEX_INITIALIZER;
static int hw_bus_installed;

static void hw_bus_handler(int sig, siginfo_t *info, void *ctx) {
    pthread_t self = pthread_self();
    for (int i = 0; i < HW_BUS_SLOTS; i++) {
        if (__atomic_load_n(&hw_bus[i].used, __ATOMIC_ACQUIRE) == 1 &&
            pthread_equal(hw_bus[i].thread, self) && hw_bus[i].env != NULL)
            siglongjmp(*hw_bus[i].env, 1);
    }
    if (hw_bus_previous.sa_flags & SA_SIGINFO) {
        hw_bus_previous.sa_sigaction(sig, info, ctx);
        return;
    }
    void (*previous)(int) = hw_bus_previous.sa_handler;
    if (previous == SIG_IGN && info->si_code <= 0) return; /* sent, and ignored */
    if (previous == SIG_DFL || previous == SIG_IGN) {
        /* A fault no one handles: the default action, once this returns. */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    previous(sig);
}

/* Installs the handler once per process. 0, or -1 (then no map is used). */
static int hw_bus_install(void) {
    pthread_mutex_lock(&hw_bus_mu);
    if (!hw_bus_installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = hw_bus_handler;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGBUS, &sa, &hw_bus_previous) == 0) hw_bus_installed = 1;
    }
    int ok = hw_bus_installed;
    pthread_mutex_unlock(&hw_bus_mu);
    return ok ? 0 : -1;
}

/* Registers `env` for this thread: its slot, or -1 when all are taken. */
static int hw_bus_arm(sigjmp_buf *env) {
    for (int i = 0; i < HW_BUS_SLOTS; i++) {
        int expected = 0;
        if (__atomic_compare_exchange_n(&hw_bus[i].used, &expected, 2, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED)) {
            /* 2 while it is filled in: the handler only looks at 1 */
            hw_bus[i].thread = pthread_self();
            hw_bus[i].env = env;
            __atomic_store_n(&hw_bus[i].used, 1, __ATOMIC_RELEASE);
            return i;
        }
    }
    return -1;
}

/* Frees the slot *slot holds, if any, and sets it to -1. */
static void hw_bus_disarm(int *slot) {
    if (*slot < 0) return;
    hw_bus[*slot].env = NULL;
    __atomic_store_n(&hw_bus[*slot].used, 0, __ATOMIC_RELEASE);
    *slot = -1;
}

static ssize_t hw_pread(int fd, uint8_t *buf, size_t n, int64_t offset) {
    ssize_t got;
    do {
        got = pread(fd, buf, n, (off_t)offset);
    } while (got < 0 && errno == EINTR);
    return got;
}

/* The offset of the first line start at or after `at` (after a newline), or
 * -1 when there is none before the end of the file; -2 on a read error.
 * Reads a little first (the newline is usually a line away), then more. */
static int64_t hw_line_start(int fd, int64_t at, uint8_t *scratch, size_t n) {
    if (at <= 0) return 0;
    int64_t pos = at - 1;
    size_t want = n < 4096 ? n : 4096;
    for (;;) {
        ssize_t got = hw_pread(fd, scratch, want, pos);
        if (got < 0) return -2;
        if (got == 0) return -1;
        const uint8_t *nl = memchr(scratch, '\n', (size_t)got);
        if (nl) return pos + (nl - scratch) + 1;
        pos += got;
        if (want < n / 2) want *= 2;
    }
}

/* M at `begin` as a sequential run would most likely have it: the largest
 * timestamp among the whole lines of the window before it, or `known`, the
 * true M at an earlier chunk's end, when that is larger (a log whose second
 * half starts in the past: its lines stay below the first half's M). Both
 * are at most the true M, which is the largest timestamp read so far. */
static void hw_guess(hw_worker *W, int64_t begin, int64_t known, hw_time *t) {
    /* pread, not the map: the consumer may unmap the chunk before this one
     * (hw_reader_next) while this reads its end. */
    hw_kernel *K = &W->K;
    int64_t from = begin > HW_GUESS_WINDOW ? begin - HW_GUESS_WINDOW : 0;
    size_t n = (size_t)(begin - from);
    int64_t best = known;
    ssize_t got = n ? hw_pread(W->R->fd, W->buf, n, from) : 0;
    if (got > 0) {
        const uint8_t *p = W->buf, *end = W->buf + got;
        if (from > 0) { /* skip the partial first line */
            const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
            p = nl ? nl + 1 : end;
        }
        while (p < end) {
            const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
            const uint8_t *stop = nl ? nl : end;
            size_t len = (size_t)(stop - p);
            if (len && p[len - 1] == '\r') len--;
            if (len) {
                hw_rec r;
                int64_t nfields = 0;
                if (hw_parse_k(K, p, len, &r, &nfields) == HW_OK && r.ts > best)
                    best = r.ts;
            }
            p = nl ? nl + 1 : end;
        }
    }
    memset(t, 0, sizeof *t);
    t->started = best >= 0;
    t->max_ts = best;
    t->final = best - K->lag;
    t->min_ts = best;
}

#endif
