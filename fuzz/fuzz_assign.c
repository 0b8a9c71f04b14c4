/* fuzz_assign.c - assignments: ctl/w/WID/inbox/JOB.TASK.ATTEMPT, written by spoold and read by
 * the worker, which runs what they say. A worker must refuse (answer with an error) anything
 * it cannot parse, never crash on it.
 *
 * MAC: spoold seals assignments (and reg records) with a trailing "mac" field, and the worker
 * checks it on the raw bytes before rec_parse (mac_check, lib/mac.c). This target runs
 * mac_check with a fixed key on every input, and seals each parsed record again
 * (rec_end_sealed) to check it verifies and that a changed byte does not. rec_parse runs
 * whatever the check says: a forged MAC is what the fuzzer makes, and the parser must not
 * depend on the check. */
#include "fuzz.h"
#include "ids.h"
#include "mac.h"
#include "schema.h"

#include <string.h>

static void use_assign(const struct rec *r)
{
	size_t nargs = 0;

	fuzz_use(name_ok(rec_get(r, "job")) ? "j" : "");
	fuzz_use(rec_get(r, "cwd"));
	fuzz_use(rec_get(r, "outdir"));
	fuzz_use(rec_get(r, "builtin"));
	if (rec_get(r, "name"))
		fuzz_use(label_ok(rec_get(r, "name"), MAX_LABEL_LEN) ? "l" : "");
	fuzz_use(rec_get_u64(r, "task", 0) | rec_get_u64(r, "attempt", 0) | rec_get_u64(r, "engine", 0) |
				 rec_get_u64(r, "seq", 0) | rec_get_u64(r, "timeout_ms", 0)
			 ? "n"
			 : "");
	/* The worker builds argv and the environment from the repeated fields, in order. */
	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->f[i].key, "arg") == 0)
			nargs++;
		else if (strcmp(r->f[i].key, "env") == 0)
			fuzz_use(strchr(r->f[i].val, '=') ? "e" : "");
	}
	FUZZ_CHECK(nargs == rec_count(r, "arg") && nargs >= 1 && nargs <= MAX_ARGS);
	FUZZ_CHECK(rec_count(r, "env") <= MAX_ENV);
}

/* Seal the record's fields again (without its own mac) and check the seal verifies, and
 * stops verifying when one byte of the body changes. */
static void reseal(const struct spool_key *k, const struct rec *r)
{
	struct buf b;
	struct err e;
	buf_init(&b);
	rec_begin(&b, "assign");
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->f[i].key, "mac") != 0)
			rec_putn(&b, r->f[i].key, r->f[i].val, r->f[i].len);
	rec_end_sealed(&b, k);
	FUZZ_CHECK(mac_check(k, b.p, b.len, &e) == 0);
	b.p[b.len / 2] ^= 1;
	FUZZ_CHECK(mac_check(k, b.p, b.len, &e) < 0);
	buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct spool_key key = { .loaded = true }; /* all-zero key: fixed, like a test's */
	struct rec r;
	struct err e;

	if (mac_check(&key, (const char *)data, size, &e) < 0)
		FUZZ_CHECK(e.msg[0] != '\0');
	if (fuzz_rec_parse(&r, data, size, &schema_assign) == 0) {
		use_assign(&r);
		reseal(&key, &r);
		rec_free(&r);
	}
	fuzz_rec_peek(data, size);
	return 0;
}
