/* cmd_status.c - `spool status [JOB]` and `spool workers`: what the controller published. */
#include "cli.h"
#include "fsio.h"
#include "json.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* "3 queued, 2 running, 95 succeeded": the states that have tasks. */
static void counts_text(const struct spool_job *j, char *out, size_t sz)
{
	size_t len = 0;
	out[0] = '\0';
	for (int s = 0; s < SPOOL_TASK_NSTATES && len < sz; s++)
		if (j->counts[s])
			len += (size_t)snprintf(out + len, sz - len, "%s%llu %s", len ? ", " : "",
						(unsigned long long)j->counts[s], spool_task_state_name(s));
}

/* A job's summary, and its tasks when given (with_tasks: there are at most STATUS_TASKS, or
 * --tasks asked for them). */
#define STATUS_TASKS 1000
static void status_job_text(const struct spool_job *j)
{
	char counts[512];
	if (!j->accepted) {
		printf("job %s: waiting for the controller to accept it\n", j->id);
		return;
	}
	if (!j->ntasks) { /* its first state waits up to publish_interval (spool-layout.md 3.10) */
		printf("job %s: accepted, queued; its state is published in a moment\n", j->id);
		return;
	}
	struct passwd *pw = getpwuid((uid_t)j->owner);
	counts_text(j, counts, sizeof counts);
	printf("job %s%s%s%s  owner uid %llu (%s)  %zu task%s  %s\n", j->id, j->name ? " (" : "", j->name ? shown(j->name) : "",
	       j->name ? ")" : "", (unsigned long long)j->owner, pw ? shown(pw->pw_name) : "no account here", j->ntasks,
	       j->ntasks == 1 ? "" : "s", spool_job_state_name(j->state));
	if (j->command)
		printf("command: %s\n", shown(j->command));
	printf("tasks: %s\n", counts);
	if (j->waiting && !j->done)
		printf("waiting on %s\n", shown(j->waiting));
	if (j->held && !j->done)
		printf("held: its queued tasks start after 'spool release %s'\n", j->id);
	if (!j->tasks) {
		printf("(%zu tasks: 'spool status --tasks %s' lists each one)\n", j->ntasks, j->id);
		return;
	}
	printf("%6s  %-10s %7s %6s  %-12s %5s %10s  %s\n", "TASK", "STATE", "ATTEMPT", "ENGINE", "NODE", "EXIT",
	       "WALL", "REASON");
	for (size_t i = 0; i < j->ntasks; i++) {
		const struct spool_task *t = &j->tasks[i];
		char eng[24] = "-", ex[24] = "-", wall[32] = "-";
		if (t->engine >= 0)
			snprintf(eng, sizeof eng, "%lld", (long long)t->engine);
		if (t->exit_code >= 0)
			snprintf(ex, sizeof ex, "%d", t->exit_code);
		else if (t->signal > 0)
			snprintf(ex, sizeof ex, "sig%d", t->signal);
		if (t->wall_ms >= 0)
			snprintf(wall, sizeof wall, "%.3fs", t->wall_ms / 1000.0);
		printf("%6llu  %-10s %7llu %6s  %-12s %5s %10s  %s\n", (unsigned long long)t->task,
		       spool_task_state_name(t->state), (unsigned long long)t->attempt, eng, shown(t->node), ex, wall,
		       t->reason ? shown(t->reason) : "");
	}
}

static void warn_unlisted(const char *msg, void *arg)
{
	(void)arg;
	fprintf(stderr, "spool: warning: not listed: %s\n", shown(msg));
}

/* One line of the table of every job, its cells as text. */
enum { C_JOB, C_USER, C_SUBMIT, C_ENDED, C_TASKS, C_QUEUED, C_RUN, C_OK, C_FAIL, C_CANC, C_SKIP, C_STATE, C_NCOLS };
static const char *const col_head[C_NCOLS] = { "JOB",  "USER", "SUBMIT", "ENDED", "TASKS", "QUEUED",
					       "RUN",  "OK",   "FAIL",   "CANC",  "SKIP",  "STATE" };
struct row {
	char cell[C_NCOLS][40]; /* but the state's */
	char state[200];
	const char *command; /* with the job's name before it */
	char cmdbuf[300];
};

static void row_fill(struct row *r, const struct spool_job *j, uint64_t now)
{
	for (int c = 0; c < C_NCOLS; c++)
		snprintf(r->cell[c], sizeof r->cell[c], "-");
	r->state[0] = '\0';
	snprintf(r->cell[C_JOB], sizeof r->cell[C_JOB], "%s", j->id);
	r->command = "";
	if (!j->accepted || !j->ntasks) { /* its command is in its record, which only spoold reads */
		snprintf(r->state, sizeof r->state, "%s", spool_job_state_name(SPOOL_JOB_SUBMITTED));
		r->command = j->accepted ? "(accepted, state not yet published)" : "(not yet accepted)";
		return;
	}
	const uint64_t *c = j->counts;
	uint64_t n[] = { j->ntasks, c[SPOOL_TASK_QUEUED], c[SPOOL_TASK_ASSIGNED] + c[SPOOL_TASK_RUNNING],
			 c[SPOOL_TASK_SUCCEEDED], c[SPOOL_TASK_FAILED] + c[SPOOL_TASK_TIMEDOUT] + c[SPOOL_TASK_ABANDONED],
			 c[SPOOL_TASK_CANCELLED], c[SPOOL_TASK_SKIPPED] };
	for (int k = 0; k < 7; k++)
		snprintf(r->cell[C_TASKS + k], sizeof r->cell[0], "%llu", (unsigned long long)n[k]);
	user_name(j->owner, r->cell[C_USER], sizeof r->cell[C_USER]);
	clock_text(j->submitted_ms, r->cell[C_SUBMIT], sizeof r->cell[C_SUBMIT]);
	if (j->done) {
		clock_text(j->finished_ms, r->cell[C_ENDED], sizeof r->cell[C_ENDED]);
	} else if (j->submitted_ms) { /* still running: for how long, "+3m02s" */
		char d[32];
		snprintf(r->cell[C_ENDED], sizeof r->cell[C_ENDED], "+%s",
			 dur_text(now > j->submitted_ms ? (int64_t)(now - j->submitted_ms) : 0, d, sizeof d));
	}
	snprintf(r->state, sizeof r->state, "%s%s%s%.150s", spool_job_state_name(j->state), j->held && !j->done ? ", held" : "",
		 j->waiting && !j->done ? ", waiting on " : "", j->waiting && !j->done ? shown(j->waiting) : "");
	snprintf(r->cmdbuf, sizeof r->cmdbuf, "%s%s%s%s", j->name ? "[" : "", j->name ? shown(j->name) : "",
		 j->name ? "] " : "", j->command ? shown(j->command) : "-");
	r->command = r->cmdbuf;
}

/* The cells padded to their column's width (text left, numbers right), then as much of the
 * command as the terminal has room for: a line never wraps. */
static void row_print(const char *const *cell, const int *w, const char *command, int width)
{
	char line[2048];
	size_t len = 0;
	for (int c = 0; c < C_NCOLS && len < sizeof line; c++) {
		int left = c == C_JOB || c == C_USER || c == C_STATE;
		len += (size_t)snprintf(line + len, sizeof line - len, left ? "%s%-*s" : "%s%*s", c ? " " : "", w[c], cell[c]);
	}
	if (len >= sizeof line)
		len = sizeof line - 1;
	while (len && line[len - 1] == ' ' && !*command)
		line[--len] = '\0';
	if ((int)len >= width) {
		print_fit(line, width);
	} else {
		fputs(line, stdout);
		if (*command && width - (int)len - 1 > 0) {
			putchar(' ');
			print_fit(command, width - (int)len - 1);
		}
	}
	putchar('\n');
}

/* Every job (that the filters select): one small summary record each, whatever its size. */
static int status_all(spool_t *sp, struct json *js, const struct job_sel *sel)
{
	struct spool_job **jobs;
	size_t n, nrows = 0;
	char err[SPOOL_ERRLEN];
	if (spool_jobs(sp, &jobs, &n, warn_unlisted, NULL, err, sizeof err) < 0) {
		cli_error(err);
		return -1;
	}
	uint64_t now = now_ms();
	struct row *rows = xcalloc(n ? n : 1, sizeof *rows);
	int w[C_NCOLS];
	for (int c = 0; c < C_NCOLS; c++)
		w[c] = (int)strlen(col_head[c]);
	for (size_t i = 0; i < n; i++) {
		const struct spool_job *j = jobs[i];
		if (!sel_match(sel, j))
			continue;
		if (js) {
			json_job(js, j, 0);
			continue;
		}
		struct row *r = &rows[nrows++];
		row_fill(r, j, now);
		for (int c = 0; c < C_NCOLS; c++) {
			int len = (int)strlen(c == C_STATE ? r->state : r->cell[c]);
			if (len > w[c])
				w[c] = len;
		}
	}
	if (!js) {
		int width = term_width();
		row_print(col_head, w, "COMMAND", width);
		for (size_t i = 0; i < nrows; i++) {
			const char *cell[C_NCOLS];
			for (int c = 0; c < C_NCOLS; c++)
				cell[c] = c == C_STATE ? rows[i].state : rows[i].cell[c];
			row_print(cell, w, rows[i].command, width);
		}
	}
	free(rows);
	spool_jobs_free(jobs, n);
	return 0;
}

static const char status_usage[] =
	"usage: spool status [--json] [--user U] [--state S[,S...]] [--since T]\n"
	"       spool status [--json] [--tasks] JOB\n\n"
	"Without JOB: the controller and every job you may see (your own; root: everyone's), oldest\n"
	"first: its user, when it was submitted, when it ended (or +how long it has run), its task\n"
	"counts (queued, running, succeeded, failed/timed out/abandoned, cancelled, skipped), its\n"
	"state and its command, cut to the terminal's width. With JOB: its counts, and each task's\n"
	"state, engine, node, exit and reason when it has at most %d tasks (--tasks: whatever their\n"
	"number; --json: always).\n\n"
	"  --user U         only the jobs of user U (a name or uid; repeatable)\n"
	"  --state S,...    only the jobs in one of these states: submitted, active, done, held,\n"
	"                   waiting, or a task state (queued, running, succeeded, failed, timedout,\n"
	"                   cancelled, abandoned, skipped...): the jobs with such a task\n"
	"  --since T        leave out the jobs that were over before T: a duration back from now\n"
	"                   (90s, 2h, 7d) or a local date and time (2026-11-29, 2026-11-29T13:00)\n"
	"  --tasks          with JOB: list its tasks however many there are\n"
	"  --json           the same as JSON (spool-layout.md 11)\n";

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
					      { "tasks", no_argument, NULL, 't' },
					      { "user", required_argument, NULL, 'u' },
					      { "state", required_argument, NULL, 's' },
					      { "since", required_argument, NULL, 'S' },
					      { "dir", required_argument, NULL, 'd' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	int o, rc = 0, as_json = 0, all_tasks = 0, filtered = 0;
	struct job_sel sel = { 0 };
	while ((o = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		switch (o) {
		case 'j': as_json = 1; break;
		case 't': all_tasks = 1; break;
		case 'u':
		case 's':
		case 'S':
			filtered = 1;
			if ((o == 'u' ? sel_user(&sel, optarg) : o == 's' ? sel_states(&sel, optarg) : sel_since(&sel, optarg)) < 0) {
				sel_free(&sel);
				return SPOOL_EXIT_USAGE;
			}
			break;
		case 'd': cli_spool_dir = optarg; break;
		case 'h':
			printf(status_usage, STATUS_TASKS);
			cli_help_end(stdout);
			sel_free(&sel);
			return 0;
		default: cli_bad_option("status", argv, "d:h", opts); sel_free(&sel); return SPOOL_EXIT_USAGE;
		}
	}
	if (argc - optind > 1 || (filtered && optind < argc)) {
		fprintf(stderr, filtered && optind < argc ? "spool: --user, --state and --since choose among all jobs: give "
							    "them without JOB\n"
							  : "usage: spool status [--json] [--tasks] [JOB] (see 'spool status --help')\n");
		sel_free(&sel);
		return SPOOL_EXIT_USAGE;
	}
	if (optind < argc)
		cli_jobref_fold(argv[optind]);
	spool_t *sp = cli_open();
	if (!sp) {
		sel_free(&sel);
		return SPOOL_EXIT_ERROR;
	}
	char err[SPOOL_ERRLEN];
	if (optind < argc) {
		struct spool_job *j;
		int nf;
		/* The summary first: it alone says how many tasks there are to read. */
		if (spool_job_summary(sp, argv[optind], &j, &nf, err, sizeof err) == 0 &&
		    (as_json || all_tasks || j->ntasks <= STATUS_TASKS)) {
			spool_job_free(j);
			if (spool_job_get(sp, argv[optind], &j, &nf, err, sizeof err) < 0)
				j = NULL;
		} else if (!j) {
			j = NULL;
		}
		if (!j) {
			cli_error(err);
			spool_close(sp);
			return nf ? SPOOL_EXIT_NO_JOB : SPOOL_EXIT_ERROR;
		}
		if (as_json) {
			struct json js;
			json_init(&js);
			json_job_full(sp, &js, j);
			json_print(&js);
			json_free(&js);
		} else {
			status_job_text(j);
		}
		spool_job_free(j);
		spool_close(sp);
		return 0;
	}
	struct spool_info *in;
	spool_info(sp, 1, &in);
	if (as_json) {
		struct json js;
		json_init(&js);
		json_obj_begin(&js, NULL);
		json_str(&js, "spool", in->path);
		json_str(&js, "filesystem", in->fstype);
		json_bool(&js, "relies_on_rescans", in->fs_remote);
		json_obj_begin(&js, "controller");
		json_bool(&js, "running", in->controller_running);
		json_str(&js, "status", in->controller_status);
		json_obj_end(&js);
		json_arr_begin(&js, "jobs");
		if (status_all(sp, &js, &sel) < 0)
			rc = SPOOL_EXIT_ERROR;
		json_arr_end(&js);
		json_obj_end(&js);
		json_print(&js);
		json_free(&js);
	} else {
		printf("spool %s (%s%s)\ncontroller: %s\n", shown(in->path), in->fstype,
		       in->fs_remote ? ": inotify is blind to other nodes here, spool relies on rescans" : "",
		       shown(in->controller_status));
		if (status_all(sp, NULL, &sel) < 0)
			rc = SPOOL_EXIT_ERROR;
	}
	spool_info_free(in);
	spool_close(sp);
	sel_free(&sel);
	return rc;
}

int cmd_workers(int argc, char **argv)
{
	static const struct option opts[] = { { "all", no_argument, NULL, 'a' },
					      { "wait", required_argument, NULL, 'w' },
					      { "timeout", required_argument, NULL, 't' },
					      { "json", no_argument, NULL, 'j' },
					      { "dir", required_argument, NULL, 'd' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	int o, all = 0, as_json = 0;
	uint64_t want = 0, tmo = 0;
	while ((o = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		switch (o) {
		case 'a': all = 1; break;
		case 'j': as_json = 1; break;
		case 'w':
			if (parse_u64(optarg, 1000000, &want) < 0 || !want) {
				fprintf(stderr, "spool: --wait wants a number of engines, not '%s'\n", shown(optarg));
				return SPOOL_EXIT_USAGE;
			}
			break;
		case 't':
			if (parse_seconds_ms(optarg, 366ull * 86400 * 1000, &tmo) < 0 || !tmo) {
				fprintf(stderr, "spool: --timeout wants a duration (30, 0.5, 90s, 1m, 2h), not '%s'\n", shown(optarg));
				return SPOOL_EXIT_USAGE;
			}
			break;
		case 'd': cli_spool_dir = optarg; break;
		case 'h':
			printf("usage: spool workers [--all] [--json] [--wait N [--timeout SEC]]\n\nThe live engines "
			       "(ipyparallel's c.ids): id, node, worker pid, state, current task, and how long\n"
			       "ago the controller last saw their worker's heartbeat change.\n"
			       "  --all           also list dead engines (ids are never reused)\n"
			       "  --wait N        first wait until N engines are alive\n"
			       "  --timeout SEC   with --wait: give up after SEC seconds (exit 5)\n"
			       "  --json          one object per engine\n");
			cli_help_end(stdout);
			return 0;
		default: cli_bad_option("workers", argv, "d:h", opts); return SPOOL_EXIT_USAGE;
		}
	}
	spool_t *sp = cli_open();
	if (!sp)
		return SPOOL_EXIT_ERROR;
	char err[SPOOL_ERRLEN];
	int rc = want ? spool_wait_engines(sp, (size_t)want, tmo, err, sizeof err) : 0;
	if (rc < 0) {
		cli_error(err);
		spool_close(sp);
		return spool_exit_code(rc);
	}
	struct spool_engine *e;
	size_t n;
	if (spool_engines(sp, &e, &n, err, sizeof err) < 0) {
		cli_error(err);
		spool_close(sp);
		return SPOOL_EXIT_ERROR;
	}
	struct json js;
	json_init(&js);
	if (as_json)
		json_arr_begin(&js, NULL);
	else if (!n)
		printf("no engines yet (start some with 'spool-worker -d %s -n N')\n", spool_path(sp));
	else
		printf("%6s  %-16s %8s  %-5s %-16s %9s\n", "ENGINE", "NODE", "PID", "STATE", "TASK", "HEARTBEAT");
	for (size_t i = 0; i < n; i++) {
		if (!all && strcmp(e[i].state, "dead") == 0)
			continue;
		if (as_json) {
			json_obj_begin(&js, NULL);
			json_int(&js, "id", e[i].id);
			json_str(&js, "node", e[i].node);
			json_int(&js, "pid", e[i].pid);
			json_str(&js, "worker", e[i].worker);
			json_str(&js, "state", e[i].state);
			json_str(&js, "task", strcmp(e[i].task, "-") ? e[i].task : NULL);
			if (e[i].beat_age_ms >= 0)
				json_num(&js, "heartbeat_age_s", e[i].beat_age_ms / 1000.0);
			else
				json_null(&js, "heartbeat_age_s");
			json_obj_end(&js);
			continue;
		}
		char ago[32] = "-";
		if (e[i].beat_age_ms >= 0)
			snprintf(ago, sizeof ago, "%.1fs ago", e[i].beat_age_ms / 1000.0);
		printf("%6lld  %-16s %8lld  %-5s %-16s %9s\n", (long long)e[i].id, shown(e[i].node), (long long)e[i].pid,
		       shown(e[i].state), shown(e[i].task), ago);
	}
	if (as_json) {
		json_arr_end(&js);
		json_print(&js);
	}
	json_free(&js);
	spool_engines_free(e);
	spool_close(sp);
	return 0;
}
