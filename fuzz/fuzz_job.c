/* fuzz_job.c - what clients put in incoming/: job records (submit, map, apply, push, pull)
 * and cancel requests. Anyone who may submit writes these, so spoold must survive any bytes.
 * After a successful parse, read the fields the way the controller does (lib/ids.c checks). */
#include "fuzz.h"
#include "ids.h"
#include "schema.h"

#include <stdlib.h>
#include <string.h>

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
