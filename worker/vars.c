/* vars.c - per-engine variables (ipyparallel's push/pull namespace).
 *
 * An engine's variables live in vars/NODE.SLOT, so a worker restarted on the same
 * node with the same number of engines finds them again (ipyparallel loses them).
 * Tasks see them in their environment and may set new values by writing NAME=VALUE
 * lines to the file named by $SPOOL_VARS; the worker merges them when the task ends,
 * whether it succeeded or not (as a Python function's globals stay changed when it
 * raises). A bad line is reported in the task's result and ignored.
 *
 * Variables belong to a user as well as to an engine: on a shared spool one user's
 * push must never show up in another user's task. The spool owner's (the common, personal
 * case) are vars/NODE.SLOT; any other user's are vars/NODE.SLOT.uUID.
 */
#include "worker.h"
#include "fsio.h"
#include "ids.h"
#include "log.h"
#include "schema.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void vars_clear(struct vars *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->kv[i]);
	free(v->kv);
	v->kv = NULL;
	v->n = 0;
}

void vars_free(struct vars *v)
{
	vars_clear(v);
}

static void file_name(struct worker *w, const struct engine *e, char *out, size_t sz)
{
	if (e->vars_uid == w->sd.owner)
		snprintf(out, sz, "%.60s.%d", w->node, e->slot);
	else
		snprintf(out, sz, "%.60s.%d.u%u", w->node, e->slot, (unsigned)e->vars_uid);
}

const char *vars_get(const struct vars *v, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < v->n; i++)
		if (strncmp(v->kv[i], name, n) == 0 && v->kv[i][n] == '=')
			return v->kv[i] + n + 1;
	return NULL;
}

/* Set from "NAME=VALUE"; checks the name, the sizes and the count. */
int vars_set(struct vars *v, const char *kv, size_t len, struct err *e)
{
	const char *eq = memchr(kv, '=', len);
	if (!eq || !var_name_ok(kv, (size_t)(eq - kv)))
		return err_set(e, "'%.*s' is not NAME=VALUE with NAME a shell identifier of at most %d bytes",
			       (int)(len > 40 ? 40 : len), kv, MAX_VAR_NAME);
	if (len - (size_t)(eq - kv) - 1 > MAX_VAR_VALUE)
		return err_set(e, "the value of %.*s is longer than %d bytes", (int)(eq - kv), kv, MAX_VAR_VALUE);
	if (memchr(kv, '\0', len))
		return err_set(e, "NUL byte in a variable");
	size_t kl = (size_t)(eq - kv) + 1, total = len + 1, at = v->n;
	for (size_t i = 0; i < v->n; i++) {
		if (at == v->n && strncmp(v->kv[i], kv, kl) == 0)
			at = i;
		else
			total += strlen(v->kv[i]) + 1;
	}
	if (total > MAX_VARS_BYTES)
		return err_set(e, "setting %.*s would make the engine's variables %zu bytes in all, more than %d "
			       "(every task gets them in its environment)", (int)(eq - kv), kv, total, MAX_VARS_BYTES);
	if (at < v->n) {
		free(v->kv[at]);
		v->kv[at] = xstrndup(kv, len);
		return 0;
	}
	if (v->n >= MAX_VARS)
		return err_set(e, "more than %d variables on one engine", MAX_VARS);
	v->kv = xrealloc(v->kv, (v->n + 1) * sizeof *v->kv);
	v->kv[v->n++] = xstrndup(kv, len);
	return 0;
}

void vars_load(struct worker *w, struct engine *e, uid_t uid)
{
	char name[100];
	struct buf b;
	struct rec r;
	struct err er;

	vars_clear(&e->vars);
	e->vars_uid = uid;
	file_name(w, e, name, sizeof name);
	buf_init(&b);
	if (fs_read_file(w->sd.vars, name, MAX_VARS_RECORD, &b, NULL, &er) < 0) {
		if (errno != ENOENT)
			log_err("cannot read the variables of engine %lld (vars/%s): %s; starting empty",
				(long long)e->id, name, er.msg);
	} else if (rec_parse(&r, b.p, b.len, &schema_vars, &er) < 0) {
		log_err("bad variables file vars/%s: %s; starting empty", name, er.msg);
	} else {
		for (size_t i = 0; i < r.n; i++)
			if (vars_set(&e->vars, r.f[i].val, r.f[i].len, &er) < 0)
				log_err("vars/%s line %u: %s; ignored", name, r.f[i].line, er.msg);
		rec_free(&r);
		if (e->vars.n)
			log_info("engine %lld keeps %zu variable%s from vars/%s", (long long)e->id, e->vars.n,
				 e->vars.n == 1 ? "" : "s", name);
	}
	buf_free(&b);
}

int vars_save(struct worker *w, struct engine *e, struct err *er)
{
	char name[100];
	struct buf b;
	int rc;
	file_name(w, e, name, sizeof name);
	buf_init(&b);
	rec_begin(&b, "vars");
	for (size_t i = 0; i < e->vars.n; i++)
		rec_put(&b, "var", e->vars.kv[i]);
	rec_end(&b);
	rc = fs_write_atomic(w->sd.vars, name, b.p, b.len, 0600, 0, er);
	buf_free(&b);
	return rc;
}

/* Merge what a task wrote to $SPOOL_VARS (read by the caller as the task's user). Problems go
 * to warn (appended), never fail the task. */
void vars_merge(struct worker *w, struct engine *e, const char *data, size_t len, char *warn, size_t wsz)
{
	unsigned lineno = 0, changed = 0;
	struct err er;

	for (const char *p = data, *end = data + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		lineno++;
		if (n && vars_set(&e->vars, p, n, &er) < 0) {
			size_t used = strlen(warn);
			snprintf(warn + used, wsz - used, "%sSPOOL_VARS line %u: %s (ignored)", used ? "; " : "", lineno,
				 er.msg);
		} else if (n) {
			changed++;
		}
		p = nl ? nl + 1 : end;
	}
	if (changed && vars_save(w, e, &er) < 0) {
		size_t used = strlen(warn);
		snprintf(warn + used, wsz - used, "%scannot save the engine's variables: %s", used ? "; " : "", er.msg);
	}
}
