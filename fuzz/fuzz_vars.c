/* fuzz_vars.c - per-engine variables (worker/vars.c, linked as it is). Two untrusted inputs
 * reach vars_set: the vars/NODE.SLOT record (rec_parse with schema_vars, then one vars_set per
 * "var" field, as vars_load does) and what a task wrote to $SPOOL_VARS (vars_merge: NAME=VALUE
 * lines). The input holds both: up to its first NUL the record, after it the task's lines;
 * without a NUL the same bytes serve as both. The merged variables are then saved and loaded
 * again with vars_save and vars_load, in a private directory (tmpfs when there is one). */
#include "fuzz.h"
#include "ids.h"
#include "log.h"
#include "schema.h"
#include "../worker/worker.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct worker w; /* just what vars.c uses: sd.vars, sd.owner, node */

static void setup(void)
{
	char dir[300];
	if (w.node[0])
		return;
	snprintf(dir, sizeof dir, "%s/vars", fuzz_tmpdir());
	FUZZ_CHECK(mkdir(dir, 0700) == 0);
	w.sd.vars = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	FUZZ_CHECK(w.sd.vars >= 0);
	w.sd.owner = getuid();
	strcpy(w.node, "fuzznode");
	log_open("fuzz_vars", false, LOG_LVL_ERR); /* vars_load says how many it kept, at info */
}

/* What vars_set promises to keep: names, sizes, count, one entry per name. */
static void check_vars(const struct vars *v)
{
	size_t total = 0;
	FUZZ_CHECK(v->n <= MAX_VARS);
	for (size_t i = 0; i < v->n; i++) {
		const char *kv = v->kv[i], *eq = strchr(kv, '=');
		char name[MAX_VAR_NAME + 1];
		FUZZ_CHECK(eq && var_name_ok(kv, (size_t)(eq - kv)));
		FUZZ_CHECK(strlen(eq + 1) <= MAX_VAR_VALUE);
		total += strlen(kv) + 1;
		memcpy(name, kv, (size_t)(eq - kv));
		name[eq - kv] = '\0';
		FUZZ_CHECK(vars_get(v, name) == eq + 1); /* the first match is the only one */
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(strncmp(v->kv[j], kv, (size_t)(eq - kv) + 1) != 0);
	}
	FUZZ_CHECK(total <= MAX_VARS_BYTES);
}

/* Saved and loaded again, an engine's variables are the same, in the same order. */
static void check_saved(struct engine *e)
{
	struct engine back;
	struct err er = { "" };

	FUZZ_CHECK(vars_save(&w, e, &er) == 0);
	memset(&back, 0, sizeof back);
	back.id = e->id;
	back.slot = e->slot;
	vars_load(&w, &back, w.sd.owner);
	FUZZ_CHECK(back.vars.n == e->vars.n);
	for (size_t i = 0; i < e->vars.n; i++)
		FUZZ_CHECK(strcmp(back.vars.kv[i], e->vars.kv[i]) == 0);
	vars_free(&back.vars);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *nul = memchr(in, '\0', size);
	size_t rec_len = nul ? (size_t)(nul - in) : size;
	struct engine e;
	struct rec r;
	struct err er;
	char warn[MAX_REASON_LEN] = ""; /* the done record's reason, as in worker/run.c */

	setup();
	memset(&e, 0, sizeof e);
	e.id = 1;
	e.vars_uid = w.sd.owner;
	if (fuzz_rec_parse(&r, data, rec_len, &schema_vars) == 0) {
		for (size_t i = 0; i < r.n; i++)
			if (vars_set(&e.vars, r.f[i].val, r.f[i].len, &er) < 0)
				FUZZ_CHECK(er.msg[0] != '\0');
		rec_free(&r);
	}
	check_vars(&e.vars);
	if (nul)
		vars_merge(&w, &e, nul + 1, size - rec_len - 1, warn, sizeof warn);
	else
		vars_merge(&w, &e, in, size, warn, sizeof warn);
	FUZZ_CHECK(strlen(warn) < sizeof warn);
	check_vars(&e.vars);
	check_saved(&e);
	/* A value with a NUL is refused, never cut short. */
	FUZZ_CHECK(vars_set(&e.vars, "A=\0B", 4, &er) < 0);
	if (nul && size <= 4096)
		FUZZ_CHECK(vars_set(&e.vars, in, size, &er) < 0);
	vars_free(&e.vars);
	return 0;
}
