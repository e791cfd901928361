/* hitwatch native kernel, part 3: reading a regular file with worker threads.
 *
 * The file is cut into chunks of whole lines (CHUNK bytes, moved to the next
 * line start). Each worker runs the kernel (kernel_core.h) over one chunk at
 * a time, block by block, and queues what each block hands over; the
 * consumer (hw_reader_next) takes the results strictly in file order. No
 * Python here: the workers never need the GIL.
 *
 * With two workers, chunk c + 1 is read while chunk c is: its time state at
 * the start is not known yet, so the worker guesses it (M = the largest
 * timestamp of the lines just before the chunk, which in any real log is
 * the true M) and the consumer checks the guess when chunk c is done: the
 * state at the end of chunk c must be exactly the guessed one (started,
 * same M, hence same F). Processing a chunk depends on nothing else, so its
 * results are then exactly those of a sequential run. A wrong guess is
 * thrown away and the chunk read again from the true state: slower, never
 * different. Memory: at most AHEAD chunks past the one being consumed.
 *
 * Workers parse the file where it lies, in a read-only map of it, rather
 * than copying it into a buffer with pread (a quarter of a worker's time on
 * a warm file, in perf's samples). A mapped page past the end of a file that shrank while it
 * was read (copytruncate) raises SIGBUS: each block checks the file's size
 * first, and a SIGBUS during a block's reads (the file shrank in between)
 * jumps back out of it; the chunk then ends with an error. pread remains for
 * what the map does not cover: the unfinished line before the first chunk,
 * a line longer than a block, a file that grew, or no map at all.
 *
 * With records on (Kernel(..., records=True)), each result carries the log
 * of the records it accepted (record_log.h, hw_log_record): a chunk thrown
 * away after a wrong guess takes its logs with it, like its counts. Logs
 * are up to half of what was read (CSV's short lines), so chunks are smaller
 * then (HW_RECORDS_CHUNK, 4 MiB: with 8 MiB the queued logs took the 10M-line
 * CSV bench file to 67 MB of peak RSS, now 59 MB; the guess window went from
 * 1 MiB to 256 KiB so that the smaller chunks read no more lines twice than
 * before), and their buffers go round: the consumer gives
 * them back to a pool the workers take from. Made by the workers and freed
 * by the consumer, they left the malloc heap holding 35 MB more than they
 * ever needed at once on a 10M-line log.
 *
 * Here: the reader's state; the headers it includes hold the rest:
 * reader_io.h (SIGBUS on mapped reads, pread, the guess of a chunk's M),
 * reader_worker.h (the workers: a chunk block by block) and
 * reader_consumer.h (hw_reader_next; starting and freeing a reader).
 */
#ifndef HITWATCH_READER_H
#define HITWATCH_READER_H

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernel_core.h"

#define HW_AHEAD 2          /* chunks a worker may run past the consumer's */
#define HW_GUESS_WINDOW (256 << 10) /* bytes read before a chunk to guess its M */
#define HW_MAX_WORKERS 4
#define HW_DROP_IDLE (1 << 20) /* bytes read but not dropped that the consumer drops when idle */
#define HW_DROP_SELF (4 << 20) /* ... that a worker drops itself (bounds the RSS) */
#define HW_RECORDS_CHUNK (4 << 20) /* the largest chunk with records on */
#define HW_LOG_POOL 32             /* record log buffers kept for the workers */

enum { HW_TODO = 0, HW_RUNNING = 1, HW_DONE = 2 };

typedef struct {
    int started;
    int64_t start, final, max_ts, min_ts, pending_invalid;
} hw_time;

static void hw_time_get(const hw_kernel *K, hw_time *t) {
    t->started = K->started;
    t->start = K->start;
    t->final = K->final;
    t->max_ts = K->max_ts;
    t->min_ts = K->min_ts;
    t->pending_invalid = K->pending_invalid;
}

static void hw_time_set(hw_kernel *K, const hw_time *t) {
    K->started = t->started;
    K->start = t->start;
    K->final = t->final;
    K->max_ts = t->max_ts;
    K->min_ts = t->min_ts;
    K->pending_invalid = t->pending_invalid;
}

typedef struct {
    int64_t begin, end; /* bytes [begin, end); end < 0: to the end of the file */
    int state;          /* HW_TODO, HW_RUNNING, HW_DONE */
    int valid;          /* its start state is known to be the true one (set when it
                           is picked with the true state, or when its guess is checked) */
    int redo;           /* the guess was wrong: the worker throws its work away */
    int guess_ready;    /* `guess` is set (a worker guesses without the lock) */
    hw_time guess;      /* the start state it was run from */
    hw_time end_state;  /* the state after its last line (when HW_DONE) */
    int64_t read_to, dropped_to; /* pages of the map: read up to, dropped from the start up to */
    hw_result *head, *tail;
} hw_chunk;

struct hw_reader;

typedef struct {
    struct hw_reader *R;
    pthread_t thread;
    int running;
    hw_kernel K;
    uint8_t *buf;
    int bus_slot; /* its entry in hw_bus while it reads the map, else -1 */
    hw_ranked *rank_buf; /* hw_compact's scratch */
    size_t rank_cap;
    int64_t floor; /* intervals up to it go over as counts (see hw_compact_result) */
} hw_worker;

typedef struct hw_reader {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fd;
    size_t block;
    hw_chunk *chunks;
    size_t n_chunks, cur; /* cur: the chunk the consumer takes results from */
    int stop, failed;     /* failed: out of memory in a worker */
    hw_time first;        /* the true state at the start of chunk 0 */
    uint8_t *head;        /* bytes before chunk 0's (an unfinished line) */
    size_t head_n;
    int skipping;         /* chunk 0 starts inside an overlong line */
    int64_t first_lineno, next_lineno; /* absolute numbers of lines */
    int64_t base;         /* added to the line numbers of chunk cur's invalid lines */
    hw_worker workers[HW_MAX_WORKERS];
    int n_workers;
    int64_t guessed, redone; /* chunks run from a guess; guesses found wrong */
    /* The timeline's start, smallest ts before it and invalid lines before it,
     * once a result handed over has started: they never change again. */
    int have_start;
    int64_t start, min_ts, pending_invalid;
    const uint8_t *map; /* the file's first map_n bytes, or NULL: pread only */
    int64_t unmapped;   /* bytes [0, unmapped) of the map are unmapped (a page multiple) */
    int64_t map_n;
    int64_t page; /* the page size */
    int unchecked; /* tests: the file's size is not checked before each block */
    /* Complete intervals past the floor are compacted by the workers for
     * Report (hw_compact) when top >= 0; the engine holds counts of
     * intervals up to floor when the read starts. */
    int64_t top, floor;
    /* Intervals a chunk handed over unfinished at its end (the consumer's):
     * the next chunk's counts of them are added here, and they go on with the
     * result in which they are complete (or the last one), compacted then by
     * the consumer, so that Python never merges and ranks their keys. */
    hw_interval **carry;
    size_t carry_n, carry_cap;
    /* Record log buffers handed back by the consumer, for the workers. */
    struct {
        uint8_t *p;
        size_t cap;
    } logs[HW_LOG_POOL];
    size_t logs_n;
    /* Lazy logs: a block read from the map, whose bytes are the file's own,
     * carries its offset instead of its log, which Python makes again by
     * reading those bytes from the same state if an alert needs them. */
    int lazy;
} hw_reader;

#define HW_SHRANK (-2) /* hw_result.error: the file shrank under a mapped read */

#include "reader_io.h"
#include "reader_worker.h"
#include "reader_consumer.h"

#endif
