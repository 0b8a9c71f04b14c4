/* assignrec.c - build an assignment record, and measure it without building it. */
#include "assignrec.h"
#include "rec.h"
#include "repl.h"
#include "schema.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* What one argument becomes: its literal bytes, and how many replacement strings it holds. */
struct argcount {
	uint64_t lit, lit_esc;
	uint64_t ci; /* item strings but {//}: at most the item's bytes */
	uint64_t cd; /* {//} forms: a dirname may be "." for each value, at most item + nsrc bytes */
	uint64_t cn, ce; /* {#} and {%} */
	uint64_t split;  /* strings of every value: each splits the argument in nsrc */
};

/* What a task's replacement strings stand for (NULL item: count only). */
struct subst {
	const char *item, *num, *engine;
	size_t item_len;
};

/* The one substitution rule, left to right, in a map only (repl.h). Builds into a when rec is
 * not NULL: a string standing for every value ({}, {.}...) of an item of several values splits
 * the argument there, one value each, as GNU parallel's quoting does ('x{}y' with a, b gives xa
 * and by), so rec gets the arguments finished before the last, left in a. Counts into c when c
 * is not NULL. */
static void scan_arg(const char *arg, int is_map, const struct subst *v, struct buf *rec, struct buf *a,
		     struct argcount *c)
{
	struct repl r = { 0 };
	size_t nv = rec && v->item ? repl_nsrc(v->item, v->item_len) : 1;
	for (const char *p = arg; *p;) {
		if (is_map)
			repl_at(p, &r);
		if (r.kind == REPL_ITEM && rec) {
			struct repl one = r;
			for (size_t k = 1; k <= nv; k++) {
				one.src = r.src ? r.src : k;
				repl_value(a, v->item, v->item_len, &one);
				if (r.src || k == nv)
					break;
				rec_putn(rec, "arg", a->p ? a->p : "", a->len);
				buf_reset(a);
			}
		} else if (rec && (r.kind == REPL_SEQ || r.kind == REPL_ENGINE)) {
			buf_adds(a, r.kind == REPL_SEQ ? v->num : v->engine);
		}
		if (c && r.kind == REPL_ITEM) {
			*(r.op == REPL_DIR ? &c->cd : &c->ci) += 1;
			c->split += r.src == 0;
		} else if (c && (r.kind == REPL_SEQ || r.kind == REPL_ENGINE)) {
			*(r.kind == REPL_SEQ ? &c->cn : &c->ce) += 1;
		}
		if (r.kind == REPL_ITEM || r.kind == REPL_SEQ || r.kind == REPL_ENGINE) {
			p += r.len;
			r.kind = REPL_NONE;
			continue;
		}
		if (rec)
			buf_addc(a, *p);
		if (c) {
			c->lit++;
			c->lit_esc += rec_escaped_len(p, 1);
		}
		p++;
	}
}

int assign_has_placeholder(const struct assign_tmpl *t)
{
	for (size_t o = 0; o < t->argv_len; o += strlen(t->argv + o) + 1)
		if (repl_in(t->argv + o))
			return 1;
	return 0;
}

/* "KEY VALUE\n" with a value of vlen (escaped) bytes. */
static uint64_t line(const char *key, uint64_t vlen)
{
	return strlen(key) + 1 + vlen + 1;
}

static uint64_t str_line(const char *key, const char *val)
{
	return line(key, rec_escaped_len(val, strlen(val)));
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
	return b && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

void assign_measure(const struct assign_tmpl *t, uint64_t item_len, uint64_t item_esc, unsigned idx_digits,
		    struct assign_size *s)
{
	struct buf h;
	buf_init(&h);
	rec_begin(&h, "assign");
	uint64_t n = h.len;
	buf_free(&h);

	n += str_line("job", t->id);
	n += 5 * line("task", 20); /* task, attempt, engine, seq, uid: at most 20 characters each */
	if (t->name)
		n += str_line("name", t->name);
	n += str_line("cwd", t->cwd) + str_line("outdir", t->outdir);
	if (t->timeout_ms)
		n += line("timeout_ms", 20);
	if (t->umask >= 0)
		n += line("umask", 20);
	if (t->mem)
		n += line("mem", 20);
	if (t->builtin)
		n += str_line("builtin", t->builtin);
	for (size_t o = 0; o < t->env_len; o += strlen(t->env + o) + 1)
		n = sat_add(n, str_line("env", t->env + o));
	n += line("mac", 64) + strlen("end\n");

	memset(s, 0, sizeof *s);
	uint64_t nsrc = t->nsrc ? t->nsrc : 1;
	for (size_t o = 0; o < t->argv_len; o += strlen(t->argv + o) + 1) {
		struct argcount c = { 0 };
		scan_arg(t->argv + o, t->is_map, NULL, NULL, NULL, &c);
		uint64_t dec = sat_add(sat_add(c.lit, sat_mul(c.ci, item_len)), sat_mul(c.cn, idx_digits));
		uint64_t esc = sat_add(sat_add(c.lit_esc, sat_mul(c.ci, item_esc)), sat_mul(c.cn, idx_digits));
		dec = sat_add(sat_add(dec, sat_mul(c.cd, sat_add(item_len, nsrc))), sat_mul(c.ce, 20));
		esc = sat_add(sat_add(esc, sat_mul(c.cd, sat_add(item_esc, nsrc))), sat_mul(c.ce, 20));
		/* Split in 1 + split * (nsrc - 1) arguments: each split costs a line ("arg \n"),
		 * the bound above already counts the values' bytes. */
		uint64_t extra = sat_mul(c.split, nsrc - 1);
		n = sat_add(sat_add(n, line("arg", esc)), sat_mul(extra, line("arg", 0)));
		s->nargs += 1 + (size_t)(extra > MAX_ARGS ? MAX_ARGS : extra);
		if (dec > s->max_arg) {
			s->max_arg = dec;
			s->arg_at = s->nargs;
		}
	}
	/* Without a replacement string, each value is one more argument: at most item_esc bytes of
	 * values (less the separators, not written) and nsrc lines. */
	if (t->is_map && !assign_has_placeholder(t)) {
		n = sat_add(n, sat_add(item_esc, sat_mul(nsrc, line("arg", 0))));
		s->nargs += nsrc;
		if (item_len > s->max_arg) {
			s->max_arg = item_len;
			s->arg_at = s->nargs;
		}
	}
	s->record = n;
}

static unsigned digits(uint64_t v)
{
	unsigned d = 1;
	while (v >= 10) {
		v /= 10;
		d++;
	}
	return d;
}

int assign_check(const struct assign_tmpl *t, uint64_t max_item_len, uint64_t max_item_esc, uint64_t ntasks,
		 struct err *e)
{
	struct assign_size s;
	size_t olen = strlen(t->outdir);
	if (olen > MAX_OUTDIR_LEN)
		return err_set(e, "output directory is %zu bytes, limit %d (so that OUTDIR/TASK.ATTEMPT.out fits %d bytes)",
			       olen, MAX_OUTDIR_LEN, MAX_PATH_LEN);
	assign_measure(t, max_item_len, max_item_esc, digits(ntasks), &s);
	if (s.nargs > MAX_ARGS)
		return err_set(e, "its tasks would have %zu arguments (the item is appended when no argument holds {}), "
			       "limit %d", s.nargs, MAX_ARGS);
	if (s.max_arg > MAX_ARG_LEN)
		return err_set(e, "argument %zu of a task would be %" PRIu64 " bytes after {} and {#} are replaced "
			       "(items of up to %" PRIu64 " bytes), limit %d", s.arg_at, s.max_arg, max_item_len,
			       MAX_ARG_LEN);
	if (s.record > MAX_ASSIGN_RECORD)
		return err_set(e, "a task would expand to an assignment of %" PRIu64 " bytes (arguments after {} is "
			       "replaced, environment and paths), limit %u", s.record, MAX_ASSIGN_RECORD);
	return 0;
}

void assign_build(struct buf *b, const struct spool_key *key, const struct assign_tmpl *t, int64_t idx,
		  const char *item, int64_t attempt, int64_t engine, uint64_t seq)
{
	char num[24], eng[24];
	struct buf a;
	snprintf(num, sizeof num, "%" PRId64, idx);
	snprintf(eng, sizeof eng, "%" PRId64, engine);
	buf_reset(b);
	rec_begin(b, "assign");
	rec_put(b, "job", t->id);
	rec_put_i64(b, "task", idx);
	rec_put_i64(b, "attempt", attempt);
	rec_put_i64(b, "engine", engine);
	rec_put_u64(b, "seq", seq);
	rec_put_i64(b, "uid", t->owner);
	if (t->umask >= 0)
		rec_put_i64(b, "umask", t->umask);
	if (t->name)
		rec_put(b, "name", t->name);
	rec_put(b, "cwd", t->cwd);
	rec_put(b, "outdir", t->outdir);
	if (t->timeout_ms)
		rec_put_i64(b, "timeout_ms", t->timeout_ms);
	if (t->mem)
		rec_put_i64(b, "mem", t->mem);
	if (t->builtin)
		rec_put(b, "builtin", t->builtin);
	for (size_t o = 0; o < t->env_len; o += strlen(t->env + o) + 1)
		rec_put(b, "env", t->env + o);
	buf_init(&a);
	int is_map = t->is_map && item;
	struct subst v = { .item = item, .item_len = item ? strlen(item) : 0, .num = num, .engine = eng };
	for (size_t o = 0; o < t->argv_len; o += strlen(t->argv + o) + 1) {
		buf_reset(&a);
		scan_arg(t->argv + o, is_map, &v, b, &a, NULL);
		rec_putn(b, "arg", a.p ? a.p : "", a.len);
	}
	buf_free(&a);
	if (is_map && !assign_has_placeholder(t)) { /* each value one argument, as GNU parallel */
		const char *p = item, *sep;
		while ((sep = strchr(p, REPL_SEP))) {
			rec_putn(b, "arg", p, (size_t)(sep - p));
			p = sep + 1;
		}
		rec_put(b, "arg", p);
	}
	rec_end_sealed(b, key);
}
