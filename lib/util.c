/* util.c - allocation, buffers, number parsing and clocks shared by every program. */
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void oom(size_t n)
{
	fprintf(stderr, "spool: out of memory allocating %zu bytes\n", n);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (!p)
		oom(n * m);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	struct buf b;
	va_list ap;
	int n;

	buf_init(&b);
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom(0);
	buf_grow(&b, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(b.p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b.len = (size_t)n;
	return buf_steal(&b);
}

void buf_init(struct buf *b)
{
	b->p = NULL;
	b->len = b->cap = 0;
}

void buf_free(struct buf *b)
{
	free(b->p);
	buf_init(b);
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
}

void buf_grow(struct buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	b->p = xrealloc(b->p, cap);
	b->cap = cap;
}

void buf_add(struct buf *b, const void *data, size_t n)
{
	buf_grow(b, n);
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void buf_addc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	/* One pass when it fits in what the buffer has spare (the usual case: a line of a record);
	 * sizing it first doubled the cost of every formatted line. */
	buf_grow(b, 63);
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->p[b->len] = '\0';
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		buf_grow(b, (size_t)n);
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

char *buf_steal(struct buf *b)
{
	char *p = b->p ? b->p : xstrdup("");
	buf_init(b);
	return p;
}

int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	if (!s || !*s || (*s != '-' && (*s < '0' || *s > '9')))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int parse_seconds_ms(const char *s, uint64_t max_ms, uint64_t *out_ms)
{
	uint64_t whole = 0, frac = 0, scale = 1000, unit = 1; /* frac in ms of the unit */
	const char *p = s;

	if (!s || *s < '0' || *s > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		whole = whole * 10 + (uint64_t)(*p - '0');
		if (whole > max_ms / 1000)
			return -1;
	}
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (scale > 1) {
				scale /= 10;
				frac += (uint64_t)(*p - '0') * scale;
			}
		}
	}
	/* An optional unit, as sleep(1) and Slurm take them: s, m, h, d. */
	if (*p && !p[1]) {
		switch (*p++) {
		case 's': unit = 1; break;
		case 'm': unit = 60; break;
		case 'h': unit = 3600; break;
		case 'd': unit = 86400; break;
		default: return -1;
		}
	}
	if (*p)
		return -1;
	if (whole > max_ms / 1000 / unit)
		return -1;
	uint64_t ms = whole * 1000 * unit; /* <= max_ms by the line above: no overflow */
	if (frac * unit > max_ms - ms)
		return -1;
	*out_ms = ms + frac * unit;
	return 0;
}

int timespec_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	if (a->tv_nsec != b->tv_nsec)
		return a->tv_nsec < b->tv_nsec ? -1 : 1;
	return 0;
}

static uint64_t clock_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

uint64_t wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

size_t strlcpy_s(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);
	if (size) {
		size_t c = n < size - 1 ? n : size - 1;
		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

bool has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);
	return n > m && strcmp(s + n - m, suf) == 0;
}

/* The length of the valid UTF-8 sequence at p (n bytes left), 0 if there is none; *cp its code
 * point. Overlong forms, surrogates and code points above U+10FFFF are not valid. */
static size_t utf8_seq(const unsigned char *p, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c, min;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2, c = p[0] & 0x1fu, min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3, c = p[0] & 0x0fu, min = 0x800;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4, c = p[0] & 0x07u, min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3fu);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* What a terminal or a log reader may take as a command or a line break, or that reorders
 * what is shown (a path that displays as another). */
static bool code_point_unsafe(uint32_t c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029 ||
	       (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

/* Clean n bytes of in into out (room for outsz - 1 bytes and the NUL); returns bytes written. */
static size_t clean_into(char *out, size_t outsz, const char *in, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)in;
	size_t i = 0, o = 0;

	while (i < n) {
		uint32_t cp;
		size_t len = utf8_seq(p + i, n - i, &cp);
		bool esc = len == 0 || code_point_unsafe(cp);
		if (len == 0)
			len = 1;
		size_t need = esc ? 3 * len : len;
		if (o + need + 1 > outsz)
			break;
		for (size_t k = 0; k < len; k++) {
			if (esc) {
				out[o++] = '%';
				out[o++] = hex[p[i + k] >> 4];
				out[o++] = hex[p[i + k] & 15];
			} else {
				out[o++] = (char)p[i + k];
			}
		}
		i += len;
	}
	out[o] = '\0';
	return o;
}

char *text_clean(char *out, size_t outsz, const char *in)
{
	clean_into(out, outsz, in, strlen(in));
	return out;
}

void buf_add_clean(struct buf *b, const char *s, size_t n)
{
	buf_grow(b, 3 * n);
	b->len += clean_into(b->p + b->len, b->cap - b->len, s, n);
}

/* "512", "50M", "1.5G": whole bytes, K/M/G/T (also k/m/g/t, powers of 1024, as Slurm's --mem
 * and sbatch take them), an optional B after the unit. At most max. */
int parse_size(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t whole = 0, frac = 0, scale = 1, unit = 1;
	const char *p = s;
	if (!s || *s < '0' || *s > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (whole > (UINT64_MAX - 9) / 10)
			return -1;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') { /* up to 6 decimals count; the rest are dropped */
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		for (; *p >= '0' && *p <= '9'; p++)
			if (scale < 1000000) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				scale *= 10;
			}
	}
	if (*p) {
		const char *units = "KMGT", *u = strchr(units, *p >= 'a' ? *p - 32 : *p);
		if (!u || !*u)
			return -1;
		for (long i = 0; i <= u - units; i++)
			unit *= 1024;
		p++;
		if (*p == 'B' || *p == 'b')
			p++;
	}
	if (*p || (scale > 1 && unit == 1))
		return -1; /* a fraction of a byte */
	if (whole > max / unit)
		return -1;
	uint64_t v = whole * unit, f = frac * unit / scale; /* frac < 10^6, unit <= 2^40: no overflow */
	if (f > max - v)
		return -1;
	*out = v + f;
	return 0;
}

/* The shortest of "50M", "1536K", "123" that names bytes exactly (the inverse of parse_size). */
void format_size(uint64_t bytes, char *out, size_t sz)
{
	static const char units[] = "KMGT";
	int u = -1;
	while (u < 3 && bytes && bytes % 1024 == 0) {
		bytes /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(out, sz, "%" PRIu64, bytes);
	else
		snprintf(out, sz, "%" PRIu64 "%c", bytes, units[u]);
}

/* How many engines a worker runs when not told (spool-layout.md 9): the CPUs it may use. affinity:
 * CPUs in its affinity mask (<= 0: unknown, taken as 1); quota/period: its cgroup v2 cpu.max
 * (quota 0: "max", no quota), rounded up; slurm: SLURM_CPUS_ON_NODE (<= 0: unset). The least of
 * them, at least 1, at most max. why gets how it was chosen, for the log. */
int cpus_choose(long affinity, uint64_t quota, uint64_t period, long slurm, int max, char *why, size_t whysz)
{
	long n = affinity > 0 ? affinity : 1;
	char q[96] = "no cgroup CPU quota", sl[64] = "SLURM_CPUS_ON_NODE unset";
	if (quota && period) {
		uint64_t c = (quota + period - 1) / period;
		if (c < 1)
			c = 1;
		snprintf(q, sizeof q, "cgroup quota %.2f \u2192 %" PRIu64, (double)quota / (double)period, c);
		if ((uint64_t)n > c)
			n = (long)c;
	}
	if (slurm > 0) {
		snprintf(sl, sizeof sl, "SLURM_CPUS_ON_NODE %ld", slurm);
		if (n > slurm)
			n = slurm;
	}
	if (n > max)
		n = max;
	snprintf(why, whysz, "%ld engine%s: affinity %ld CPU%s, %s, %s", n, n == 1 ? "" : "s", affinity,
		 affinity == 1 ? "" : "s", q, sl);
	return (int)n;
}
