/* rec.c - encoder and strict, bounded parser for spool records (see rec.h). */
#include "rec.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "spool-record"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int key_ok(const char *k, size_t n)
{
	if (n == 0 || n > 32)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
			return 0;
	return 1;
}

/* Header: "spool-record FORMAT TYPE". Shared by rec_parse and rec_peek_type. */
static int parse_header(const char *line, size_t n, unsigned *format, char *type, size_t typesz,
			struct err *e)
{
	size_t ml = strlen(MAGIC), i;
	uint64_t v = 0;

	if (n < ml + 1 || memcmp(line, MAGIC, ml) != 0 || line[ml] != ' ')
		return err_set(e, "not a spool record (first line does not start with \"" MAGIC "\")");
	i = ml + 1;
	if (i >= n || line[i] < '0' || line[i] > '9')
		return err_set(e, "bad record header: format number missing");
	while (i < n && line[i] >= '0' && line[i] <= '9') {
		v = v * 10 + (uint64_t)(line[i] - '0');
		if (v > 1000000)
			return err_set(e, "bad record header: format number too large");
		i++;
	}
	if (i >= n || line[i] != ' ')
		return err_set(e, "bad record header: expected a type after the format number");
	i++;
	if (!key_ok(line + i, n - i) || n - i >= typesz)
		return err_set(e, "bad record header: invalid record type");
	memcpy(type, line + i, n - i);
	type[n - i] = '\0';
	*format = (unsigned)v;
	if (v == 0)
		return err_set(e, "bad record header: format 0 does not exist");
	if (v > REC_FORMAT)
		return err_set(e, "record format %u, this program reads up to %u: upgrade spool on this node",
			       (unsigned)v, REC_FORMAT);
	return 0;
}

int rec_peek_type(const char *data, size_t len, char *type, size_t typesz, struct err *e)
{
	const char *nl = memchr(data, '\n', len < 256 ? len : 256);
	unsigned format;
	if (!nl)
		return err_set(e, "truncated record: no complete first line");
	return parse_header(data, (size_t)(nl - data), &format, type, typesz, e);
}

static const struct rec_rule *find_rule(const struct rec_schema *s, const char *key)
{
	for (size_t i = 0; i < s->nrules; i++)
		if (strcmp(s->rules[i].key, key) == 0)
			return &s->rules[i];
	return NULL;
}

static int num_ok(const char *v, size_t n)
{
	if (n == 0 || n > 20)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (v[i] < '0' || v[i] > '9')
			return 0;
	if (n == 20 && strcmp(v, "18446744073709551615") > 0)
		return 0;
	return 1;
}

/* Decode %XX in place; returns decoded length or -1. */
static long decode_value(char *v, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c == '%') {
			int h, l;
			if (i + 2 >= n)
				return -1;
			h = hexval(v[i + 1]);
			l = hexval(v[i + 2]);
			if (h < 0 || l < 0 || (h == 0 && l == 0))
				return -1;
			v[o++] = (char)(h * 16 + l);
			i += 2;
		} else if (c < 0x20 || c == 0x7f) {
			return -1;
		} else {
			v[o++] = (char)c;
		}
	}
	v[o] = '\0';
	return (long)o;
}

/* Also notes, per rule, how often its key appears and where first: rec_get and rec_count are
 * then O(rules), not O(fields) (a map's record has a million). */
static int check_schema(struct rec *r, const struct rec_schema *s, struct err *e)
{
	size_t *counts = xcalloc(s->nrules, sizeof *counts);
	size_t *first = xmalloc((s->nrules ? s->nrules : 1) * sizeof *first);
	int rc = 0;

	for (size_t k = 0; k < s->nrules; k++)
		first[k] = SIZE_MAX;

	for (size_t i = 0; i < r->n && rc == 0; i++) {
		const struct rec_field *f = &r->f[i];
		const struct rec_rule *ru = find_rule(s, f->key);
		if (!ru) {
			rc = err_set(e, "unknown field '%s' in %s record (line %u)", f->key, s->type, f->line);
			break;
		}
		size_t k = (size_t)(ru - s->rules);
		if (!counts[k]++)
			first[k] = i;
		if (!(ru->flags & RF_MULTI) && counts[k] > 1)
			rc = err_set(e, "field '%s' appears twice in %s record (line %u)", f->key, s->type, f->line);
		else if ((ru->flags & RF_MULTI) && ru->max_count && counts[k] > ru->max_count)
			rc = err_set(e, "too many '%s' fields in %s record (limit %zu)", f->key, s->type,
				     ru->max_count);
		else if (f->len > ru->max_len)
			rc = err_set(e, "field '%s' is %zu bytes in %s record (line %u), limit %zu", f->key, f->len,
				     s->type, f->line, ru->max_len);
		else if ((ru->flags & RF_NUM) && !num_ok(f->val, f->len))
			rc = err_set(e, "field '%s' in %s record (line %u) is not an unsigned integer", f->key,
				     s->type, f->line);
	}
	for (size_t k = 0; k < s->nrules && rc == 0; k++)
		if ((s->rules[k].flags & RF_REQ) && counts[k] == 0)
			rc = err_set(e, "required field '%s' missing from %s record", s->rules[k].key, s->type);
	if (rc == 0) {
		r->schema = s;
		r->counts = counts;
		r->first = first;
	} else {
		free(counts);
		free(first);
	}
	return rc;
}

/* The index of key's rule in the schema r was checked against, or -1 (no schema, or unknown). */
static long rule_index(const struct rec *r, const char *key)
{
	if (!r->schema)
		return -1;
	const struct rec_rule *ru = find_rule(r->schema, key);
	return ru ? (long)(ru - r->schema->rules) : -1;
}

int rec_parse(struct rec *r, const char *data, size_t len, const struct rec_schema *s, struct err *e)
{
	size_t pos = 0, cap = 16;
	unsigned line = 1;
	int ended = 0;
	const char *nl;

	memset(r, 0, sizeof *r);
	if (s && len > s->max_size)
		return err_set(e, "%s record is %zu bytes, limit %zu", s->type, len, s->max_size);
	if (memchr(data, '\0', len))
		return err_set(e, "record contains a NUL byte");
	r->mem = xmalloc(len + 1);
	memcpy(r->mem, data, len);
	r->mem[len] = '\0';
	r->f = xmalloc(cap * sizeof *r->f);

	nl = memchr(r->mem, '\n', len);
	if (!nl) {
		err_set(e, "truncated record: no complete first line");
		goto fail;
	}
	if (parse_header(r->mem, (size_t)(nl - r->mem), &r->format, r->type, sizeof r->type, e) < 0)
		goto fail;
	if (s && strcmp(r->type, s->type) != 0) {
		err_set(e, "expected a %s record, found a %s record", s->type, r->type);
		goto fail;
	}
	pos = (size_t)(nl - r->mem) + 1;
	while (pos < len) {
		char *ln = r->mem + pos, *sp;
		size_t n;
		line++;
		nl = memchr(ln, '\n', len - pos);
		if (!nl) {
			err_set(e, "truncated record: line %u has no newline and there is no 'end'", line);
			goto fail;
		}
		n = (size_t)(nl - ln);
		ln[n] = '\0';
		pos += n + 1;
		if (strcmp(ln, "end") == 0) {
			ended = 1;
			break;
		}
		sp = memchr(ln, ' ', n);
		size_t kl = sp ? (size_t)(sp - ln) : n;
		if (!key_ok(ln, kl)) {
			err_set(e, "bad field name on line %u", line);
			goto fail;
		}
		ln[kl] = '\0';
		char *v = sp ? sp + 1 : ln + n;
		long dl = decode_value(v, sp ? n - kl - 1 : 0);
		if (dl < 0) {
			err_set(e, "bad value for field '%s' on line %u (raw control byte, NUL or bad %%XX escape)",
				ln, line);
			goto fail;
		}
		if (r->n == cap) {
			cap *= 2;
			r->f = xrealloc(r->f, cap * sizeof *r->f);
		}
		r->f[r->n].key = ln;
		r->f[r->n].val = v;
		r->f[r->n].len = (size_t)dl;
		r->f[r->n].line = line;
		r->n++;
	}
	if (!ended) {
		err_set(e, "truncated record: missing 'end' line");
		goto fail;
	}
	if (pos != len) {
		err_set(e, "data after the 'end' line (line %u)", line + 1);
		goto fail;
	}
	if (s && check_schema(r, s, e) < 0)
		goto fail;
	return 0;
fail:
	rec_free(r);
	return -1;
}

void rec_free(struct rec *r)
{
	free(r->f);
	free(r->mem);
	free(r->counts);
	free(r->first);
	memset(r, 0, sizeof *r);
}

const char *rec_get(const struct rec *r, const char *key)
{
	long k = rule_index(r, key);
	if (k >= 0)
		return r->counts[k] ? r->f[r->first[k]].val : NULL;
	if (r->schema)
		return NULL; /* a key the schema does not know is in no record it accepted */
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->f[i].key, key) == 0)
			return r->f[i].val;
	return NULL;
}

size_t rec_count(const struct rec *r, const char *key)
{
	long k = rule_index(r, key);
	if (k >= 0)
		return r->counts[k];
	if (r->schema)
		return 0;
	size_t c = 0;
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->f[i].key, key) == 0)
			c++;
	return c;
}

uint64_t rec_get_u64(const struct rec *r, const char *key, uint64_t dflt)
{
	const char *v = rec_get(r, key);
	uint64_t out;
	if (!v || parse_u64(v, UINT64_MAX, &out) < 0)
		return dflt;
	return out;
}

void rec_begin(struct buf *b, const char *type)
{
	buf_printf(b, MAGIC " %u %s\n", REC_FORMAT, type);
}

void rec_escape(struct buf *b, const char *val, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t run = 0; /* start of the pending run of bytes that need no escape */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)val[i];
		if (c < 0x20 || c == 0x7f || c == '%') {
			char esc[3] = { '%', hex[c >> 4], hex[c & 15] };
			buf_add(b, val + run, i - run);
			buf_add(b, esc, 3);
			run = i + 1;
		}
	}
	buf_add(b, val + run, n - run);
}

size_t rec_escaped_len(const char *val, size_t n)
{
	size_t len = n;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)val[i];
		if (ch < 0x20 || ch == 0x7f || ch == '%')
			len += 2;
	}
	return len;
}

void rec_putn(struct buf *b, const char *key, const char *val, size_t n)
{
	buf_adds(b, key);
	buf_addc(b, ' ');
	rec_escape(b, val, n);
	buf_addc(b, '\n');
}

void rec_put(struct buf *b, const char *key, const char *val)
{
	rec_putn(b, key, val, strlen(val));
}

/* "KEY DIGITS\n" without printf: these lines are most of what the daemons format per task. */
static void put_digits(struct buf *b, const char *key, bool neg, uint64_t v)
{
	char d[24];
	size_t i = sizeof d;
	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	if (neg)
		d[--i] = '-';
	buf_adds(b, key);
	buf_addc(b, ' ');
	buf_add(b, d + i, sizeof d - i);
	buf_addc(b, '\n');
}

void rec_put_u64(struct buf *b, const char *key, uint64_t v)
{
	put_digits(b, key, false, v);
}

void rec_put_i64(struct buf *b, const char *key, int64_t v)
{
	put_digits(b, key, v < 0, v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
}

void rec_end(struct buf *b)
{
	buf_adds(b, "end\n");
}
