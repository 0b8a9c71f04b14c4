/* fuzz_job.c - what clients put in incoming/: job records (submit, map, apply, push, pull)
 * and cancel requests. Anyone who may submit writes these, so spoold must survive any bytes.
 * After a successful parse, read the fields the way the controller does (lib/ids.c checks). */
#include "assignrec.h"
#include "fuzz.h"
#include "ids.h"
#include "repl.h"
#include "schema.h"

#include <stdlib.h>
#include <string.h>

static void check_expansion(const struct rec *r);

static void use_job(const struct rec *r)
{
	const char *id = rec_get(r, "id"), *name = rec_get(r, "name"), *targets = rec_get(r, "targets");
	int64_t *ids;
	size_t n;

	fuzz_use(name_ok(id) ? id : NULL);
	if (name)
		fuzz_use(label_ok(name, MAX_LABEL_LEN) ? name : NULL);
	if (targets && targets_parse(targets, &ids, &n) == 0) {
		FUZZ_CHECK(n <= 1024);
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK(targets_has(ids, n, ids[i]));
		free(ids);
	}
	fuzz_use(rec_get_u64(r, "timeout_ms", 0) ? "t" : "");
	fuzz_use(rec_get_u64(r, "retries", 2) ? "r" : "");
	FUZZ_CHECK(rec_get_u64(r, "map", 0) <= 9 && rec_get_u64(r, "apply", 0) <= 9); /* max_len 1 */
	FUZZ_CHECK(rec_count(r, "arg") >= 1 && rec_count(r, "arg") <= MAX_ARGS);
	FUZZ_CHECK(rec_count(r, "env") <= MAX_ENV && rec_count(r, "item") <= MAX_ITEMS);
	/* push's arguments are NAME=VALUE, pull's are NAME: the worker checks the names. */
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->f[i].key, "arg") == 0) {
			const char *eq = strchr(r->f[i].val, '=');
			size_t nl = eq ? (size_t)(eq - r->f[i].val) : r->f[i].len;
			fuzz_use(var_name_ok(r->f[i].val, nl) ? "v" : "");
		}
	check_expansion(r);
}

/* NUL-separated, as spoold stores argv and env. */
static void join(const struct rec *r, const char *key, struct buf *b)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->f[i].key, key) == 0)
			buf_add(b, r->f[i].val, r->f[i].len + 1);
}

/* The expanded-size check: what spoold computes when it accepts a job (assign_check) must
 * bound what it builds for every task (assign_build), and a job it accepts must give
 * assignments the worker's parser accepts. Built only while the arithmetic says it is small. */
static void check_expansion(const struct rec *r)
{
	static const struct spool_key key = { { 0 }, true };
	struct buf argv, env, b;
	struct err e;
	const char *cwd = rec_get(r, "cwd"), *out = rec_get(r, "outdir");
	buf_init(&argv);
	buf_init(&env);
	buf_init(&b);
	join(r, "arg", &argv);
	join(r, "env", &env);
	buf_printf(&b, "%s/spool-%s", cwd, rec_get(r, "id"));
	char *outdir = out ? NULL : buf_steal(&b);
	struct assign_tmpl t = { .id = "fuzzjob", .name = rec_get(r, "name"), .cwd = cwd,
				 .outdir = out ? out : outdir, .builtin = rec_get(r, "builtin"),
				 .timeout_ms = (int64_t)rec_get_u64(r, "timeout_ms", 0) & INT64_MAX, .owner = 1000,
				 .is_map = rec_get_u64(r, "map", 0) != 0, .argv = argv.p ? argv.p : "",
				 .argv_len = argv.len, .env = env.p ? env.p : "", .env_len = env.len };
	uint64_t max_len = 0, max_esc = 0, ntasks = 0;
	for (size_t i = 0; t.is_map && i < r->n; i++)
		if (strcmp(r->f[i].key, "item") == 0) {
			uint64_t esc = rec_escaped_len(r->f[i].val, r->f[i].len);
			max_len = r->f[i].len > max_len ? r->f[i].len : max_len;
			max_esc = esc > max_esc ? esc : max_esc;
			ntasks++;
			size_t ns = repl_nsrc(r->f[i].val, r->f[i].len);
			t.nsrc = ns > t.nsrc ? ns : t.nsrc;
		}
	int ok = assign_check(&t, max_len, max_esc, ntasks ? ntasks : 1, &e) == 0;
	FUZZ_CHECK(ok || e.msg[0]);
	size_t k = 0;
	for (size_t i = 0; i < r->n && k < 4; i++) {
		const char *item = NULL;
		if (t.is_map) {
			if (strcmp(r->f[i].key, "item") != 0)
				continue;
			item = r->f[i].val;
		} else if (i > 0) {
			break;
		}
		k++;
		struct assign_size sz;
		size_t n = item ? strlen(item) : 0;
		t.nsrc = item ? repl_nsrc(item, n) : 1;
		assign_measure(&t, n, item ? rec_escaped_len(item, n) : 0, 20, &sz);
		if (sz.record > (1u << 20))
			continue;
		buf_reset(&b);
		assign_build(&b, &key, &t, (int64_t)k, item, 1, 1, 1);
		FUZZ_CHECK(b.len <= sz.record);
		if (ok) { /* accepted: the worker must be able to parse what it gets */
			struct rec a;
			FUZZ_CHECK(rec_parse(&a, b.p, b.len, &schema_assign, &e) == 0);
			FUZZ_CHECK(rec_count(&a, "arg") == sz.nargs);
			rec_free(&a);
		}
	}
	free(outdir);
	buf_free(&argv);
	buf_free(&env);
	buf_free(&b);
}

static void use_cancel(const struct rec *r)
{
	const char *job = rec_get(r, "job");
	fuzz_use(name_ok(job) ? job : NULL);
	fuzz_use(rec_get_u64(r, "task", 0) ? "t" : ""); /* 0 = the whole job */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_try(data, size, &schema_job, use_job);
	fuzz_try(data, size, &schema_cancel, use_cancel);
	fuzz_rec_peek(data, size);
	return 0;
}
