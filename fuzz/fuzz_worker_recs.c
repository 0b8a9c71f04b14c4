/* fuzz_worker_recs.c - the worker <-> controller handshake: hello, beat and bye (worker ->
 * spoold, in workers/WID/) and reg (spoold -> worker, ctl/w/WID/reg). Every input is tried
 * against all four schemas: the type check must refuse the wrong ones cleanly. */
#include "fuzz.h"
#include "ids.h"
#include "schema.h"
#include "smallfmt.h"

#include <string.h>

static void use_hello(const struct rec *r)
{
	fuzz_use(name_ok(rec_get(r, "wid")) ? "w" : "");
	fuzz_use(name_ok(rec_get(r, "node")) ? "n" : "");
	fuzz_use(rec_get(r, "boot"));
	fuzz_use(rec_get(r, "version"));
	fuzz_use(rec_get_u64(r, "pid", 0) | rec_get_u64(r, "start", 0) | rec_get_u64(r, "slots", 0) ? "p" : "");
}

/* A running line the parser accepts is what taskname_format writes for its fields. */
static void use_beat(const struct rec *r)
{
	fuzz_use(rec_get_u64(r, "count", 0) ? "c" : "");
	fuzz_use_each(r, "running", 1024);
	for (size_t i = 0; i < r->n; i++) {
		struct taskname t;
		char again[TASKNAME_MAX];
		if (strcmp(r->f[i].key, "running") != 0 || taskname_parse(r->f[i].val, &t) < 0)
			continue;
		FUZZ_CHECK(taskname_format(again, sizeof again, t.job, t.task, t.attempt) == 0);
		FUZZ_CHECK(strcmp(again, r->f[i].val) == 0);
	}
}

/* An engine line the parser accepts is written back by reg_engine_put to the same bytes. */
static void use_reg(const struct rec *r)
{
	fuzz_use(name_ok(rec_get(r, "wid")) ? "w" : "");
	fuzz_use(strcmp(rec_get(r, "state"), "alive") == 0 ? "a" : "d");
	fuzz_use_each(r, "engine", 1024);
	for (size_t i = 0; i < r->n; i++) {
		int64_t id;
		int slot;
		struct buf b;
		if (strcmp(r->f[i].key, "engine") != 0 || reg_engine_parse(r->f[i].val, &id, &slot) < 0)
			continue;
		FUZZ_CHECK(id >= 1 && slot >= 0 && slot < MAX_SLOTS);
		buf_init(&b);
		FUZZ_CHECK(reg_engine_put(&b, id, slot) == 0);
		FUZZ_CHECK(b.len == 7 + r->f[i].len + 1 && memcmp(b.p + 7, r->f[i].val, r->f[i].len) == 0);
		buf_free(&b);
	}
}

static void use_bye(const struct rec *r)
{
	fuzz_use(name_ok(rec_get(r, "wid")) ? "w" : "");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_try(data, size, &schema_hello, use_hello);
	fuzz_try(data, size, &schema_beat, use_beat);
	fuzz_try(data, size, &schema_bye, use_bye);
	fuzz_try(data, size, &schema_reg, use_reg);
	fuzz_rec_peek(data, size);
	return 0;
}
