/* smallfmt.h - the small formats that live inside records and file names, each with its one
 * writer and its one parser (spool-layout.md): every program uses these, never its own printf
 * or sscanf, so that what one side writes is exactly what the other accepts.
 *
 *   JOB.TASK.ATTEMPT         an assignment in ctl/w/WID/inbox/, its done record in
 *                            workers/WID/done/, a "running" line of a worker's beat
 *   ID STATE NODE PID WID TASK AGE
 *                            an "engine" line of ctl/engines (the published engine table)
 *   ID SLOT                  an "engine" line of ctl/w/WID/reg (a worker's engines)
 *
 * Parsers take untrusted text (anything in the spool may be planted or torn) and accept only
 * what the writer produces: every field present, single spaces, numbers in canonical decimal
 * (no sign, no leading zero) within range, names that pass name_ok, nothing after the last
 * field. Writers refuse values the parser would refuse, so a round trip never loses anything.
 */
#ifndef SPOOL_SMALLFMT_H
#define SPOOL_SMALLFMT_H

#include <stddef.h>
#include <stdint.h>

#include "ids.h"
#include "spool.h"
#include "util.h"

#define MAX_SLOTS 1024 /* engines per worker: slots 0..MAX_SLOTS-1 */

/* JOB.TASK.ATTEMPT: JOB a job id (name_ok, no '.'), TASK and ATTEMPT from 1 to INT64_MAX. */
#define TASKNAME_MAX (NAME_MAX_LEN + 2 * 20 + 3) /* with its NUL */
struct taskname {
	char job[NAME_MAX_LEN + 1];
	int64_t task, attempt;
};
/* Write the name into out (outsz >= TASKNAME_MAX always suffices). 0, or -1 when a field is out
 * of range or out is too small (out is then ""). */
int taskname_format(char *out, size_t outsz, const char *job, int64_t task, int64_t attempt);
/* 0 and *t filled, or -1 (*t unchanged) when s is not exactly such a name. */
int taskname_parse(const char *s, struct taskname *t);

/* One engine of ctl/engines: "ID STATE NODE PID WID TASK AGE". ID >= 1; STATE idle, busy or
 * dead; PID 1..INT32_MAX; TASK "-" or JOB.TASK (as jobref_parse reads it, TASK canonical); AGE the milliseconds since its worker's last
 * heartbeat, >= 0, or -1 for a dead engine. engine_line_put appends the whole record line
 * ("engine VALUE\n") to b, or returns -1 (b unchanged) when x holds a value the parser would
 * refuse; engine_line_parse reads one value into x (0), or returns -1. */
int engine_line_put(struct buf *b, const struct spool_engine *x);
int engine_line_parse(const char *val, struct spool_engine *x);

/* One engine of a worker's registration (ctl/w/WID/reg): "ID SLOT", ID >= 1, SLOT 0..MAX_SLOTS-1.
 * Same conventions as the engine line. */
int reg_engine_put(struct buf *b, int64_t id, int slot);
int reg_engine_parse(const char *val, int64_t *id, int *slot);

#endif
