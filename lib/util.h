/* util.h - small shared helpers: allocation, growable buffers, number parsing, time. */
#ifndef SPOOL_UTIL_H
#define SPOOL_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdarg.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation failure is not recoverable for these small programs: abort with a message. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable byte buffer that is always NUL-terminated. */
struct buf {
	char *p;
	size_t len, cap;
};
void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
void buf_grow(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *data, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_addc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *buf_steal(struct buf *b);

/* Strict number parsing: whole string, no sign surprises, range checked. Return 0 or -1. */
int parse_u64(const char *s, uint64_t max, uint64_t *out);
int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
/* Seconds with an optional fraction and unit ("2", "0.25", "90s", "1.5m", "2h", "1d") into ms. */
int parse_seconds_ms(const char *s, uint64_t max_ms, uint64_t *out_ms);
/* A size in bytes with an optional unit ("512", "50M", "1.5G"; K M G T, powers of 1024). */
int parse_size(const char *s, uint64_t max, uint64_t *out);
void format_size(uint64_t bytes, char *out, size_t sz); /* "50M": exact, its shortest form */
/* The engines a worker runs unless told: the least of its CPUs (affinity), its cgroup's CPU
 * quota (quota/period rounded up; quota 0: none) and SLURM_CPUS_ON_NODE (slurm <= 0: unset). */
int cpus_choose(long affinity, uint64_t quota, uint64_t period, long slurm, int max, char *why, size_t whysz);

struct timespec;
/* Order two file times (-1, 0, 1): spool orders records by mtime, the file server's clock. */
int timespec_cmp(const struct timespec *a, const struct timespec *b);

/* Monotonic and wall clocks in milliseconds. */
uint64_t mono_ms(void);
uint64_t wall_ms(void);

/* Does s end with suf (and hold more than it)? */
bool has_suffix(const char *s, const char *suf);

/* Text from users (paths, names, reasons) made safe to print or log as part of one line: C0
 * controls (tab and newline too), DEL, C1 controls (U+0080-U+009F), the Unicode line and
 * paragraph separators and bidirectional overrides, and every byte that is not part of valid
 * UTF-8 become %XX (upper-case hex, each byte); valid UTF-8 is kept. '%' itself is kept, so
 * escaping twice changes nothing; the result is for people, not to be decoded.
 * text_clean writes into out (outsz > 0), stopping before an escape that would not fit, and
 * returns out; buf_add_clean appends all of it. */
char *text_clean(char *out, size_t outsz, const char *in);
void buf_add_clean(struct buf *b, const char *s, size_t n);

/* Copy with truncation, always terminated; returns strlen(src). */
size_t strlcpy_s(char *dst, const char *src, size_t size);

#endif
