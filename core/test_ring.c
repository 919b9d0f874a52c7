/* Pure-C test driver for the frame ring: error paths, then a forked writer hammering
 * frames while this process reads and verifies every accepted copy word by word.
 * Build and run: make -C core test   (and: make -C core sanitize) */
#define _POSIX_C_SOURCE 200809L
#include "ring.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int failures = 0;
#define CHECK(cond, ...)                                                 \
    do {                                                                 \
        if (!(cond)) {                                                   \
            failures++;                                                  \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);         \
            fprintf(stderr, __VA_ARGS__);                                \
            fputc('\n', stderr);                                         \
        }                                                                \
    } while (0)

static char name[64];
static uint8_t hash_a[TR_HASH_SIZE], hash_b[TR_HASH_SIZE];

static void test_errors(void) {
    tr_ring *w = NULL, *r = NULL, *x = NULL;
    CHECK(tr_create("no-slash", hash_a, "{}", 2, 4, 1024, getpid(), 0, 0, 0, &w) == TR_EINVAL, "bad name");
    CHECK(tr_create(name, hash_a, "{}", 2, 1, 1024, getpid(), 0, 0, 0, &w) == TR_EINVAL, "one slot");
    CHECK(tr_create(name, hash_a, "{}", 2, 4, 0, getpid(), 0, 0, 0, &w) == TR_EINVAL, "zero capacity");
    CHECK(tr_attach(name, NULL, &r) == TR_ENOENT, "attach missing");
    CHECK(tr_create(name, hash_a, "{}", TR_SCHEMA_MAX + 1, 4, 1024, getpid(), 7, 0, 0, &w) == TR_EINVAL,
          "schema too long");
    CHECK(tr_create(name, hash_a, "{\"v\":1}", 7, 4, 1024, getpid(), 7, 0, 0, &w) == TR_OK, "create");
    CHECK(tr_create(name, hash_a, "{}", 2, 4, 1024, getpid(), 7, 0, 0, &x) == TR_EEXIST, "create twice");
    CHECK(tr_attach(name, hash_b, &r) == TR_ESCHEMA, "schema mismatch");
    CHECK(tr_attach(name, hash_a, &r) == TR_OK, "attach");
    CHECK(tr_n_slots(r) == 4 && tr_frame_capacity(r) >= 1024, "geometry");
    CHECK(tr_writer_pid(r) == getpid() && tr_writer_starttime(r) == 7, "writer identity");
    CHECK(tr_layout_version(r) == TR_LAYOUT_VERSION, "layout version");
    uint8_t got[TR_HASH_SIZE];
    tr_schema_hash(r, got);
    CHECK(memcmp(got, hash_a, TR_HASH_SIZE) == 0, "schema hash");
    char doc[16] = {0};
    CHECK(tr_schema_doc(r, doc, sizeof doc) == 7 && strcmp(doc, "{\"v\":1}") == 0, "schema doc");
    CHECK(tr_latest(r) == 0, "nothing published");
    unsigned char buf[8192];
    int64_t tick = -1;
    uint64_t n = 0;
    CHECK(tr_read(r, 1, 0, 0, buf, &tick, &n, NULL) == TR_NOT_READY, "read before publish");
    CHECK(tr_read(r, 0, 0, 0, buf, &tick, &n, NULL) == TR_EINVAL, "frame 0");

    uint64_t payload = 0x1122334455667788ULL;
    const void *ptrs[1] = {&payload};
    uint64_t offs[1] = {8}, sizes[1] = {8};
    CHECK(tr_publish(r, 1, 16, 1, ptrs, offs, sizes) == TR_EREADONLY, "publish read-only");
    CHECK(tr_publish(w, 1, 1 << 20, 1, ptrs, offs, sizes) == TR_ETOOBIG, "frame too big");
    offs[0] = 12;
    CHECK(tr_publish(w, 1, 16, 1, ptrs, offs, sizes) == TR_ETOOBIG, "part outside frame");
    offs[0] = 8;
    for (int64_t t = 1; t <= 6; t++) {
        payload = (uint64_t)t;
        CHECK(tr_publish(w, t * 10, 16, 1, ptrs, offs, sizes) == t, "publish %lld", (long long)t);
    }
    CHECK(tr_latest(r) == 6, "latest");
    uint64_t out[2] = {0, 0};
    CHECK(tr_read(r, 6, 0, 16, out, &tick, &n, NULL) == TR_OK, "read newest");
    CHECK(out[1] == 6 && tick == 60 && n == 16, "newest content");
    CHECK(tr_read(r, 2, 0, 16, out, &tick, &n, NULL) == TR_LAPPED, "old frame lapped");
    CHECK(tr_read(r, 7, 0, 16, out, &tick, &n, NULL) == TR_NOT_READY, "future frame");
    out[0] = 0;
    CHECK(tr_read(r, 6, 8, 64, out, &tick, &n, NULL) == TR_OK && out[0] == 6 && n == 16, "clipped read");
    CHECK(tr_read(r, 6, 17, 1, out, &tick, &n, NULL) == TR_ETOOBIG, "offset past frame end");
    CHECK(tr_read(r, 5, 8, 8, out, &tick, &n, NULL) == TR_OK && out[0] == 5, "partial read");
    CHECK(tr_closed(r) == 0, "open");
    CHECK(tr_mark_closed(r) == TR_EREADONLY, "close via reader");
    CHECK(tr_mark_closed(w) == TR_OK && tr_closed(r) == 1, "closed");
    tr_close(r);
    tr_close(w);
    CHECK(tr_unlink(name) == TR_OK, "unlink");
    CHECK(tr_unlink(name) == TR_ENOENT, "unlink twice");

    /* A segment with the right size but no magic is refused. */
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    CHECK(fd >= 0 && ftruncate(fd, 65536) == 0, "raw segment");
    close(fd);
    CHECK(tr_attach(name, NULL, &r) == TR_EMAGIC, "bad magic");
    tr_unlink(name);
}

#define WORDS 262144 /* 2 MiB frames: the streaming-store path */
#define FRAMES 3000

static void writer(void) {
    tr_ring *w = NULL;
    if (tr_create(name, hash_a, "{}", 2, 3, WORDS * 8, getpid(), 0, 0, 0, &w) != TR_OK) _exit(2);
    static uint64_t frame[WORDS];
    const void *ptrs[1] = {frame};
    uint64_t offs[1] = {0}, sizes[1] = {sizeof frame};
    for (uint64_t f = 1; f <= FRAMES; f++) {
        for (int i = 0; i < WORDS; i++) frame[i] = f * 0x9E3779B97F4A7C15ULL;
        if (tr_publish(w, (int64_t)f * 3, sizeof frame, 1, ptrs, offs, sizes) != (int64_t)f)
            _exit(3);
    }
    tr_mark_closed(w);
    tr_close(w);
    _exit(0);
}

static void test_hammer(void) {
    pid_t pid = fork();
    if (pid == 0) writer();
    tr_ring *r = NULL;
    for (int i = 0; i < 5000 && tr_attach(name, hash_a, &r) != TR_OK; i++) nanosleep(&(struct timespec){0, 1000000}, NULL);
    CHECK(r != NULL, "attach to hammering writer");
    if (!r) return;
    static uint64_t copy[WORDS];
    long ok = 0, torn = 0, lapped = 0, bad = 0;
    uint64_t last = 0;
    while (!tr_closed(r) || last < tr_latest(r)) {
        uint64_t f = tr_latest(r);
        if (f == 0) continue;
        int64_t tick;
        uint64_t n;
        int rc = tr_read(r, f, 0, sizeof copy, copy, &tick, &n, NULL);
        if (rc == TR_OK) {
            ok++;
            last = f;
            uint64_t want = f * 0x9E3779B97F4A7C15ULL;
            for (int i = 0; i < WORDS; i++) bad += copy[i] != want;
            bad += tick != (int64_t)f * 3;
        } else if (rc == TR_TORN) {
            torn++;
        } else if (rc == TR_LAPPED) {
            lapped++;
        } else {
            CHECK(0, "unexpected read code %d", rc);
            break;
        }
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer exit %d", status);
    CHECK(bad == 0, "%ld corrupted words accepted", bad);
    CHECK(ok > 0 && last == FRAMES, "reads ok=%ld last=%llu", ok, (unsigned long long)last);
    printf("hammer: ok=%ld torn=%ld lapped=%ld corrupted=%ld\n", ok, torn, lapped, bad);
    tr_close(r);
    tr_unlink(name);
}

/* The event log: records between two frames, wrap-around, and an exact count of the
 * records a reader lost after falling more than the capacity behind. */
static void test_events(void) {
    tr_ring *w = NULL, *r = NULL;
    uint64_t rec[8], out[16], first = 0, nb = 0;
    int64_t tick = 0;
    CHECK(tr_create(name, hash_a, "{}", 2, 2, 64, getpid(), 0, 8, 0, &w) == TR_EINVAL,
          "record size without capacity");
    CHECK(tr_create(name, hash_a, "{}", 2, 2, 64, getpid(), 0, 8, 5, &w) == TR_OK, "create");
    CHECK(tr_attach(name, hash_a, &r) == TR_OK, "attach");
    CHECK(tr_events_capacity(r) == 5 && tr_events_record_size(r) == 8, "log geometry");
    const void *packed[1] = {rec};
    uint32_t width[1] = {8};
    uint64_t stride[1] = {8};
    CHECK(tr_events_append_fields(w, 6, 1, packed, width, stride) == TR_ETOOBIG,
          "batch larger than the log");
    CHECK(tr_events_append_fields(r, 1, 1, packed, width, stride) == TR_EREADONLY,
          "append via reader");
    uint32_t short_width[1] = {4};
    CHECK(tr_events_append_fields(w, 1, 1, packed, short_width, stride) == TR_EINVAL,
          "fields short of the record size");
    uint64_t next = 0;
    for (int f = 1; f <= 4; f++) { /* 3 records per frame: the log wraps */
        for (int i = 0; i < 3; i++) rec[i] = next++;
        CHECK(tr_events_append_fields(w, 3, 1, packed, width, stride) == TR_OK, "append");
        const void *ptrs[1] = {rec};
        uint64_t offs[1] = {0}, sizes[1] = {8};
        CHECK(tr_publish(w, f, 8, 1, ptrs, offs, sizes) == f, "publish");
    }
    uint64_t ev_end = 0;
    CHECK(tr_read(r, 4, 0, 8, out, &tick, &nb, &ev_end) == TR_OK && ev_end == 12, "ev_end");
    CHECK(tr_events_head(r) == 12, "head");
    CHECK(tr_events_read(r, 9, 4, out, &first) == TR_NOT_READY, "beyond the head");
    CHECK(tr_events_read(r, 7, 5, out, &first) == TR_OK && first == 7, "read across the wrap");
    for (int i = 0; i < 5; i++) CHECK(out[i] == (uint64_t)(7 + i), "record %d", 7 + i);
    CHECK(tr_events_read(r, 3, 9, out, &first) == TR_OK && first == 7, "4 records lost exactly");
    for (int i = 4; i < 9; i++) CHECK(out[i] == (uint64_t)(3 + i), "kept %d", 3 + i);
    tr_close(r);
    tr_close(w);
    tr_unlink(name);
}

/* Records assembled from fields: a value shared by every record (stride 0), a 2-byte and
 * a 4-byte column, across the log's wrap; the same bytes as packing them first. */
static void test_event_fields(void) {
    tr_ring *w = NULL, *r = NULL;
    unsigned char out[4 * 14], want[4 * 14];
    uint64_t first = 0;
    CHECK(tr_create(name, hash_a, "{}", 2, 2, 64, getpid(), 0, 14, 5, &w) == TR_OK, "create");
    CHECK(tr_attach(name, hash_a, &r) == TR_OK, "attach");
    int64_t tick = 0;
    uint16_t code[3];
    uint32_t agent[3];
    const void *ptrs[3] = {&tick, code, agent};
    uint32_t widths[3] = {8, 2, 4};
    uint64_t strides[3] = {0, 2, 4};
    for (tick = 1; tick <= 3; tick++) { /* 3 records a batch into 5: the third batch wraps */
        for (int i = 0; i < 3; i++) {
            code[i] = (uint16_t)(100 * tick + i);
            agent[i] = (uint32_t)(70000 * tick + i);
        }
        CHECK(tr_events_append_fields(w, 3, 3, ptrs, widths, strides) == TR_OK, "append");
    }
    for (int i = 0; i < 4; i++) { /* records 5..8: the last of batch 2, all of batch 3 */
        int64_t t = i == 0 ? 2 : 3;
        int k = i == 0 ? 2 : i - 1;
        uint16_t c = (uint16_t)(100 * t + k);
        uint32_t a = (uint32_t)(70000 * t + k);
        memcpy(want + 14 * i, &t, 8);
        memcpy(want + 14 * i + 8, &c, 2);
        memcpy(want + 14 * i + 10, &a, 4);
    }
    CHECK(tr_events_read(r, 5, 4, out, &first) == TR_OK && first == 5, "read across the wrap");
    CHECK(memcmp(out, want, sizeof want) == 0, "records assembled field by field");
    tr_close(r);
    tr_close(w);
    tr_unlink(name);
}

/* A fixed part then three columns of 3 rows (1-, 4- and 2-byte elements): each column
 * starts on the 8-byte boundary after the previous one, the frame ends with the last;
 * columns past the capacity and readers' handles are refused. */
static void test_columns(void) {
    tr_ring *w = NULL, *r = NULL;
    CHECK(tr_create(name, hash_a, "{}", 2, 2, 128, getpid(), 0, 0, 0, &w) == TR_OK, "create");
    CHECK(tr_attach(name, hash_a, &r) == TR_OK, "attach");
    uint64_t fixed = 0x0102030405060708ULL;
    const void *ptrs[1] = {&fixed};
    uint64_t offs[1] = {8}, sizes[1] = {8};
    uint8_t a[3] = {1, 2, 3};
    uint32_t b[3] = {10, 20, 30};
    uint16_t c[3] = {7, 8, 9};
    const void *cols[3] = {a, b, c};
    uint32_t widths[3] = {1, 4, 2};
    /* a at 16..19, b at 24..36, c at 40..46 */
    CHECK(tr_publish_columns(w, 5, 16, 1, ptrs, offs, sizes, 3, cols, widths, 3) == 1, "publish");
    unsigned char out[128];
    int64_t tick = 0;
    uint64_t nb = 0;
    CHECK(tr_read(r, 1, 0, sizeof out, out, &tick, &nb, NULL) == TR_OK, "read");
    CHECK(tick == 5 && nb == 46, "frame of %llu bytes", (unsigned long long)nb);
    CHECK(memcmp(out + 8, &fixed, 8) == 0, "fixed part");
    CHECK(memcmp(out + 16, a, 3) == 0 && memcmp(out + 24, b, 12) == 0 && memcmp(out + 40, c, 6) == 0,
          "columns on 8-byte boundaries");
    CHECK(tr_publish_columns(w, 6, 16, 1, ptrs, offs, sizes, 3, cols, widths, 0) == 2, "no rows");
    CHECK(tr_read(r, 2, 0, sizeof out, out, &tick, &nb, NULL) == TR_OK && nb == 16, "empty columns");
    CHECK(tr_publish_columns(w, 7, 16, 1, ptrs, offs, sizes, 3, cols, widths, 4096) == TR_ETOOBIG,
          "columns past the capacity");
    CHECK(tr_publish_columns(w, 7, 16, 1, ptrs, offs, sizes, 3, cols, widths, UINT64_MAX / 2) ==
          TR_ETOOBIG, "rows that overflow");
    CHECK(tr_publish_columns(w, 7, 8, 1, ptrs, offs, sizes, 3, cols, widths, 3) == TR_ETOOBIG,
          "part outside the fixed part");
    CHECK(tr_publish_columns(w, 7, 16, 1, ptrs, offs, sizes, 3, NULL, widths, 3) == TR_EINVAL,
          "no column pointers");
    CHECK(tr_publish_columns(r, 7, 16, 1, ptrs, offs, sizes, 3, cols, widths, 3) == TR_EREADONLY,
          "publish via reader");
    tr_close(r);
    tr_close(w);
    tr_unlink(name);
}

/* A frame of megabytes: parts of every size (the large one copied with non-temporal
 * stores) at odd source and slot offsets and lengths, over earlier frames in the same
 * slots, read back exact, the column after them too. */
static void test_large_frame(void) {
    const uint64_t cap = (5u << 20), fixed = (4u << 20) + 200;
    tr_ring *w = NULL, *r = NULL;
    CHECK(tr_create(name, hash_a, "{}", 2, 2, cap, getpid(), 0, 0, 0, &w) == TR_OK, "create");
    CHECK(tr_attach(name, hash_a, &r) == TR_OK, "attach");
    unsigned char *src = malloc(fixed + 64), *out = malloc(cap);
    const uint64_t offs[4] = {0, 64, 4096 + 3, fixed - 1000};
    const uint64_t sizes[4] = {5, 1000, (1u << 20) + 17, 1000};
    const uint32_t widths[1] = {4};
    for (int64_t f = 1; f <= 3; f++) {
        for (uint64_t i = 0; i < fixed + 64; i++) src[i] = (unsigned char)(i * 7 + (uint64_t)f * 13);
        const void *ptrs[4] = {src + 1, src + 64, src + 4096 + 3, src + 5};
        const void *cols[1] = {src + 9};
        CHECK(tr_publish_columns(w, f, fixed, 4, ptrs, offs, sizes, 1, cols, widths, 3) == f,
              "publish %lld", (long long)f);
        uint64_t nb = 0;
        CHECK(tr_read(r, (uint64_t)f, 0, cap, out, NULL, &nb, NULL) == TR_OK && nb == fixed + 12,
              "read %lld", (long long)f);
        for (int k = 0; k < 4; k++)
            CHECK(memcmp(out + offs[k], ptrs[k], sizes[k]) == 0, "part %d of frame %lld", k,
                  (long long)f);
        CHECK(memcmp(out + fixed, src + 9, 12) == 0, "column of frame %lld", (long long)f);
    }
    free(src);
    free(out);
    tr_close(r);
    tr_close(w);
    tr_unlink(name);
}

int main(void) {
    snprintf(name, sizeof name, "/townlet-ctest-%d", (int)getpid());
    for (unsigned i = 0; i < TR_HASH_SIZE; i++) {
        hash_a[i] = (uint8_t)i;
        hash_b[i] = (uint8_t)(i + 1);
    }
    test_errors();
    test_events();
    test_event_fields();
    test_columns();
    test_large_frame();
    test_hammer();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("test_ring: all checks passed\n");
    return 0;
}
