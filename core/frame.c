/* One call per tick for the frame writer: see frame.h. */
#include "frame.h"

/* Nonzero bytes of a[0, n). Sixteen byte-wide counters take at most 255 adds each before
 * they are summed, so the compiler adds 16 bytes an instruction; summing a[i] != 0 into
 * the 64-bit count widens every byte first (2.3x the time at 1M agents). */
static uint64_t count_nonzero(const uint8_t *a, uint64_t n) {
    uint64_t count = 0, i = 0;
    while (i < n) {
        uint64_t end = n - i > 255 * 16 ? i + 255 * 16 : n;
        uint8_t lanes[16] = {0};
        for (; i + 16 <= end; i += 16)
            for (int k = 0; k < 16; k++) lanes[k] += a[i + k] != 0;
        for (; i < end; i++) count += a[i] != 0;
        for (int k = 0; k < 16; k++) count += lanes[k];
    }
    return count;
}

/* The parts of a frame for a slot holding the frame of mark `since`: every part as it is,
 * except that a marked part is cut into runs of its consecutive blocks marked after
 * `since` (none if no block is). Returns the number of parts in the run arrays. */
static uint32_t changed_runs(const tf_plan *p, int64_t since) {
    uint32_t m = 0, k = 0;
    for (uint32_t i = 0; i < p->n_parts; i++) {
        const unsigned char *src = p->ptrs[i];
        uint64_t size = p->sizes[i], off = p->offsets[i];
        if (k == p->n_marked || p->marked_parts[k] != i) {
            p->run_ptrs[m] = src, p->run_offsets[m] = off, p->run_sizes[m++] = size;
            continue;
        }
        const int64_t *mark = p->marks + k++ * p->mark_stride;
        uint64_t block = 1ull << p->mark_shift, blocks = (size + block - 1) >> p->mark_shift;
        uint64_t open = 0;
        for (uint64_t b = 0; b < blocks; b++) {
            if (mark[b] <= since) {
                open = 0;
                continue;
            }
            uint64_t lo = b << p->mark_shift, n = size - lo < block ? size - lo : block;
            if (open) {
                p->run_sizes[m - 1] += n;
            } else {
                p->run_ptrs[m] = src + lo, p->run_offsets[m] = off + lo, p->run_sizes[m++] = n;
                open = 1;
            }
        }
    }
    return m;
}

int64_t tf_tick(tr_ring *r, tf_plan *p, int64_t tick, uint32_t what) {
    if (!r || !p) return TR_EINVAL;
    if (what & TF_EVENTS) {
        int32_t n = *p->n_events;
        if (n < 0 || (uint64_t)n > p->event_capacity) return TR_EINVAL;
        *p->tick = tick;
        int rc = tr_events_append_fields(r, (uint64_t)n, p->n_fields, p->fields, p->widths,
                                         p->strides);
        if (rc < 0) return rc;
        p->logged_tick = tick;
        p->logged_n = (uint64_t)n;
    }
    if (!(what & TF_FRAME)) return 0;
    uint64_t n = p->logged_tick == tick ? p->logged_n : 0;
    int64_t of_day = tick % p->ticks_per_day;
    *p->meta_tick = tick;
    *p->meta_tick_of_day = (int32_t)(of_day < 0 ? of_day + p->ticks_per_day : of_day);
    *p->meta_n_alive = (int32_t)count_nonzero(p->alive, p->n_agents);
    *p->meta_n_events = (int32_t)n;
    uint64_t slot = (tr_latest(r) + 1) % tr_n_slots(r); /* frame F is in slot F % n */
    int fresh = p->slot_statics[slot] != p->statics;
    for (uint32_t k = 0; k < p->n_static; k++)
        p->sizes[p->static_parts[k]] = fresh ? p->static_sizes[k] : 0;
    int64_t since = p->n_marked ? p->slot_marks[slot] : -1;
    uint32_t n_parts = p->n_parts;
    const void *const *ptrs = p->ptrs;
    const uint64_t *offsets = p->offsets, *sizes = p->sizes;
    if (since >= 0) { /* the slot holds an older frame of these arrays */
        n_parts = changed_runs(p, since);
        ptrs = p->run_ptrs, offsets = p->run_offsets, sizes = p->run_sizes;
    }
    uint64_t copied = n * p->event_row;
    for (uint32_t i = 0; i < n_parts; i++) copied += sizes[i];
    int64_t frame = tr_publish_columns(r, tick, p->fixed_nbytes, n_parts, ptrs, offsets, sizes,
                                       p->n_cols, p->cols, p->col_widths, n);
    if (frame > 0) {
        p->slot_statics[slot] = p->statics;
        p->bytes_written += copied;
        if (p->n_marked) p->slot_marks[slot] = (*p->mark_now)++;
    }
    return frame;
}
