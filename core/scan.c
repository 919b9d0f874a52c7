/* Column scans for the publisher: see scan.h. */
#include "scan.h"

#include <string.h>

/* Elements per block whose bytes are first compared as a whole (memcmp is vectorised);
 * only blocks that differ are scanned element by element. */
#define TS_BLOCK 64u

#define CHANGED_LOOP(T)                                                       \
    do {                                                                      \
        const T *x = a, *y = b;                                               \
        for (uint64_t i = lo; i < hi; i++) {                                  \
            if (x[i] != y[i]) {                                               \
                if (count < cap) idx[count] = (int64_t)i;                     \
                count++;                                                      \
            }                                                                 \
        }                                                                     \
    } while (0)

uint64_t ts_changed(const void *a, const void *b, uint64_t n, uint32_t size, int64_t *idx,
                    uint64_t cap) {
    const unsigned char *pa = a, *pb = b;
    uint64_t count = 0;
    for (uint64_t lo = 0; lo < n; lo += TS_BLOCK) {
        uint64_t hi = n - lo < TS_BLOCK ? n : lo + TS_BLOCK;
        if (memcmp(pa + lo * size, pb + lo * size, (hi - lo) * size) == 0) continue;
        switch (size) {
        case 1: CHANGED_LOOP(uint8_t); break;
        case 2: CHANGED_LOOP(uint16_t); break;
        case 4: CHANGED_LOOP(uint32_t); break;
        case 8: CHANGED_LOOP(uint64_t); break;
        default:
            for (uint64_t i = lo; i < hi; i++) {
                if (memcmp(pa + i * size, pb + i * size, size) != 0) {
                    if (count < cap) idx[count] = (int64_t)i;
                    count++;
                }
            }
        }
    }
    return count;
}

#define REPEAT_LOOP(T)                                                        \
    do {                                                                      \
        const T *o = old, *c = cur, *p = before;                              \
        for (uint64_t i = 0; i < n; i++) {                                    \
            T want = (T)(o[i] + (T)(o[i] - p[i]));                            \
            diff += c[i] != o[i];                                             \
            if (c[i] != want) {                                               \
                if (count < cap) idx[count] = (int64_t)i;                     \
                count++;                                                      \
            }                                                                 \
        }                                                                     \
    } while (0)

uint64_t ts_repeat_misses(const void *old, const void *cur, const void *before, uint64_t n,
                          uint32_t size, int64_t *idx, uint64_t cap, uint64_t *changed) {
    uint64_t count = 0, diff = 0;
    switch (size) {
    case 1: REPEAT_LOOP(uint8_t); break;
    case 2: REPEAT_LOOP(uint16_t); break;
    case 4: REPEAT_LOOP(uint32_t); break;
    case 8: REPEAT_LOOP(uint64_t); break;
    default: return UINT64_MAX;
    }
    if (changed) *changed = diff;
    return count;
}

uint64_t ts_count_nonzero(const uint8_t *a, uint64_t n) {
    uint64_t count = 0;
    for (uint64_t i = 0; i < n; i++) count += a[i] != 0;
    return count;
}
