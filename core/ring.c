/* Frame ring implementation: see ring.h for the contract, docs/protocol.md for the layout. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE 1

#include "ring.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MAP_POPULATE
#define MAP_POPULATE 0
#endif

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Parts at least this large are copied with non-temporal stores (x86): a frame slot is
 * read later by another process, so writing around the cache avoids the read-for-ownership
 * traffic of ordinary stores and keeps the simulation's working set cached. */
#define TR_STREAM_THRESHOLD (1u << 18)

/* Header page layout (little-endian, offsets fixed by the layout version). */
typedef struct tr_header {
    uint64_t magic;              /*  0: TR_MAGIC, stored last at creation */
    uint32_t layout_version;     /*  8 */
    uint32_t header_size;        /* 12: offset of slot 0 */
    uint32_t n_slots;            /* 16 */
    uint32_t slot_header_size;   /* 20: offset of the data inside a slot */
    uint64_t slot_stride;        /* 24: bytes from one slot to the next */
    uint64_t frame_capacity;     /* 32: data bytes available per slot */
    int64_t writer_pid;          /* 40 */
    uint64_t writer_starttime;   /* 48: /proc/<pid>/stat field 22, for liveness checks */
    uint8_t schema_hash[TR_HASH_SIZE]; /* 56 */
    _Atomic uint64_t latest;     /* 88: newest complete frame number, 0 = none */
    _Atomic uint32_t closed;     /* 96: 1 once the writer is done */
    uint32_t schema_len;         /* 100: bytes of the schema document at TR_SCHEMA_OFFSET */
    uint32_t ev_record_size;     /* 104: bytes per event record, 0 = no event log */
    uint32_t ev_reserved;        /* 108: 0 */
    uint64_t ev_offset;          /* 112: offset of the event log from the segment start */
    uint64_t ev_capacity;        /* 120: records the event log holds */
} tr_header;

typedef struct tr_evlog {
    _Atomic uint64_t head;       /*  0: records completely written */
    _Atomic uint64_t reserve;    /*  8: records announced (>= head; > head while copying) */
} tr_evlog;

typedef struct tr_slot {
    _Atomic uint64_t seq;        /*  0: 2F-1 while writing frame F, 2F when complete */
    _Atomic int64_t tick;        /*  8 */
    _Atomic uint64_t nbytes;     /* 16: bytes of frame data */
    _Atomic uint64_t ev_end;     /* 24: event log head when the frame was published */
} tr_slot;

struct tr_ring {
    unsigned char *base;
    size_t size;
    int writable;
    uint64_t next_frame;         /* writer only */
};

_Static_assert(sizeof(tr_header) <= TR_SCHEMA_OFFSET, "header must end before the schema");
_Static_assert(sizeof(tr_evlog) <= TR_EVLOG_HEADER_SIZE, "event log header must fit");
_Static_assert(sizeof(tr_slot) <= TR_SLOT_HEADER_SIZE, "slot header must fit");
_Static_assert(sizeof(_Atomic uint64_t) == 8, "atomic u64 must be lock-free sized");

static tr_header *hdr(const tr_ring *r) { return (tr_header *)r->base; }

static tr_slot *slot_of(const tr_ring *r, uint64_t frame) {
    const tr_header *h = hdr(r);
    return (tr_slot *)(r->base + h->header_size + (frame % h->n_slots) * h->slot_stride);
}

static unsigned char *data_of(tr_slot *s) { return (unsigned char *)s + TR_SLOT_HEADER_SIZE; }

static tr_evlog *evlog_of(const tr_ring *r) {
    const tr_header *h = hdr(r);
    return h->ev_record_size ? (tr_evlog *)(r->base + h->ev_offset) : NULL;
}

static unsigned char *record_at(const tr_ring *r, uint64_t i) {
    const tr_header *h = hdr(r);
    return r->base + h->ev_offset + TR_EVLOG_HEADER_SIZE + (i % h->ev_capacity) * h->ev_record_size;
}

static uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

static void copy_part(unsigned char *dst, const unsigned char *src, uint64_t n) {
#if defined(__SSE2__)
    if (n >= TR_STREAM_THRESHOLD) {
        while (((uintptr_t)dst & 15u) && n) {
            *dst++ = *src++;
            n--;
        }
        uint64_t blocks = n / 64;
        for (uint64_t i = 0; i < blocks; i++, dst += 64, src += 64) {
            __m128i a = _mm_loadu_si128((const __m128i *)src);
            __m128i b = _mm_loadu_si128((const __m128i *)(src + 16));
            __m128i c = _mm_loadu_si128((const __m128i *)(src + 32));
            __m128i d = _mm_loadu_si128((const __m128i *)(src + 48));
            _mm_stream_si128((__m128i *)dst, a);
            _mm_stream_si128((__m128i *)(dst + 16), b);
            _mm_stream_si128((__m128i *)(dst + 32), c);
            _mm_stream_si128((__m128i *)(dst + 48), d);
        }
        n -= blocks * 64;
        _mm_sfence(); /* streaming stores are weakly ordered: fence before the seq store */
    }
#endif
    if (n) memcpy(dst, src, n);
}

int tr_create(const char *name, const uint8_t *schema_hash, const void *schema_doc,
              uint32_t schema_len, uint32_t n_slots, uint64_t frame_capacity,
              int64_t writer_pid, uint64_t writer_starttime, uint32_t ev_record_size,
              uint64_t ev_capacity, tr_ring **out) {
    if (!name || name[0] != '/' || !schema_hash || !out) return TR_EINVAL;
    if (schema_len > TR_SCHEMA_MAX || (schema_len && !schema_doc)) return TR_EINVAL;
    if (n_slots < 2 || n_slots > TR_MAX_SLOTS) return TR_EINVAL;
    if (frame_capacity == 0 || frame_capacity > ((uint64_t)1 << 40)) return TR_EINVAL;
    if ((ev_record_size == 0) != (ev_capacity == 0) || ev_record_size > TR_EV_MAX_RECORD ||
        ev_capacity > ((uint64_t)1 << 36))
        return TR_EINVAL;
    if (!atomic_is_lock_free((_Atomic uint64_t *)0)) return TR_EINVAL;
    uint64_t stride = round_up(TR_SLOT_HEADER_SIZE + frame_capacity, 4096);
    uint64_t ev_offset = TR_HEADER_SIZE + stride * n_slots;
    uint64_t size = ev_offset;
    if (ev_record_size) size += round_up(TR_EVLOG_HEADER_SIZE + ev_capacity * ev_record_size, 4096);

    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0) return errno == EEXIST ? TR_EEXIST : TR_ESYS;
    if (ftruncate(fd, (off_t)size) != 0) {
        int e = errno;
        close(fd);
        shm_unlink(name);
        errno = e;
        return TR_ESYS;
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) {
        shm_unlink(name);
        errno = e;
        return TR_ESYS;
    }
    tr_ring *r = calloc(1, sizeof *r);
    if (!r) {
        munmap(p, size);
        shm_unlink(name);
        return TR_ESYS;
    }
    r->base = p;
    r->size = size;
    r->writable = 1;
    r->next_frame = 1;
    tr_header *h = hdr(r);
    h->layout_version = TR_LAYOUT_VERSION;
    h->header_size = TR_HEADER_SIZE;
    h->n_slots = n_slots;
    h->slot_header_size = TR_SLOT_HEADER_SIZE;
    h->slot_stride = stride;
    h->frame_capacity = stride - TR_SLOT_HEADER_SIZE;
    h->writer_pid = writer_pid;
    h->writer_starttime = writer_starttime;
    memcpy(h->schema_hash, schema_hash, TR_HASH_SIZE);
    h->schema_len = schema_len;
    h->ev_record_size = ev_record_size;
    h->ev_offset = ev_record_size ? ev_offset : 0;
    h->ev_capacity = ev_capacity;
    if (schema_len) memcpy(r->base + TR_SCHEMA_OFFSET, schema_doc, schema_len);
    atomic_store_explicit(&h->latest, 0, memory_order_relaxed);
    atomic_store_explicit(&h->closed, 0, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    /* A reader that sees the magic sees a complete header. */
    atomic_store_explicit((_Atomic uint64_t *)&h->magic, TR_MAGIC, memory_order_release);
    *out = r;
    return TR_OK;
}

int tr_attach(const char *name, const uint8_t *expected_hash, tr_ring **out) {
    if (!name || name[0] != '/' || !out) return TR_EINVAL;
    int fd = shm_open(name, O_RDONLY, 0);
    if (fd < 0) return errno == ENOENT ? TR_ENOENT : TR_ESYS;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return TR_ESYS;
    }
    if ((uint64_t)st.st_size < TR_HEADER_SIZE) {
        close(fd);
        return TR_EMAGIC;
    }
    size_t size = (size_t)st.st_size;
    void *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) {
        errno = e;
        return TR_ESYS;
    }
    const tr_header *h = p;
    int rc = TR_OK;
    if (atomic_load_explicit((_Atomic uint64_t *)&h->magic, memory_order_acquire) != TR_MAGIC)
        rc = TR_EMAGIC;
    else if (h->layout_version != TR_LAYOUT_VERSION || h->header_size != TR_HEADER_SIZE ||
             h->slot_header_size != TR_SLOT_HEADER_SIZE)
        rc = TR_EVERSION;
    else if (h->n_slots < 2 || h->n_slots > TR_MAX_SLOTS ||
             h->slot_stride < TR_SLOT_HEADER_SIZE + h->frame_capacity ||
             h->schema_len > TR_SCHEMA_MAX ||
             TR_HEADER_SIZE + h->slot_stride * h->n_slots > size)
        rc = TR_EMAGIC;
    else if (h->ev_record_size &&
             (h->ev_record_size > TR_EV_MAX_RECORD || h->ev_capacity == 0 ||
              h->ev_capacity > ((uint64_t)1 << 36) ||
              h->ev_offset < TR_HEADER_SIZE + h->slot_stride * h->n_slots ||
              h->ev_offset + TR_EVLOG_HEADER_SIZE + h->ev_capacity * h->ev_record_size > size))
        rc = TR_EMAGIC;
    else if (expected_hash && memcmp(expected_hash, h->schema_hash, TR_HASH_SIZE) != 0)
        rc = TR_ESCHEMA;
    if (rc == TR_OK) {
        tr_ring *r = calloc(1, sizeof *r);
        if (!r) rc = TR_ESYS;
        else {
            r->base = p;
            r->size = size;
            r->writable = 0;
            *out = r;
            return TR_OK;
        }
    }
    munmap(p, size);
    return rc;
}

void tr_close(tr_ring *r) {
    if (!r) return;
    munmap(r->base, r->size);
    free(r);
}

int tr_unlink(const char *name) {
    if (!name || name[0] != '/') return TR_EINVAL;
    if (shm_unlink(name) != 0) return errno == ENOENT ? TR_ENOENT : TR_ESYS;
    return TR_OK;
}

/* The bytes of a frame whose fixed part ends at fixed_nbytes and whose n_cols columns of
 * `rows` elements follow it (the first at fixed_nbytes, each next one on the following
 * 8-byte boundary); UINT64_MAX if that exceeds `limit`. */
static uint64_t columns_end(uint64_t fixed_nbytes, uint32_t n_cols, const uint32_t *widths,
                            uint64_t rows, uint64_t limit) {
    uint64_t end = fixed_nbytes;
    for (uint32_t k = 0; k < n_cols; k++) {
        uint64_t at = k ? round_up(end, 8) : end;
        if (at > limit || (widths[k] && rows > (limit - at) / widths[k])) return UINT64_MAX;
        end = at + rows * widths[k];
    }
    return end;
}

/* Validate, then copy the parts (within frame_nbytes) and after them the columns (checked
 * by the caller) into the next slot under its sequence word. */
static int64_t publish(tr_ring *r, int64_t tick, uint64_t frame_nbytes, uint32_t n_parts,
                       const void *const *ptrs, const uint64_t *offsets, const uint64_t *sizes,
                       uint32_t n_cols, const void *const *cols, const uint32_t *widths,
                       uint64_t rows) {
    if (!r) return TR_EINVAL;
    if (!r->writable) return TR_EREADONLY;
    tr_header *h = hdr(r);
    if (frame_nbytes > h->frame_capacity) return TR_ETOOBIG;
    if (n_parts && (!ptrs || !offsets || !sizes)) return TR_EINVAL;
    for (uint32_t i = 0; i < n_parts; i++) {
        if (sizes[i] && !ptrs[i]) return TR_EINVAL;
        if (offsets[i] > frame_nbytes || sizes[i] > frame_nbytes - offsets[i]) return TR_ETOOBIG;
    }
    if (rows) {
        for (uint32_t k = 0; k < n_cols; k++) {
            if (widths[k] && !cols[k]) return TR_EINVAL;
        }
    }
    uint64_t frame = r->next_frame;
    tr_slot *s = slot_of(r, frame);
    atomic_store_explicit(&s->seq, 2 * frame - 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    unsigned char *d = data_of(s);
    for (uint32_t i = 0; i < n_parts; i++) {
        if (sizes[i]) copy_part(d + offsets[i], ptrs[i], sizes[i]);
    }
    uint64_t end = frame_nbytes; /* the columns follow the parts (see columns_end) */
    for (uint32_t k = 0; k < n_cols; k++) {
        uint64_t at = k ? round_up(end, 8) : end;
        uint64_t nb = rows * widths[k];
        if (nb) copy_part(d + at, cols[k], nb);
        end = at + nb;
    }
    atomic_store_explicit(&s->tick, tick, memory_order_relaxed);
    atomic_store_explicit(&s->nbytes, end, memory_order_relaxed);
    tr_evlog *log = evlog_of(r);
    uint64_t ev_end = log ? atomic_load_explicit(&log->head, memory_order_relaxed) : 0;
    atomic_store_explicit(&s->ev_end, ev_end, memory_order_relaxed);
    atomic_store_explicit(&s->seq, 2 * frame, memory_order_release);
    atomic_store_explicit(&h->latest, frame, memory_order_release);
    r->next_frame = frame + 1;
    return (int64_t)frame;
}

int64_t tr_publish(tr_ring *r, int64_t tick, uint64_t frame_nbytes, uint32_t n_parts,
                   const void *const *ptrs, const uint64_t *offsets, const uint64_t *sizes) {
    return publish(r, tick, frame_nbytes, n_parts, ptrs, offsets, sizes, 0, NULL, NULL, 0);
}

int64_t tr_publish_columns(tr_ring *r, int64_t tick, uint64_t fixed_nbytes, uint32_t n_parts,
                           const void *const *ptrs, const uint64_t *offsets,
                           const uint64_t *sizes, uint32_t n_cols, const void *const *cols,
                           const uint32_t *widths, uint64_t rows) {
    if (!r || (n_cols && (!cols || !widths))) return TR_EINVAL;
    if (!r->writable) return TR_EREADONLY;
    uint64_t cap = hdr(r)->frame_capacity;
    if (fixed_nbytes > cap || columns_end(fixed_nbytes, n_cols, widths, rows, cap) > cap)
        return TR_ETOOBIG;
    return publish(r, tick, fixed_nbytes, n_parts, ptrs, offsets, sizes, n_cols, cols, widths,
                   rows);
}

int tr_mark_closed(tr_ring *r) {
    if (!r) return TR_EINVAL;
    if (!r->writable) return TR_EREADONLY;
    atomic_store_explicit(&hdr(r)->closed, 1, memory_order_release);
    return TR_OK;
}

int tr_read(const tr_ring *r, uint64_t frame, uint64_t offset, uint64_t len, void *dst,
            int64_t *tick, uint64_t *frame_nbytes, uint64_t *ev_end) {
    if (!r || frame == 0 || (len && !dst)) return TR_EINVAL;
    const tr_header *h = hdr(r);
    tr_slot *s = slot_of(r, frame);
    const uint64_t want = 2 * frame;
    uint64_t s1 = atomic_load_explicit(&s->seq, memory_order_acquire);
    if (s1 < want) return TR_NOT_READY;
    if (s1 > want) return TR_LAPPED;
    int64_t t = atomic_load_explicit(&s->tick, memory_order_relaxed);
    uint64_t n = atomic_load_explicit(&s->nbytes, memory_order_relaxed);
    uint64_t e = atomic_load_explicit(&s->ev_end, memory_order_relaxed);
    int bad_range = n > h->frame_capacity || offset > n;
    if (!bad_range) {
        if (len > n - offset) len = n - offset;
        if (len) memcpy(dst, data_of(s) + offset, len);
    }
    atomic_thread_fence(memory_order_acquire);
    uint64_t s2 = atomic_load_explicit(&s->seq, memory_order_relaxed);
    if (s2 != s1) return TR_TORN;
    if (bad_range) return TR_ETOOBIG;
    if (tick) *tick = t;
    if (frame_nbytes) *frame_nbytes = n;
    if (ev_end) *ev_end = e;
    return TR_OK;
}

/* Records assembled per chunk: every field of a chunk is written while its records are
 * still in L1, so the log's lines are fetched once, field by field written in cache. */
#define TR_EV_CHUNK 128u

#define GATHER(T)                                                              \
    do {                                                                       \
        for (uint64_t i = 0; i < n; i++)                                       \
            memcpy(dst + i * rs, src + i * stride, sizeof(T));                 \
    } while (0)

/* Field f of records [0, n) at dst (records of rs bytes): fixed-size copies for the usual
 * widths, so a field costs a load and a store per record. */
static void gather_field(unsigned char *dst, uint64_t rs, const unsigned char *src,
                         uint64_t stride, uint32_t width, uint64_t n) {
    switch (width) {
    case 1: GATHER(uint8_t); break;
    case 2: GATHER(uint16_t); break;
    case 4: GATHER(uint32_t); break;
    case 8: GATHER(uint64_t); break;
    default:
        for (uint64_t i = 0; i < n; i++) memcpy(dst + i * rs, src + i * stride, width);
    }
}

int tr_events_append_fields(tr_ring *r, uint64_t n, uint32_t n_fields, const void *const *ptrs,
                            const uint32_t *widths, const uint64_t *strides) {
    if (!r) return TR_EINVAL;
    if (!r->writable) return TR_EREADONLY;
    tr_evlog *log = evlog_of(r);
    if (!log) return TR_EINVAL;
    const tr_header *h = hdr(r);
    if (n > h->ev_capacity) return TR_ETOOBIG;
    if (n_fields && (!ptrs || !widths || !strides)) return TR_EINVAL;
    uint64_t total = 0;
    for (uint32_t f = 0; f < n_fields; f++) {
        if (n && !ptrs[f]) return TR_EINVAL;
        total += widths[f];
    }
    if (total != h->ev_record_size) return TR_EINVAL;
    if (n == 0) return TR_OK;
    uint64_t head = atomic_load_explicit(&log->head, memory_order_relaxed); /* writer's own */
    atomic_store_explicit(&log->reserve, head + n, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    uint64_t rs = h->ev_record_size, pos = head % h->ev_capacity;
    uint64_t first = h->ev_capacity - pos < n ? h->ev_capacity - pos : n;
    for (uint64_t c = 0, stop; c < n; c = stop) { /* a chunk's records stay in L1 */
        stop = n - c < TR_EV_CHUNK ? n : c + TR_EV_CHUNK;
        if (c < first && stop > first) stop = first; /* split at the wrap */
        unsigned char *dst = c < first ? record_at(r, head + c) : record_at(r, c - first);
        uint64_t off = 0;
        for (uint32_t f = 0; f < n_fields; off += widths[f], f++)
            gather_field(dst + off, rs, (const unsigned char *)ptrs[f] + c * strides[f],
                         strides[f], widths[f], stop - c);
    }
    atomic_store_explicit(&log->head, head + n, memory_order_release);
    return TR_OK;
}

int tr_events_read(const tr_ring *r, uint64_t start, uint64_t n, void *dst,
                   uint64_t *first_valid) {
    if (!r || !first_valid || (n && !dst)) return TR_EINVAL;
    tr_evlog *log = evlog_of(r);
    if (!log) return TR_EINVAL;
    const tr_header *h = hdr(r);
    uint64_t cap = h->ev_capacity, size = h->ev_record_size, stop = start + n;
    if (stop < start) return TR_EINVAL;
    uint64_t head = atomic_load_explicit(&log->head, memory_order_acquire);
    if (stop > head) return TR_NOT_READY;
    uint64_t reserve = atomic_load_explicit(&log->reserve, memory_order_relaxed);
    uint64_t lo = reserve > cap && reserve - cap > start ? reserve - cap : start;
    unsigned char *out = dst;
    for (uint64_t i = lo; i < stop;) { /* at most two runs: up to the wrap, after it */
        uint64_t run = cap - i % cap;
        if (run > stop - i) run = stop - i;
        memcpy(out + (i - start) * size, record_at(r, i), run * size);
        i += run;
    }
    atomic_thread_fence(memory_order_acquire);
    reserve = atomic_load_explicit(&log->reserve, memory_order_relaxed);
    uint64_t valid = reserve > cap && reserve - cap > lo ? reserve - cap : lo;
    *first_valid = valid < stop ? valid : stop;
    return TR_OK;
}

uint64_t tr_events_head(const tr_ring *r) {
    tr_evlog *log = evlog_of(r);
    return log ? atomic_load_explicit(&log->head, memory_order_acquire) : 0;
}
uint64_t tr_events_capacity(const tr_ring *r) { return hdr(r)->ev_capacity; }
uint32_t tr_events_record_size(const tr_ring *r) { return hdr(r)->ev_record_size; }

uint64_t tr_latest(const tr_ring *r) {
    return atomic_load_explicit(&hdr(r)->latest, memory_order_acquire);
}
int tr_closed(const tr_ring *r) {
    return (int)atomic_load_explicit(&hdr(r)->closed, memory_order_acquire);
}
uint32_t tr_n_slots(const tr_ring *r) { return hdr(r)->n_slots; }
uint64_t tr_frame_capacity(const tr_ring *r) { return hdr(r)->frame_capacity; }
uint32_t tr_layout_version(const tr_ring *r) { return hdr(r)->layout_version; }
int64_t tr_writer_pid(const tr_ring *r) { return hdr(r)->writer_pid; }
uint64_t tr_writer_starttime(const tr_ring *r) { return hdr(r)->writer_starttime; }
void tr_schema_hash(const tr_ring *r, uint8_t *out32) {
    memcpy(out32, hdr(r)->schema_hash, TR_HASH_SIZE);
}
uint64_t tr_segment_size(const tr_ring *r) { return r->size; }
uint32_t tr_schema_doc(const tr_ring *r, void *dst, uint32_t cap) {
    uint32_t n = hdr(r)->schema_len;
    if (dst && cap >= n) memcpy(dst, r->base + TR_SCHEMA_OFFSET, n);
    return n;
}

const char *tr_strerror(int code) {
    switch (code) {
    case TR_OK: return "ok";
    case TR_NOT_READY: return "frame not published yet";
    case TR_LAPPED: return "frame overwritten by a later one (reader lapped)";
    case TR_TORN: return "frame changed while being read (torn read)";
    case TR_EINVAL: return "invalid argument";
    case TR_ESYS: return "operating-system call failed";
    case TR_EMAGIC: return "segment is not a townlet frame ring";
    case TR_EVERSION: return "unsupported ring layout version";
    case TR_ESCHEMA: return "frame schema hash mismatch";
    case TR_ETOOBIG: return "frame does not fit";
    case TR_EREADONLY: return "ring attached read-only";
    case TR_EEXIST: return "segment already exists";
    case TR_ENOENT: return "no such segment";
    default: return "unknown ring error";
    }
}
