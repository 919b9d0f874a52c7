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
    uint64_t copied = n * p->event_row;
    for (uint32_t i = 0; i < p->n_parts; i++) copied += p->sizes[i];
    int64_t frame = tr_publish_columns(r, tick, p->fixed_nbytes, p->n_parts, p->ptrs,
                                       p->offsets, p->sizes, p->n_cols, p->cols, p->col_widths,
                                       n);
    if (frame > 0) {
        p->slot_statics[slot] = p->statics;
        p->bytes_written += copied;
    }
    return frame;
}
