/* assignrec.h - the assignment record (spool-layout.md 3.8): how a job's template expands into
 * one task's record, and how big that record and its arguments get, computed without building
 * it. spoold builds with assign_build and checks with assign_check; the fuzz targets compare
 * the two, so the arithmetic can never fall below what is built.
 */
#ifndef SPOOL_ASSIGNREC_H
#define SPOOL_ASSIGNREC_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "mac.h"
#include "util.h"

/* A job as the controller stores it: argv and env are NUL-separated blobs (each entry ends in a
 * NUL), decoded once at ingest. name and builtin may be NULL. */
struct assign_tmpl {
	const char *id, *name, *cwd, *outdir, *builtin;
	int64_t timeout_ms, owner;
	int64_t umask;    /* the submitter's umask, -1 when the job record had none */
	int64_t mem;      /* each task's memory limit in bytes, 0: none */
	int is_map;
	size_t nsrc;      /* map: the most values an item holds (repl.h); 0 counts as 1 */
	const char *argv, *env;
	size_t argv_len, env_len;
};

/* What one task of a template expands to (upper bounds: numbers counted at 20 digits). */
struct assign_size {
	uint64_t record;  /* bytes of the sealed assign record */
	uint64_t max_arg; /* decoded bytes of the longest argument after substitution */
	size_t nargs;     /* arguments after substitution (a map without {} appends the item) */
	size_t arg_at;    /* which argument (1-based) is the longest */
};

/* Does any argument hold a replacement string (repl.h)? Without one, a map appends the item's
 * values as its last arguments. */
int assign_has_placeholder(const struct assign_tmpl *t);
/* The size of a task whose item is item_len bytes (item_esc once escaped) and whose number has
 * at most idx_digits digits. Linear in both: the task with the longest item is the largest. */
void assign_measure(const struct assign_tmpl *t, uint64_t item_len, uint64_t item_esc, unsigned idx_digits,
		    struct assign_size *s);
/* 0 when every task of the template fits the assign schema (MAX_ASSIGN_RECORD, MAX_ARGS,
 * MAX_ARG_LEN, MAX_OUTDIR_LEN), given the longest item (decoded and escaped) and the number of
 * tasks; else -1 with e saying which limit and by how much. */
int assign_check(const struct assign_tmpl *t, uint64_t max_item_len, uint64_t max_item_esc, uint64_t ntasks,
		 struct err *e);
/* The record itself: in a map, the replacement strings of repl.h ({} the item, {#} the task
 * number, {%} the engine...). */
void assign_build(struct buf *b, const struct spool_key *key, const struct assign_tmpl *t, int64_t idx,
		  const char *item, int64_t attempt, int64_t engine, uint64_t seq);

#endif
