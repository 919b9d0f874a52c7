/* townlet frames on the frame ring: what the simulation does per tick, in one call.
 *
 * A tick appends its events to the ring's event log; a frame tick also sets the frame's
 * per-tick meta values (tick, tick of day, living agents, events) and publishes the
 * frame: its fixed part (meta and state columns) and the tick's event columns after it
 * (tr_publish_columns). The plan holds every pointer and size, set up by the Python
 * writer (townlet/frames/writer.py) when it takes the world's arrays, so a tick is one
 * call from Python instead of one per step (each costs a microsecond or more on the
 * interpreter's cold path after a kernel tick). */
#ifndef TOWNLET_FRAME_H
#define TOWNLET_FRAME_H

#include <stdint.h>

#include "ring.h"

#define TF_EVENTS 1u /* append the tick's events to the event log */
#define TF_FRAME 2u  /* publish the tick's frame */

typedef struct tf_plan {
    /* the frame's fixed part: as tr_publish_columns's parts */
    uint64_t fixed_nbytes;
    uint32_t n_parts;
    const void *const *ptrs;
    const uint64_t *offsets;
    uint64_t *sizes; /* a static part's is set per frame: its size or 0 (see below) */
    /* static parts (arrays nobody changes in place): copied into a slot only when the
     * slot does not hold them from the current arrays yet */
    uint32_t n_static;
    const uint32_t *static_parts; /* their indices among the parts */
    const uint64_t *static_sizes; /* their sizes */
    int64_t statics;              /* generation of their arrays (one more per array taken) */
    int64_t *slot_statics;        /* per ring slot: the generation it holds, -1: none */
    /* the event log's fields (as tr_events_append_fields); *tick is field 0 */
    const int32_t *n_events; /* the world's count of this tick's events */
    uint64_t event_capacity; /* a count outside [0, event_capacity] is TR_EINVAL */
    uint32_t n_fields;
    const void *const *fields;
    const uint32_t *widths;
    const uint64_t *strides;
    int64_t *tick;
    /* the frame's event columns (the fields after the tick, or copies of logged events) */
    uint32_t n_cols;
    const void *const *cols;
    const uint32_t *col_widths;
    /* the meta values every frame sets, inside the fixed part's meta buffer */
    int64_t *meta_tick;
    int32_t *meta_tick_of_day;
    int32_t *meta_n_alive;
    int32_t *meta_n_events;
    int64_t ticks_per_day;
    const uint8_t *alive; /* n_alive counts its nonzero bytes */
    uint64_t n_agents;
    uint64_t event_row; /* bytes of one event across the columns */
    /* set by tf_tick: the tick last logged and its events (a frame of that tick has them),
     * and the bytes copied into slots so far (static parts once per slot and arrays) */
    int64_t logged_tick;
    uint64_t logged_n;
    uint64_t bytes_written;
} tf_plan;

/* With TF_EVENTS, append the events of `tick` (*n_events of them) to the event log; with
 * TF_FRAME, publish the frame of `tick` holding the events logged for it (none if its
 * events were not the last logged). Returns the frame number (> 0), 0 without TF_FRAME,
 * or a negative code (TR_EINVAL: a count outside [0, event_capacity]). Never blocks. */
int64_t tf_tick(tr_ring *ring, tf_plan *plan, int64_t tick, uint32_t what);

#endif
