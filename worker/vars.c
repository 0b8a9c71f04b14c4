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
	free(v->slot);
	v->kv = NULL;
	v->slot = NULL;
	v->n = v->bytes = 0;
}

static uint32_t name_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

/* The slot of NAME: the one holding it, or the empty one where it would go. */
static uint32_t *find_slot(const struct vars *v, const char *name, size_t len)
{
	for (uint32_t i = name_hash(name, len) & (VARS_SLOTS - 1);; i = (i + 1) & (VARS_SLOTS - 1)) {
		uint32_t k = v->slot[i];
		if (!k || (strncmp(v->kv[k - 1], name, len) == 0 && v->kv[k - 1][len] == '='))
			return &v->slot[i];
	}
}

/* Variables that change how the dynamic loader or a shell starts a program: a task's own
 * $SPOOL_VARS may not set them for the engine's later tasks (only `spool push` may). The
 * loader's list is glibc's for set-user-ID programs (UNSECURE_ENVVARS), less TMPDIR. */
bool vars_protected(const char *name, size_t len)
{
	static const char *const exact[] = {
		"GCONV_PATH", "GETCONF_DIR", "HOSTALIASES", "LOCALDOMAIN", "LOCPATH", "MALLOC_TRACE", "NIS_PATH",
		"NLSPATH", "RESOLV_HOST_CONF", "RES_OPTIONS", "TZDIR", "BASH_ENV", "ENV", "IFS", "SHELLOPTS",
		"BASHOPTS", "PS4", "CDPATH", "GLOBIGNORE", "PROMPT_COMMAND", "BASH_XTRACEFD", "PYTHONSTARTUP",
		"PERL5OPT", "PERL5LIB", "PYTHONPATH", "PYTHONHOME", "NODE_OPTIONS", "RUBYOPT",
	};
	if (len >= 3 && strncmp(name, "LD_", 3) == 0)
		return true;
	for (size_t i = 0; i < ARRAY_LEN(exact); i++)
		if (strlen(exact[i]) == len && strncmp(exact[i], name, len) == 0)
			return true;
	return false;
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
	if (!v->slot)
		return NULL;
	size_t n = strlen(name);
	uint32_t k = *find_slot(v, name, n);
	return k ? v->kv[k - 1] + n + 1 : NULL;
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
	size_t nl = (size_t)(eq - kv);
	if (!v->slot)
		v->slot = xcalloc(VARS_SLOTS, sizeof *v->slot);
	uint32_t *slot = find_slot(v, kv, nl);
	size_t old = *slot ? strlen(v->kv[*slot - 1]) + 1 : 0, total = v->bytes - old + len + 1;
	if (total > MAX_VARS_BYTES)
		return err_set(e, "setting %.*s would make the engine's variables %zu bytes in all, more than %d "
			       "(every task gets them in its environment)", (int)nl, kv, total, MAX_VARS_BYTES);
	if (*slot) {
		free(v->kv[*slot - 1]);
		v->kv[*slot - 1] = xstrndup(kv, len);
		v->bytes = total;
		return 0;
	}
	if (v->n >= MAX_VARS)
		return err_set(e, "more than %d variables on one engine", MAX_VARS);
	v->kv = xrealloc(v->kv, (v->n + 1) * sizeof *v->kv);
	v->kv[v->n++] = xstrndup(kv, len);
	*slot = (uint32_t)v->n;
	v->bytes = total;
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

/* Merge what a task wrote to $SPOOL_VARS. Problems go to warn (appended: the first ones in
 * full, then a count), never fail the task. Linear in the file's size: each line costs one
 * hashed lookup, and the warning is not re-measured per line. */
void vars_merge(struct worker *w, struct engine *e, const char *data, size_t len, char *warn, size_t wsz)
{
	unsigned lineno = 0, changed = 0, ignored = 0;
	size_t used = strlen(warn);
	struct err er;

	for (const char *p = data, *end = data + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *eq = memchr(p, '=', n);
		char why[300];
		lineno++;
		why[0] = '\0';
		if (!n) {
			/* blank line */
		} else if (eq && vars_protected(p, (size_t)(eq - p))) {
			snprintf(why, sizeof why, "%.*s changes how programs start and is set only by 'spool push'",
				 (int)(eq - p > MAX_VAR_NAME ? MAX_VAR_NAME : eq - p), p);
		} else if (vars_set(&e->vars, p, n, &er) < 0) {
			snprintf(why, sizeof why, "%.290s", er.msg);
		} else {
			changed++;
		}
		if (why[0] && ignored++ < 3 && used + 1 < wsz) {
			int k = snprintf(warn + used, wsz - used, "%sSPOOL_VARS line %u: %s (ignored)", used ? "; " : "",
					 lineno, why);
			used += k > 0 ? (size_t)k : 0;
			used = used < wsz ? used : wsz - 1;
		}
		p = nl ? nl + 1 : end;
	}
	if (ignored > 3 && used + 1 < wsz) {
		int k = snprintf(warn + used, wsz - used, "; %u more lines of SPOOL_VARS ignored", ignored - 3);
		used += k > 0 ? (size_t)k : 0;
		used = used < wsz ? used : wsz - 1;
	}
	if (changed && vars_save(w, e, &er) < 0 && used + 1 < wsz)
		snprintf(warn + used, wsz - used, "%scannot save the engine's variables: %s", used ? "; " : "", er.msg);
}
