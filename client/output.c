/* output.c - how the spool command shows results: task outputs, tags, summaries, JSON, progress. */
#include "cli.h"
#include "json.h"
#include "repl.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <getopt.h>
#include <sys/ioctl.h>
#include <unistd.h>

const char *shown(const char *s)
{
	static struct buf ring[8];
	static unsigned next;
	struct buf *b = &ring[next++ % ARRAY_LEN(ring)];
	if (!s)
		return "(null)";
	buf_reset(b);
	buf_add_clean(b, s, strlen(s));
	return b->p;
}

void cli_error(const char *msg)
{
	fprintf(stderr, "spool: %s\n", shown(msg));
}

/* Copy a task's file to a stream, optionally prefixing every line (the task's own bytes, as they
 * are). The file is opened through the API, which trusts only the submitter's files; -1 with the
 * reason in err. */
static int copy_file(const struct spool_job *j, const struct spool_task *t, enum spool_output which, FILE *to,
		     const char *prefix, char *err, size_t errlen)
{
	char buf[65536];
	int fd = spool_task_open(j, t, which, err, errlen);
	ssize_t n;
	int at_start = 1;
	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, sizeof buf)) != 0) {
		if (n < 0) {
			snprintf(err, errlen, "cannot read %s: %s", which == SPOOL_OUT_STDOUT ? t->stdout_path : t->stderr_path,
				 strerror(errno));
			close(fd);
			return -1;
		}
		if (!prefix) {
			fwrite(buf, 1, (size_t)n, to);
			continue;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (at_start)
				fputs(prefix, to);
			fputc(buf[i], to);
			at_start = buf[i] == '\n';
		}
	}
	if (prefix && !at_start)
		fputc('\n', to);
	close(fd);
	return 0;
}

void describe_task(const struct spool_task *t, char *out, size_t sz)
{
	if (t->state == SPOOL_TASK_FAILED && t->exit_code >= 0)
		snprintf(out, sz, "exited with status %d", t->exit_code);
	else if (t->state == SPOOL_TASK_FAILED && t->signal > 0)
		snprintf(out, sz, "killed by signal %d (%s)", t->signal, strsignal(t->signal));
	else if (t->state == SPOOL_TASK_TIMEDOUT)
		snprintf(out, sz, "timed out");
	else
		snprintf(out, sz, "%s", spool_task_state_name(t->state));
}

/* One finished task: its stdout to stdout, its stderr to stderr (tagged or under a header).
 * Returns -1 when a succeeded task's output could not be read (the output shown is incomplete). */
int print_task_output(const struct spool_job *j, const struct spool_task *t, int tag, int header)
{
	int rc = 0;
	char prefix[160];
	(void)j;
	snprintf(prefix, sizeof prefix, "[%lld %s] ", (long long)t->engine, shown(t->node));
	fflush(stderr);
	if (header) {
		char what[128];
		describe_task(t, what, sizeof what);
		if (t->engine >= 0)
			printf("==> task %llu (engine %lld on %s): %s <==\n", (unsigned long long)t->task,
			       (long long)t->engine, shown(t->node), shown(what));
		else
			printf("==> task %llu (never ran): %s <==\n", (unsigned long long)t->task, shown(what));
	}
	char why[1200];
	/* A missing output of a task that failed is no news; a refused one always is, and makes
	 * the output of a task that succeeded incomplete. */
	if (t->stdout_path && copy_file(j, t, SPOOL_OUT_STDOUT, stdout, tag ? prefix : NULL, why, sizeof why) < 0 &&
	    (spool_task_succeeded(t) || errno != ENOENT)) {
		fflush(stdout);
		fprintf(stderr, "spool: task %s.%llu: cannot read its output: %s\n", j->id, (unsigned long long)t->task,
			shown(why));
		if (spool_task_succeeded(t))
			rc = -1;
	}
	fflush(stdout);
	if (t->stderr_path && copy_file(j, t, SPOOL_OUT_STDERR, stderr, tag ? prefix : NULL, why, sizeof why) < 0 &&
	    errno != ENOENT) {
		fprintf(stderr, "spool: task %s.%llu: cannot read its error output: %s\n", j->id, (unsigned long long)t->task,
			shown(why));
		if (spool_task_succeeded(t))
			rc = -1;
	}
	fflush(stderr);
	return rc;
}

/* A finished task worth a line in the summary: one that did not succeed, or succeeded with a
 * warning. At most sm->max are kept (a job of 100,000 cancelled tasks must not print as many lines:
 * the counts per state say the rest; --all keeps every one). */
void summary_note(struct summary *sm, const struct spool_task *t, const char *item)
{
	char what[128];
	bool ok = spool_task_succeeded(t);
	if (ok && !t->reason)
		return;
	if (sm->lines >= (sm->max ? sm->max : SUMMARY_FEW)) {
		sm->more++;
		return;
	}
	sm->lines++;
	if (ok) {
		buf_printf(&sm->warn, "spool: task %llu: warning: %s\n", (unsigned long long)t->task, shown(t->reason));
		return;
	}
	describe_task(t, what, sizeof what);
	buf_printf(&sm->fail, "  task %llu", (unsigned long long)t->task);
	if (item) { /* the values of several sources shown as {} gives them, space-separated */
		char *v = xstrdup(item);
		for (char *p = v; *p; p++)
			if (*p == REPL_SEP)
				*p = ' ';
		buf_printf(&sm->fail, " (item %s)", shown(v));
		free(v);
	}
	buf_printf(&sm->fail, ": %s%s", shown(what), strcmp(t->node, "-") ? " on " : "");
	buf_printf(&sm->fail, "%s%s", strcmp(t->node, "-") ? shown(t->node) : "", t->reason ? ": " : "");
	buf_printf(&sm->fail, "%s\n", t->reason ? shown(t->reason) : "");
}

void summary_free(struct summary *sm)
{
	buf_free(&sm->fail);
	buf_free(&sm->warn);
}

/* From the job's counts and the lines noted while its tasks were handed out: the tasks that did
 * not succeed counted per state, the first few of them one line each, then how many more. */
size_t print_summary(const struct spool_job *j, const struct summary *sm)
{
	uint64_t failed = 0, pending = 0;
	for (int s = 0; s < SPOOL_TASK_NSTATES; s++) {
		if (s < SPOOL_TASK_SUCCEEDED)
			pending += j->counts[s];
		else if (s != SPOOL_TASK_SUCCEEDED)
			failed += j->counts[s];
	}
	if (failed) {
		struct buf b;
		buf_init(&b);
		for (int s = SPOOL_TASK_SUCCEEDED; s < SPOOL_TASK_NSTATES; s++)
			if (j->counts[s])
				buf_printf(&b, "%s%llu %s", b.len ? ", " : "", (unsigned long long)j->counts[s],
					   spool_task_state_name(s));
		fprintf(stderr, "spool: job %s: %llu of %zu task%s did not succeed (%s):\n", j->id,
			(unsigned long long)failed, j->ntasks, j->ntasks == 1 ? "" : "s", b.p);
		buf_free(&b);
		fwrite(sm->fail.p ? sm->fail.p : "", 1, sm->fail.len, stderr);
	}
	fwrite(sm->warn.p ? sm->warn.p : "", 1, sm->warn.len, stderr);
	if (sm->more)
		fprintf(stderr, "  ... and %zu more ('spool collect --all %s' or '--json' for every task)\n", sm->more,
			j->id);
	if (pending)
		fprintf(stderr, "spool: job %s: %llu of %zu task%s still pending\n", j->id, (unsigned long long)pending,
			j->ntasks, j->ntasks == 1 ? "" : "s");
	return (size_t)failed;
}

/* Times and usage from the task's result record beside the data, if it can be read (and is
 * the submitter's: see spool_task_open); null where not. */
static void json_result_fields(struct json *js, const struct spool_job *j, const struct spool_task *t)
{
	struct spool_usage u;
	int ok = t->result_path && spool_task_usage(j, t, &u, NULL, 0) == 0;
	const int64_t v[] = { ok ? u.start_ms : -1, ok ? u.end_ms : -1, ok ? u.user_ms : -1, ok ? u.sys_ms : -1,
			      ok ? u.maxrss_kb : -1 };
	static const char *keys[] = { "start_ms", "end_ms", "user_ms", "sys_ms", "maxrss_kb" };
	for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
		if (v[i] >= 0)
			json_int(js, keys[i], v[i]);
		else
			json_null(js, keys[i]);
	}
}

/* A map task's item: "item" its values joined by spaces (as {} reads), "values" one by one. */
static void json_item(struct json *js, const char *item)
{
	if (!item) {
		json_null(js, "item");
		json_null(js, "values");
		return;
	}
	char *copy = xstrdup(item);
	for (char *p = copy; *p; p++)
		if (*p == REPL_SEP)
			*p = ' ';
	json_str(js, "item", copy);
	strcpy(copy, item);
	json_arr_begin(js, "values");
	for (char *p = copy, *q;; p = q + 1) { /* not strtok: it would drop empty values */
		q = strchr(p, REPL_SEP);
		if (q)
			*q = '\0';
		json_str(js, NULL, p);
		if (!q)
			break;
	}
	json_arr_end(js);
	free(copy);
}

void json_job_full(spool_t *sp, struct json *js, const struct spool_job *j)
{
	char **items = NULL, err[SPOOL_ERRLEN];
	size_t nitems = 0;
	/* Each task names its item; a job whose record cannot be read still prints. */
	if (j->accepted && spool_job_items(sp, j->id, &items, &nitems, err, sizeof err) < 0)
		cli_error(err);
	json_job_items(js, j, 1, items, nitems);
	spool_items_free(items, nitems);
}

void json_job(struct json *js, const struct spool_job *j, int with_tasks)
{
	json_job_items(js, j, with_tasks, NULL, 0);
}

void json_job_items(struct json *js, const struct spool_job *j, int with_tasks, char **items, size_t nitems)
{
	json_obj_begin(js, NULL);
	json_str(js, "job", j->id);
	json_str(js, "name", j->name);
	if (j->accepted && j->ntasks)
		json_int(js, "owner", (int64_t)j->owner);
	else
		json_null(js, "owner");
	json_str(js, "state", !j->accepted || !j->ntasks ? "submitted" : j->done ? "done" : "active");
	json_str(js, "cwd", j->cwd);
	json_str(js, "outdir", j->outdir);
	json_int(js, "ntasks", (int64_t)j->ntasks);
	json_obj_begin(js, "counts");
	for (int k = 0; k < SPOOL_TASK_NSTATES; k++)
		json_int(js, spool_task_state_name(k), (int64_t)j->counts[k]);
	json_obj_end(js);
	json_str(js, "command", j->command);
	json_int_or_null(js, "order", (int64_t)j->order, j->order > 0);
	json_int_or_null(js, "submitted_ms", (int64_t)j->submitted_ms, j->submitted_ms > 0);
	json_int_or_null(js, "finished_ms", (int64_t)j->finished_ms, j->finished_ms > 0);
	json_str(js, "waiting_on", j->waiting && !j->done ? j->waiting : NULL);
	json_bool(js, "held", j->held && !j->done);
	/* The owner's name on this node (null: not accepted, or no such account here), and how long
	 * the job ran: accepted to finished, or to now while it is active. */
	struct passwd *pw = j->accepted && j->ntasks ? getpwuid((uid_t)j->owner) : NULL;
	json_str(js, "user", pw ? pw->pw_name : NULL);
	uint64_t end = j->done ? j->finished_ms : now_ms();
	json_int_or_null(js, "elapsed_ms", end > j->submitted_ms ? (int64_t)(end - j->submitted_ms) : 0,
			 j->submitted_ms > 0 && end > 0);
	if (with_tasks && j->tasks) {
		json_arr_begin(js, "tasks");
		for (size_t i = 0; i < j->ntasks; i++) {
			const struct spool_task *t = &j->tasks[i];
			json_obj_begin(js, NULL);
			json_int(js, "task", (int64_t)t->task);
			if (items)
				json_item(js, t->task >= 1 && t->task <= nitems ? items[t->task - 1] : NULL);
			json_str(js, "state", spool_task_state_name(t->state));
			json_int_or_null(js, "exit_code", t->exit_code, t->exit_code >= 0);
			json_int_or_null(js, "signal", t->signal, t->signal > 0);
			json_int_or_null(js, "engine", t->engine, t->engine >= 0);
			json_str(js, "node", strcmp(t->node, "-") ? t->node : NULL);
			json_int(js, "attempt", (int64_t)t->attempt);
			json_int_or_null(js, "wall_ms", t->wall_ms, t->wall_ms >= 0);
			json_result_fields(js, j, t);
			json_str(js, "reason", t->reason);
			json_str(js, "stdout", t->stdout_path);
			json_str(js, "stderr", t->stderr_path);
			json_str(js, "result", t->result_path);
			json_arr_begin(js, "duplicates");
			for (size_t k = 0; k < t->nduplicates; k++) {
				const struct spool_attempt *a = &t->duplicates[k];
				json_obj_begin(js, NULL);
				json_int(js, "attempt", (int64_t)a->attempt);
				json_str(js, "worker", a->worker);
				json_str(js, "status", a->status);
				json_int_or_null(js, "exit_code", a->exit_code, a->exit_code >= 0);
				json_int_or_null(js, "signal", a->signal, a->signal > 0);
				json_obj_end(js);
			}
			json_arr_end(js);
			json_obj_end(js);
		}
		json_arr_end(js);
	}
	json_obj_end(js);
}

void json_print(struct json *js)
{
	fwrite(js->b.p ? js->b.p : "", 1, js->b.len, stdout);
	fputc('\n', stdout);
	fflush(stdout);
}

/* The terminal's width for the progress line: the terminal's own, else $COLUMNS, else 80. */
static int term_columns(void)
{
	struct winsize ws;
	if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	const char *c = getenv("COLUMNS");
	uint64_t v;
	if (c && parse_u64(c, 10000, &v) == 0 && v > 0)
		return (int)v;
	return 80;
}

/* "spool: JOB: done 10/100, failed 0, running 2, queued 88, 31.2/s, ETA 2.9s, 3.2s", on a
 * terminal only. It never reaches the last column (a full line wraps and scrolls): the fields
 * least needed go first when it would not fit. Running counts tasks that started (a prefetched
 * task is assigned, counted as queued). Rate and ETA come from what this job did since this
 * client first looked (a job joined half-way has done much before). */
void progress_line(struct progress *pg, const struct spool_job *j, uint64_t elapsed_ms)
{
	uint64_t done = 0, failed, running = j->counts[SPOOL_TASK_RUNNING], queued = j->counts[SPOOL_TASK_QUEUED];
	queued += j->counts[SPOOL_TASK_ASSIGNED];
	for (int s = SPOOL_TASK_SUCCEEDED; s < SPOOL_TASK_NSTATES; s++)
		done += j->counts[s];
	failed = done - j->counts[SPOOL_TASK_SUCCEEDED];
	if (!pg->started) {
		pg->started = 1;
		pg->done0 = done;
		pg->t0_ms = elapsed_ms;
	}
	double secs = (elapsed_ms - pg->t0_ms) / 1000.0;
	double rate = secs > 0.5 && done > pg->done0 ? (done - pg->done0) / secs : 0;
	enum { NF = 8 };
	char f[NF][64];
	static const int prio[NF] = { 5, 0, 2, 1, 3, 6, 4, 7 }; /* lower: kept longer */
	snprintf(f[0], sizeof f[0], "spool: %.20s: ", j->id);
	snprintf(f[1], sizeof f[1], "done %llu/%zu", (unsigned long long)done, j->ntasks);
	snprintf(f[2], sizeof f[2], ", failed %llu", (unsigned long long)failed);
	snprintf(f[3], sizeof f[3], ", running %llu", (unsigned long long)running);
	snprintf(f[4], sizeof f[4], ", queued %llu", (unsigned long long)queued);
	if (rate > 0) {
		snprintf(f[5], sizeof f[5], ", %.1f/s", rate);
		snprintf(f[6], sizeof f[6], ", ETA %.0fs", (j->ntasks - done) / rate);
	} else {
		snprintf(f[5], sizeof f[5], "%s", "");
		snprintf(f[6], sizeof f[6], "%s", ", ETA ?");
	}
	snprintf(f[7], sizeof f[7], ", %.0fs", secs);
	size_t room = (size_t)term_columns() - 1, used = 0;
	int keep[NF] = { 0 };
	for (int p = 0; p < NF; p++) /* by priority: each field that still fits */
		for (int i = 0; i < NF; i++)
			if (prio[i] == p && used + strlen(f[i]) <= room) {
				keep[i] = 1;
				used += strlen(f[i]);
			}
	char line[NF * 64] = "";
	for (int i = 0; i < NF; i++)
		if (keep[i])
			strcat(line, f[i]);
	if (!keep[1]) /* not even the count fits: as much of it as does */
		snprintf(line, sizeof line, "%.*s", (int)room, f[1]);
	fprintf(stderr, "\r\033[K%s", line);
	pg->shown = 1;
	fflush(stderr);
}

void progress_clear(struct progress *pg)
{
	if (pg && !pg->shown)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	if (pg)
		pg->shown = 0;
}

/* The one table of exit codes (enum spool_exit): every command's help ends with it. */
static const struct {
	int code;
	const char *what;
} exit_codes[] = {
	{ SPOOL_EXIT_OK, "success (collect, and any wait for a job: every task succeeded)" },
	{ SPOOL_EXIT_TASK_FAILED, "collect, and any wait for a job: some task failed, timed out, was cancelled,\n"
				  "       abandoned or skipped" },
	{ SPOOL_EXIT_USAGE, "bad command line" },
	{ SPOOL_EXIT_ERROR, "no spool, bad spool.conf, I/O error, could not submit (doctor: a problem found)" },
	{ SPOOL_EXIT_NO_JOB, "no such job (or a dependency names no job of yours)" },
	{ SPOOL_EXIT_PENDING, "a look without waiting, or a wait past its timeout: still pending" },
	{ SPOOL_EXIT_INTERRUPTED, "interrupted (Ctrl-C) while waiting: the job goes on (unless told to cancel it)" },
};

void cli_help_end(FILE *f)
{
	fputs("  -d, --dir DIR    the spool (default: $SPOOL_DIR)\n"
	      "  -h, --help       this help (also 'spool help COMMAND')\n"
	      "\nexit codes:\n", f);
	for (size_t i = 0; i < ARRAY_LEN(exit_codes); i++)
		fprintf(f, "  %-4d %s\n", exit_codes[i].code, exit_codes[i].what);
}

void cli_bad_option(const char *cmd, char **argv, const char *shortopts, const struct option *opts)
{
	const char *arg = argv[optind - 1];
	const char *sc = optopt > 0 && optopt < 256 ? strchr(shortopts, optopt) : NULL;
	int missing = 0, novalue = 0;
	if (optopt && sc && sc[1] == ':')
		missing = 1;
	for (const struct option *o = opts; optopt && !sc && o && o->name; o++)
		if (o->val == optopt && strncmp(arg, "--", 2) == 0) {
			missing |= o->has_arg == required_argument && !strchr(arg, '=');
			novalue |= o->has_arg == no_argument && strchr(arg, '=') != NULL;
		}
	if (novalue)
		fprintf(stderr, "spool %s: option '%s' takes no value (see 'spool %s --help')\n", cmd, shown(arg), cmd);
	else if (missing)
		fprintf(stderr, "spool %s: option '%s' needs a value (see 'spool %s --help')\n", cmd, shown(arg), cmd);
	else if (!optopt || strncmp(arg, "--", 2) == 0)
		fprintf(stderr, "spool %s: unknown option '%s' (see 'spool %s --help')\n", cmd, shown(arg), cmd);
	else
		fprintf(stderr, "spool %s: unknown option '-%c' (see 'spool %s --help')\n", cmd, optopt, cmd);
}

void cli_jobref_fold(char *s)
{
	for (; *s && *s != '.'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}
