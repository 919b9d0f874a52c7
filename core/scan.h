/* townlet column scans: the publisher's element-wise comparisons of two or three frames,
 * in one pass over memory and without temporaries (numpy needs a bool array, an index
 * array of every changed element and, for the Repeat rule, three more full arrays).
 *
 * Elements are compared by their bytes (NaN and -0.0 exactly). Indices are written in
 * ascending order, at most `cap` of them; the return value counts every match, so a
 * caller learns that a column changed almost everywhere without storing its indices.
 */
#ifndef TOWNLET_SCAN_H
#define TOWNLET_SCAN_H

#include <stdint.h>

/* Elements (`size` bytes each) of `a` and `b` that differ: the first `cap` indices go to
 * `idx`; returns how many differ. */
uint64_t ts_changed(const void *a, const void *b, uint64_t n, uint32_t size, int64_t *idx,
                    uint64_t cap);

/* The Repeat rule on unsigned elements of 1, 2, 4 or 8 bytes: elements where
 * `cur` != `old` + (`old` - `before`) (wrapping), first `cap` indices to `idx`; returns
 * how many, and sets *changed to how many elements of `cur` differ from `old`.
 * Returns UINT64_MAX for any other element size. */
uint64_t ts_repeat_misses(const void *old, const void *cur, const void *before, uint64_t n,
                          uint32_t size, int64_t *idx, uint64_t cap, uint64_t *changed);

/* Bytes of `a` (n of them) that are not zero: a flag column's count without a temporary. */
uint64_t ts_count_nonzero(const uint8_t *a, uint64_t n);

#endif
