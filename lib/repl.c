/* repl.c - GNU parallel's replacement strings (repl.h), with GNU parallel's own meanings:
 * {.} removes /\.[^\/.]*$/, {/} removes /.*\//, {//} is Perl's File::Basename::dirname. */
#include "repl.h"

#include <string.h>

/* Strings made only of these look like GNU parallel's own: refused when unsupported. */
static const char parallel_chars[] = "0123456789./#%+-";

static int parse_op(const char *s, size_t n, enum repl_op *op)
{
	static const struct {
		const char *s;
		enum repl_op op;
	} ops[] = { { "", REPL_ALL }, { ".", REPL_NOEXT }, { "/", REPL_BASE }, { "//", REPL_DIR },
		    { "/.", REPL_BASE_NOEXT } };
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
		if (strlen(ops[i].s) == n && memcmp(ops[i].s, s, n) == 0) {
			*op = ops[i].op;
			return 0;
		}
	return -1;
}

void repl_at(const char *p, struct repl *r)
{
	memset(r, 0, sizeof *r);
	if (p[0] != '{')
		return;
	const char *q = p + 1;
	while (*q && *q != '}' && *q != '{')
		q++;
	if (*q != '}')
		return;
	const char *c = p + 1;
	size_t n = (size_t)(q - c);
	r->len = n + 2;
	if (n == 1 && c[0] == '#') {
		r->kind = REPL_SEQ;
		return;
	}
	if (n == 1 && c[0] == '%') {
		r->kind = REPL_ENGINE;
		return;
	}
	if (n && c[0] == '=') {
		r->kind = REPL_BAD;
		return;
	}
	size_t d = 0;
	while (d < n && c[d] >= '0' && c[d] <= '9')
		d++;
	if (d <= 2 && !(d && c[0] == '0') && parse_op(c + d, n - d, &r->op) == 0) {
		r->kind = REPL_ITEM;
		r->src = d ? (size_t)(c[0] - '0') * (d == 2 ? 10 : 1) + (d == 2 ? (size_t)(c[1] - '0') : 0) : 0;
		return;
	}
	if (strspn(c, parallel_chars) >= n) {
		r->kind = REPL_BAD;
		return;
	}
	r->len = 0;
}

int repl_in(const char *arg)
{
	struct repl r;
	for (const char *p = arg; *p; p++) {
		repl_at(p, &r);
		if (r.kind != REPL_NONE && r.kind != REPL_BAD)
			return 1;
	}
	return 0;
}

size_t repl_nsrc(const char *item, size_t len)
{
	size_t n = 1;
	for (size_t i = 0; i < len; i++)
		n += item[i] == REPL_SEP;
	return n;
}

/* "s:\.[^/.]*$::" */
static size_t noext_len(const char *s, size_t n)
{
	for (size_t i = n; i-- > 0;) {
		if (s[i] == '/')
			return n;
		if (s[i] == '.')
			return i;
	}
	return n;
}

/* Where the basename starts: after the last slash. */
static size_t base_at(const char *s, size_t n)
{
	size_t at = 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/')
			at = i + 1;
	return at;
}

/* Perl's dirname on Unix: the directory part ("./" without a slash), its trailing slashes
 * stripped (but not its first byte); when the basename is empty, the same once more. The
 * result is a prefix of s, or ".". */
static void dirname_of(const char *s, size_t n, const char **d, size_t *dn)
{
	for (int round = 0; round < 2; round++) {
		size_t at = base_at(s, n);
		int base_empty = at == n;
		if (at == 0) {
			s = ".";
			n = 1;
		} else {
			n = at;
			while (n > 1 && s[n - 1] == '/')
				n--;
		}
		if (!base_empty)
			break;
	}
	*d = s;
	*dn = n;
}

static void one_value(struct buf *out, const char *s, size_t n, enum repl_op op)
{
	size_t at;
	const char *d;
	switch (op) {
	case REPL_ALL: buf_add(out, s, n); break;
	case REPL_NOEXT: buf_add(out, s, noext_len(s, n)); break;
	case REPL_BASE: at = base_at(s, n); buf_add(out, s + at, n - at); break;
	case REPL_BASE_NOEXT: at = base_at(s, n); buf_add(out, s + at, noext_len(s + at, n - at)); break;
	case REPL_DIR: dirname_of(s, n, &d, &at); buf_add(out, d, at); break;
	}
}

void repl_value(struct buf *out, const char *item, size_t len, const struct repl *r)
{
	size_t k = 1, start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && item[i] != REPL_SEP)
			continue;
		if (r->src == 0) {
			if (k > 1)
				buf_addc(out, ' ');
			one_value(out, item + start, i - start, r->op);
		} else if (r->src == k) {
			one_value(out, item + start, i - start, r->op);
		}
		k++;
		start = i + 1;
	}
}

int repl_check(const char *arg, size_t argno, size_t nsrc, struct err *e)
{
	struct repl r;
	for (const char *p = arg; *p; p++) {
		repl_at(p, &r);
		if (r.kind == REPL_BAD)
			return err_set(e, "argument %zu holds '%.*s', a replacement string of GNU parallel's that spool "
				       "does not support (supported: {} {.} {/} {//} {/.} {#} {%%} and {N} {N.} {N/} "
				       "{N//} {N/.} for source N; see 'spool map --help')", argno, (int)(r.len > 64 ? 64 : r.len), p);
		if (r.kind == REPL_ITEM && r.src > nsrc)
			return err_set(e, "argument %zu holds '%.*s' but the map has %zu input source%s", argno, (int)r.len,
				       p, nsrc, nsrc == 1 ? "" : "s");
		if (r.len)
			p += r.len - 1;
	}
	return 0;
}
