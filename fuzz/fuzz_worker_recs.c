/* fuzz_worker_recs.c - the worker <-> controller handshake: hello, beat and bye (worker ->
 * spoold, in workers/WID/) and reg (spoold -> worker, ctl/w/WID/reg). Every input is tried
 * against all four schemas: the type check must refuse the wrong ones cleanly. */
#include "fuzz.h"
#include "ids.h"
#include "schema.h"

#include <string.h>

static void use_hello(const struct rec *r)
{
	fuzz_use(name_ok(rec_get(r, "wid")) ? "w" : "");
	fuzz_use(name_ok(rec_get(r, "node")) ? "n" : "");
	fuzz_use(rec_get(r, "boot"));
	fuzz_use(rec_get(r, "version"));
	fuzz_use(rec_get_u64(r, "pid", 0) | rec_get_u64(r, "start", 0) | rec_get_u64(r, "slots", 0) ? "p" : "");
}

static void use_beat(const struct rec *r)
{
	fuzz_use(rec_get_u64(r, "count", 0) ? "c" : "");
	fuzz_use_each(r, "running", 1024);
}

static void use_reg(const struct rec *r)
{
	fuzz_use(name_ok(rec_get(r, "wid")) ? "w" : "");
	fuzz_use(strcmp(rec_get(r, "state"), "alive") == 0 ? "a" : "d");
	fuzz_use_each(r, "engine", 1024);
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
