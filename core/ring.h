/* townlet frame ring: a seqlock-protected ring of frame slots in POSIX shared memory.
 *
 * One writer (the simulation) publishes a frame per tick into slot (frame % n_slots)
 * and never waits for anybody. Readers map the segment read-only, copy a frame out and
 * verify, via the slot's sequence word, that the copy is neither torn (written while
 * copied) nor lapped (overwritten by a later frame). The segment starts with a header
 * page; the layout is documented in docs/protocol.md ("Shared-memory ring").
 *
 * Frame numbers start at 1. Slot sequence word: 2*F-1 while frame F is being written,
 * 2*F once frame F is complete. 0 = never written.
 *
 * After the slots the segment may hold an append-only event log: fixed-size records
 * (one per event) in a circular buffer of ev_capacity records. Record i (from 0) lives
 * at position i % ev_capacity. The writer announces a batch [h, h+n) in `reserve`
 * before copying it and in `head` after; a reader copies records and afterwards
 * discards those below reserve - ev_capacity (possibly overwritten meanwhile), so it
 * knows exactly how many it lost. Each frame's slot records the log's head when the
 * frame was published (its ev_end), so the events of the ticks between two frames
 * are the records [ev_end(older), ev_end(newer)).
 */
#ifndef TOWNLET_RING_H
#define TOWNLET_RING_H

#include <stddef.h>
#include <stdint.h>

#define TR_MAGIC 0x474E49524E574F54ULL /* "TOWNRING" little-endian */
#define TR_LAYOUT_VERSION 2u
#define TR_HEADER_SIZE 16384u
#define TR_SCHEMA_OFFSET 128u /* the schema document (JSON) lives in the header pages */
#define TR_SCHEMA_MAX (TR_HEADER_SIZE - TR_SCHEMA_OFFSET)
#define TR_SLOT_HEADER_SIZE 64u
#define TR_HASH_SIZE 32u
#define TR_MAX_SLOTS 1024u
#define TR_EVLOG_HEADER_SIZE 64u /* head and reserve words before the event records */
#define TR_EV_MAX_RECORD 4096u

/* Result codes (negative = error). */
#define TR_OK 0
#define TR_NOT_READY (-1)   /* the requested frame has not been published yet */
#define TR_LAPPED (-2)      /* the slot already holds a later frame */
#define TR_TORN (-3)        /* the slot changed while it was being copied */
#define TR_EINVAL (-4)      /* bad argument (size, count, range) */
#define TR_ESYS (-5)        /* an OS call failed; errno holds the reason */
#define TR_EMAGIC (-6)      /* the segment is not a townlet ring */
#define TR_EVERSION (-7)    /* unsupported layout version */
#define TR_ESCHEMA (-8)     /* the schema hash differs from the expected one */
#define TR_ETOOBIG (-9)     /* the frame does not fit into a slot / destination */
#define TR_EREADONLY (-10)  /* write attempted through a read-only attachment */
#define TR_EEXIST (-11)     /* a segment of that name already exists */
#define TR_ENOENT (-12)     /* no segment of that name */

typedef struct tr_ring tr_ring;

/* Create a new segment `name` (POSIX shm name, "/..."), exclusive; pages are pre-faulted.
 * schema_doc (schema_len <= TR_SCHEMA_MAX bytes) is stored verbatim for readers.
 * ev_record_size and ev_capacity size the event log (both 0: no event log). */
int tr_create(const char *name, const uint8_t *schema_hash, const void *schema_doc,
              uint32_t schema_len, uint32_t n_slots, uint64_t frame_capacity,
              int64_t writer_pid, uint64_t writer_starttime, uint32_t ev_record_size,
              uint64_t ev_capacity, tr_ring **out);
/* Attach read-only; expected_hash may be NULL to accept any schema. */
int tr_attach(const char *name, const uint8_t *expected_hash, tr_ring **out);
/* Unmap and free the handle (never unlinks). */
void tr_close(tr_ring *ring);
/* Remove the name (the memory lives on until every mapping is gone). */
int tr_unlink(const char *name);

/* Publish one frame made of n_parts pieces, each copied to data offset offsets[i].
 * Returns the new frame number (> 0) or a negative code. Never blocks. */
int64_t tr_publish(tr_ring *ring, int64_t tick, uint64_t frame_nbytes, uint32_t n_parts,
                   const void *const *ptrs, const uint64_t *offsets, const uint64_t *sizes);
/* Publish one frame of a fixed part and n_cols columns of `rows` elements each: the parts
 * as tr_publish (inside [0, fixed_nbytes)), then column k's rows * widths[k] bytes from
 * cols[k], the first at fixed_nbytes and each next one on the following 8-byte boundary.
 * The frame ends with the last column (FrameSchema.event_layout in the Python package,
 * the columns being the tick's events), so the caller needs no per-count layout.
 * Returns the new frame number (> 0) or a negative code. Never blocks. */
int64_t tr_publish_columns(tr_ring *ring, int64_t tick, uint64_t fixed_nbytes, uint32_t n_parts,
                           const void *const *ptrs, const uint64_t *offsets,
                           const uint64_t *sizes, uint32_t n_cols, const void *const *cols,
                           const uint32_t *widths, uint64_t rows);
/* Mark the ring closed (the writer is done); readers see tr_closed() == 1. */
int tr_mark_closed(tr_ring *ring);

/* Copy up to len bytes of frame `frame`, starting at offset, into dst and validate the copy.
 * Copies min(len, frame_nbytes - offset) bytes; offset past the frame end is TR_ETOOBIG.
 * ev_end (may be NULL) receives the event log's head when the frame was published. */
int tr_read(const tr_ring *ring, uint64_t frame, uint64_t offset, uint64_t len, void *dst,
            int64_t *tick, uint64_t *frame_nbytes, uint64_t *ev_end);

/* Append n event records (n <= ev_capacity) to the event log, assembled from n_fields
 * fields laid end to end: record i's field f is the widths[f] bytes at
 * ptrs[f] + i * strides[f] (stride 0: the same value in every record, e.g. the tick;
 * one field of the record size: packed records). The widths must add up to the record
 * size. The next tr_publish records the new head as its frame's ev_end. Never blocks. */
int tr_events_append_fields(tr_ring *ring, uint64_t n, uint32_t n_fields,
                            const void *const *ptrs, const uint32_t *widths,
                            const uint64_t *strides);
/* Copy records [start, start + n) into dst (n * record size bytes) and validate the copy:
 * *first_valid receives the first record number whose copy is intact; records before it
 * had been overwritten (lost). start + n beyond the head is TR_NOT_READY. */
int tr_events_read(const tr_ring *ring, uint64_t start, uint64_t n, void *dst,
                   uint64_t *first_valid);
/* Records appended so far (the next record's number). */
uint64_t tr_events_head(const tr_ring *ring);
uint64_t tr_events_capacity(const tr_ring *ring);
uint32_t tr_events_record_size(const tr_ring *ring);

/* Header accessors. */
uint64_t tr_latest(const tr_ring *ring);
int tr_closed(const tr_ring *ring);
uint32_t tr_n_slots(const tr_ring *ring);
uint64_t tr_frame_capacity(const tr_ring *ring);
uint32_t tr_layout_version(const tr_ring *ring);
int64_t tr_writer_pid(const tr_ring *ring);
uint64_t tr_writer_starttime(const tr_ring *ring);
void tr_schema_hash(const tr_ring *ring, uint8_t *out32);
uint64_t tr_segment_size(const tr_ring *ring);
/* Copy the schema document into dst if cap is large enough; returns its length. */
uint32_t tr_schema_doc(const tr_ring *ring, void *dst, uint32_t cap);
const char *tr_strerror(int code);

#endif
