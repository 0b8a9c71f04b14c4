/* common.c - the checks every record target shares (see fuzz.h). */
#include "fuzz.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static volatile unsigned fuzz_sink;

void fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "fuzz check failed at %s:%d: %s\n", file, line, what);
	abort();
}

/* XOR only: no wrap-around, so the harness stays quiet under -fsanitize=integer too. */
void fuzz_use(const char *s)
{
	unsigned char h = 0;
	if (!s)
		return;
	for (; *s; s++)
		h ^= (unsigned char)*s;
	fuzz_sink ^= h;
}

static int key_ok(const char *k)
{
	size_t n = strlen(k);
	if (n == 0 || n > 32)
		return 0;
	return strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static const struct rec_rule *rule_of(const struct rec_schema *s, const char *key)
{
	for (size_t i = 0; i < s->nrules; i++)
		if (strcmp(s->rules[i].key, key) == 0)
			return &s->rules[i];
	return NULL;
}

/* What the schema promised, read back through the accessors a program uses. */
static void check_fields(const struct rec *r, const struct rec_schema *s)
{
	FUZZ_CHECK(strcmp(r->type, s->type) == 0);
	FUZZ_CHECK(r->format >= 1 && r->format <= REC_FORMAT);
	for (size_t i = 0; i < r->n; i++) {
		const struct rec_field *f = &r->f[i];
		const struct rec_rule *ru = rule_of(s, f->key);
		FUZZ_CHECK(key_ok(f->key));
		FUZZ_CHECK(ru != NULL);
		FUZZ_CHECK(strlen(f->val) == f->len); /* decoded values never hold a NUL */
		FUZZ_CHECK(f->len <= ru->max_len);
		FUZZ_CHECK(f->line >= 2);
		fuzz_use(f->val);
	}
	for (size_t k = 0; k < s->nrules; k++) {
		const struct rec_rule *ru = &s->rules[k];
		size_t c = rec_count(r, ru->key);
		const char *v = rec_get(r, ru->key);
		if (ru->flags & RF_REQ)
			FUZZ_CHECK(c >= 1);
		if (!(ru->flags & RF_MULTI))
			FUZZ_CHECK(c <= 1);
		else if (ru->max_count)
			FUZZ_CHECK(c <= ru->max_count);
		FUZZ_CHECK((c == 0) == (v == NULL));
		/* A numeric field the schema accepted always reads as a number, never the default. */
		if (v && (ru->flags & RF_NUM))
			FUZZ_CHECK(rec_get_u64(r, ru->key, 0) == rec_get_u64(r, ru->key, 1));
		fuzz_use(v);
	}
	FUZZ_CHECK(rec_get(r, "no_such_key") == NULL && rec_count(r, "no_such_key") == 0);
	FUZZ_CHECK(rec_get_u64(r, "no_such_key", 42) == 42);
}

/* Encode what was read with the writer's functions: it must parse back to the same fields. */
static void check_roundtrip(const struct rec *r, const struct rec_schema *s)
{
	struct buf b;
	struct rec r2;
	struct err e = { "" };

	buf_init(&b);
	rec_begin(&b, r->type);
	for (size_t i = 0; i < r->n; i++)
		rec_putn(&b, r->f[i].key, r->f[i].val, r->f[i].len);
	rec_end(&b);
	/* Bytes only grow when a line had no space after its key ("key\n" reads as ""). */
	if (b.len <= s->max_size) {
		if (rec_parse(&r2, b.p, b.len, s, &e) < 0) {
			fprintf(stderr, "re-encoded record refused: %s\n%s", e.msg, b.p);
			FUZZ_CHECK(!"the writer's encoding of a parsed record parses back");
		}
		FUZZ_CHECK(r2.n == r->n);
		for (size_t i = 0; i < r->n; i++) {
			FUZZ_CHECK(strcmp(r2.f[i].key, r->f[i].key) == 0);
			FUZZ_CHECK(r2.f[i].len == r->f[i].len);
			FUZZ_CHECK(memcmp(r2.f[i].val, r->f[i].val, r->f[i].len) == 0);
		}
		rec_free(&r2);
	}
	buf_free(&b);
}

int fuzz_rec_parse(struct rec *r, const uint8_t *data, size_t size, const struct rec_schema *s)
{
	struct err e = { "" };

	if (rec_parse(r, (const char *)data, size, s, &e) < 0) {
		FUZZ_CHECK(e.msg[0] != '\0'); /* every refusal says why */
		FUZZ_CHECK(r->f == NULL && r->mem == NULL && r->n == 0);
		rec_free(r); /* freeing a refused record is harmless */
		return -1;
	}
	check_fields(r, s);
	check_roundtrip(r, s);
	return 0;
}

void fuzz_rec_peek(const uint8_t *data, size_t size)
{
	char type[32] = "", small[5];
	struct err e = { "" };
	struct rec r;
	int peek = rec_peek_type((const char *)data, size, type, sizeof type, &e);
	FUZZ_CHECK(peek == 0 || e.msg[0] != '\0');
	if (peek == 0) {
		FUZZ_CHECK(strlen(type) >= 1 && strlen(type) < sizeof type);
		/* A type that does not fit the caller's buffer is refused, not truncated. */
		if (strlen(type) >= sizeof small)
			FUZZ_CHECK(rec_peek_type((const char *)data, size, small, sizeof small, &e) < 0);
	}
	/* Without a schema rec_parse checks the syntax only; it must agree on the header. */
	if (rec_parse(&r, (const char *)data, size, NULL, &e) == 0) {
		const char *nl = memchr(data, '\n', size);
		if (nl && (size_t)(nl - (const char *)data) < 256)
			FUZZ_CHECK(peek == 0 && strcmp(type, r.type) == 0);
		for (size_t i = 0; i < r.n; i++)
			FUZZ_CHECK(strlen(r.f[i].val) == r.f[i].len);
		rec_free(&r);
	}
}

static char tmpdir[256];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_tmpdir(void)
{
	if (tmpdir[0])
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_tmpdir(void)
{
	if (tmpdir[0])
		return tmpdir;
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/spool-fuzz.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("fuzz: mkdtemp");
		abort();
	}
	atexit(rm_tmpdir);
	return tmpdir;
}

void fuzz_try(const uint8_t *data, size_t size, const struct rec_schema *s, void (*use)(const struct rec *))
{
	struct rec r;
	if (fuzz_rec_parse(&r, data, size, s) == 0) {
		use(&r);
		rec_free(&r);
	}
}

void fuzz_use_each(const struct rec *r, const char *key, size_t max)
{
	FUZZ_CHECK(rec_count(r, key) <= max);
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->f[i].key, key) == 0)
			fuzz_use(r->f[i].val);
}
