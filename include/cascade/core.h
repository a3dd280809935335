/* cascade core: status codes with messages, shapes, arena, Philox RNG, logging, timers.
 * Free of MPI and HDF5. */
#ifndef CASCADE_CORE_H
#define CASCADE_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CASCADE_VERSION "0.1.0"

/* Status codes double as the CLI exit codes of CONTRACT.md. */
typedef enum {
    CASCADE_OK = 0,
    CASCADE_EINTERNAL = 1, /* bug or out of memory */
    CASCADE_EUSAGE = 2,    /* command line or job file */
    CASCADE_EDATA = 3,     /* schema, shape, NaN/Inf */
    CASCADE_EIO = 4,       /* open, read, write, disk full */
    CASCADE_ESTOPPED = 75  /* stopped by a signal after writing a checkpoint */
} cascade_status;

/* Sets the thread-local error message (printf format) and returns `code`. */
cascade_status cascade_fail(cascade_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prepends context ("layer model.conv1: ") to the current message. */
void cascade_error_context(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *cascade_errmsg(void);
void cascade_clear_error(void);
/* `in` with every byte that is not printable replaced by an escape (\xNN; \n, \t and
 * well-formed UTF-8 of printable code points are kept) into out (always NUL-terminated when
 * cap > 0; cut at a whole escape). Messages built from a file's names and strings pass through
 * it, so a crafted file cannot put control bytes into a terminal or a log. Returns out. */
char *cascade_printable(const char *in, char *out, size_t cap);

/* ---- checksums (core/checksum.c) ---- */
/* CRC-32C (Castagnoli, as iSCSI, ext4, Btrfs): crc32c("123456789") = 0xe3069283. `crc` is the
 * value of the bytes before (0 to start): cascade_crc32c(cascade_crc32c(0, a, n), b, m) is the
 * CRC of a followed by b. SSE4.2 instructions when the CPU has them, else tables. */
uint32_t cascade_crc32c(uint32_t crc, const void *data, size_t n);
/* The same from tables only (the unit test compares the two). */
uint32_t cascade_crc32c_tables(uint32_t crc, const void *data, size_t n);
/* The CRC of A followed by `n` more bytes B is cascade_crc32c_shift(crc(A), n) ^ crc(B): what
 * lets parts written by different ranks be combined (XOR) into the CRC of the whole. */
uint32_t cascade_crc32c_shift(uint32_t crc, uint64_t n);

#define CASCADE_TRY(expr)                                                                  \
    do {                                                                                   \
        cascade_status cascade_try_status_ = (expr);                                       \
        if (cascade_try_status_ != CASCADE_OK) return cascade_try_status_;                 \
    } while (0)

/* Allocation: 64-byte aligned, zero-filled; NULL + message on failure. Free with cascade_free. */
void *cascade_alloc(size_t bytes, const char *what);
void cascade_free(void *p);

/* ---- shapes (row-major, channels first; per sample unless stated) ---- */
#define CASCADE_MAX_DIMS 6
typedef struct {
    int ndim;
    int64_t d[CASCADE_MAX_DIMS];
} cascade_shape;

cascade_shape cascade_shape_make(int ndim, const int64_t *dims);
int64_t cascade_shape_numel(const cascade_shape *s);
int cascade_shape_equal(const cascade_shape *a, const cascade_shape *b);
/* "(16,9,9)"; returns buf. */
char *cascade_shape_str(const cascade_shape *s, char *buf, size_t n);

/* ---- arena: one block, bump allocation, reset per batch shape ---- */
typedef struct {
    char *base;
    size_t size, used;
} cascade_arena;

cascade_status cascade_arena_init(cascade_arena *a, size_t bytes);
/* 64-byte aligned; NULL (with message) when the arena is full. */
void *cascade_arena_alloc(cascade_arena *a, size_t bytes);
void cascade_arena_reset(cascade_arena *a);
void cascade_arena_free(cascade_arena *a);

/* ---- Philox4x32-10 (Random123), keyed by (seed, purpose), counter (a, b) ----
 * Streams never depend on the rank: callers put epoch/step in `a` and a global
 * sample/element index in `b`. */
enum {
    CASCADE_RNG_INIT = 1,
    CASCADE_RNG_SHUFFLE = 2,
    CASCADE_RNG_DROPOUT = 3,
    CASCADE_RNG_SPLIT = 4,
    CASCADE_RNG_NOISE = 5,
    CASCADE_RNG_GAN_Z = 6,     /* generator noise: counter (update << 8 | phase, global sample) */
    CASCADE_RNG_GAN_ALPHA = 7, /* gradient-penalty interpolation weights, same counter */
    CASCADE_RNG_HISTORY = 8,   /* refiner history buffer: which samples are read / replaced */
    CASCADE_RNG_SIM = 16 /* simulators: CASCADE_RNG_SIM + kind */
};
void cascade_philox(uint64_t seed, uint32_t purpose, uint64_t a, uint64_t b, uint32_t out[4]);
/* uniform in [0,1) with 24 random bits (exactly representable in float) */
static inline float cascade_u01f(uint32_t x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }
/* uniform in [0,1) with 53 random bits from two words */
static inline double cascade_u01d(uint32_t hi, uint32_t lo) {
    return (double)(((uint64_t)hi << 21) ^ (uint64_t)(lo >> 11)) * (1.0 / 9007199254740992.0);
}
/* Two standard normal draws (Box-Muller) from counter (a, b). */
void cascade_normal2(uint64_t seed, uint32_t purpose, uint64_t a, uint64_t b, double out[2]);
/* Global permutation of 0..n-1 for (seed, purpose, round): identical on every rank. */
cascade_status cascade_permutation(uint64_t seed, uint32_t purpose, uint64_t round, int64_t n,
                                   int64_t *perm);

/* mkdir -p; CASCADE_EIO naming the path that cannot be created. */
cascade_status cascade_mkdir_p(const char *dir);
/* Opens `path` for appending (created 0644 if missing), never through a symbolic link: a link
 * there is an error naming the path (run files such as metrics.jsonl). */
cascade_status cascade_fopen_append(const char *path, FILE **out);

/* ---- logging and timers ---- */
void cascade_log_set_rank(int rank);
int cascade_log_rank(void);
void cascade_log_set_quiet(int quiet);
/* Prints to stderr on rank 0 only (unless quiet). */
void cascade_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Monotonic seconds. */
double cascade_now(void);

/* ---- JSON ---- */
/* s as a quoted, escaped JSON string into buf (always NUL-terminated when n > 0); returns the
 * length the full text needs, as snprintf does. NULL is written as "". */
size_t cascade_json_string(char *buf, size_t n, const char *s);
/* The same, written to f. */
void cascade_json_fputs(FILE *f, const char *s);

#ifdef __cplusplus
}
#endif
#endif
