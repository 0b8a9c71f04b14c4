/* cmd_acct.c - `spool acct`: what jobs used, like Slurm's sacct. Per job, and per user in all,
 * from spool_job_acct(), which reads each job's result records a chunk of tasks at a time. */
#include "cli.h"
#include "json.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char acct_usage[] =
	"usage: spool acct [--user U] [--since T] [--json] [JOB...]\n\n"
	"What jobs used, like Slurm's sacct: per job its tasks, those that failed (failed, timed\n"
	"out or abandoned), CPU time (user+sys, then each), the largest peak memory of a task,\n"
	"the tasks' wall time summed and the job's elapsed time (accepted to finished, or to now);\n"
	"then a total line per user. From the result records the workers wrote beside the data:\n"
	"every attempt that ran is counted. Without JOB: every job you may see (your own; root:\n"
	"everyone's).\n\n"
	"  --user U         only the jobs of user U (a name or uid; repeatable)\n"
	"  --since T        leave out the jobs that were over before T: a duration back from now\n"
	"                   (90s, 2h, 7d) or a local date and time (2026-11-29, 2026-11-29T13:00)\n"
	"  --json           {\"jobs\": [...], \"users\": [...]} (spool-layout.md 11)\n"
	"\nhere: 3 also a job could not be read\n\n";

struct user_total {
	uint64_t owner, jobs;
	struct spool_acct sum;
};

static void add_to(struct spool_acct *s, const struct spool_acct *a)
{
	s->tasks += a->tasks;
	s->ended += a->ended;
	s->succeeded += a->succeeded;
	s->failed += a->failed;
	s->cancelled += a->cancelled;
	s->skipped += a->skipped;
	s->attempts += a->attempts;
	s->unreadable += a->unreadable;
	s->user_ms += a->user_ms;
	s->sys_ms += a->sys_ms;
	s->wall_ms += a->wall_ms;
	if (a->maxrss_kb > s->maxrss_kb)
		s->maxrss_kb = a->maxrss_kb;
	if (a->elapsed_ms > 0)
		s->elapsed_ms += a->elapsed_ms;
}

/* 512K, 1.4M, 2.0G */
static const char *kb_text(int64_t kb, char *buf, size_t sz)
{
	if (kb < 0)
		snprintf(buf, sz, "-");
	else if (kb < 1024)
		snprintf(buf, sz, "%lldK", (long long)kb);
	else if (kb < 1024 * 1024)
		snprintf(buf, sz, "%.1fM", kb / 1024.0);
	else
		snprintf(buf, sz, "%.1fG", kb / (1024.0 * 1024));
	return buf;
}

#define ACCT_FMT "%-10s %-8s %6s %6s %6s %6s %6s %6s %6s %7s\n"

static void acct_line(const char *job, const char *user, const struct spool_acct *a)
{
	char t[24], f[24], cpu[16], us[16], sy[16], rss[16], wall[16], el[16];
	snprintf(t, sizeof t, "%llu", (unsigned long long)a->tasks);
	snprintf(f, sizeof f, "%llu", (unsigned long long)a->failed);
	printf(ACCT_FMT, job, user, t, f, dur_text(a->user_ms + a->sys_ms, cpu, sizeof cpu),
	       dur_text(a->user_ms, us, sizeof us), dur_text(a->sys_ms, sy, sizeof sy), kb_text(a->maxrss_kb, rss, sizeof rss),
	       dur_text(a->wall_ms, wall, sizeof wall), dur_text(a->elapsed_ms, el, sizeof el));
}

static void acct_json(struct json *js, const char *job, int64_t owner, const struct spool_acct *a, uint64_t jobs)
{
	char user[80];
	json_obj_begin(js, NULL);
	if (job)
		json_str(js, "job", job);
	else
		json_int(js, "jobs", (int64_t)jobs);
	json_int_or_null(js, "owner", owner, owner >= 0);
	json_str(js, "user", owner >= 0 ? user_name((uint64_t)owner, user, sizeof user) : NULL);
	if (job)
		json_str(js, "state", a->owner < 0 ? "submitted" : a->done ? "done" : "active");
	json_int(js, "tasks", (int64_t)a->tasks);
	json_int(js, "ended", (int64_t)a->ended);
	json_int(js, "succeeded", (int64_t)a->succeeded);
	json_int(js, "failed", (int64_t)a->failed);
	json_int(js, "cancelled", (int64_t)a->cancelled);
	json_int(js, "skipped", (int64_t)a->skipped);
	json_int(js, "attempts", (int64_t)a->attempts);
	json_int(js, "unreadable", (int64_t)a->unreadable);
	json_int(js, "cpu_ms", a->user_ms + a->sys_ms);
	json_int(js, "user_ms", a->user_ms);
	json_int(js, "sys_ms", a->sys_ms);
	json_int_or_null(js, "maxrss_kb", a->maxrss_kb, a->maxrss_kb >= 0);
	json_int(js, "wall_ms", a->wall_ms);
	json_int_or_null(js, "elapsed_ms", a->elapsed_ms, a->elapsed_ms >= 0);
	if (job) {
		json_int_or_null(js, "submitted_ms", (int64_t)a->submitted_ms, a->submitted_ms > 0);
		json_int_or_null(js, "finished_ms", (int64_t)a->finished_ms, a->finished_ms > 0);
	}
	json_obj_end(js);
}

struct acct_run {
	spool_t *sp;
	struct json *js;             /* NULL: the table */
	struct user_total *users;
	size_t nusers;
	int rc;
};

/* One job: its line (or object), and its sums added to its user's. */
static void acct_one(struct acct_run *r, const char *jobid)
{
	struct spool_acct a;
	char err[SPOOL_ERRLEN], user[80];
	int rc = spool_job_acct(r->sp, jobid, &a, err, sizeof err);
	if (rc < 0) {
		cli_error(err);
		r->rc = spool_exit_code(rc);
		return;
	}
	if (err[0])
		fprintf(stderr, "spool: warning: %s\n", shown(err));
	if (r->js)
		acct_json(r->js, a.id, a.owner, &a, 1);
	else
		acct_line(a.id, a.owner >= 0 ? user_name((uint64_t)a.owner, user, sizeof user) : "-", &a);
	if (a.owner < 0)
		return;
	size_t i = 0;
	while (i < r->nusers && r->users[i].owner != (uint64_t)a.owner)
		i++;
	if (i == r->nusers) {
		r->users = xrealloc(r->users, (r->nusers + 1) * sizeof *r->users);
		memset(&r->users[i], 0, sizeof r->users[i]);
		r->users[i].owner = (uint64_t)a.owner;
		r->users[i].sum.maxrss_kb = -1;
		r->nusers++;
	}
	r->users[i].jobs++;
	add_to(&r->users[i].sum, &a);
}

static void warn_unlisted(const char *msg, void *arg)
{
	(void)arg;
	fprintf(stderr, "spool: warning: not listed: %s\n", shown(msg));
}

/* The jobs named, or every job, that the filters select: each summary is read first (one small
 * record), and only a selected job's results are read. */
static void acct_jobs(struct acct_run *r, const struct job_sel *sel, char **ids, int nids)
{
	char err[SPOOL_ERRLEN];
	if (nids) {
		for (int i = 0; i < nids; i++) {
			struct spool_job *j;
			int nf;
			if (spool_job_summary(r->sp, ids[i], &j, &nf, err, sizeof err) < 0) {
				cli_error(err);
				r->rc = nf ? SPOOL_EXIT_NO_JOB : SPOOL_EXIT_ERROR;
				continue;
			}
			if (sel_match(sel, j))
				acct_one(r, j->id);
			spool_job_free(j);
		}
		return;
	}
	struct spool_job **jobs;
	size_t n;
	if (spool_jobs(r->sp, &jobs, &n, warn_unlisted, NULL, err, sizeof err) < 0) {
		cli_error(err);
		r->rc = SPOOL_EXIT_ERROR;
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (sel_match(sel, jobs[i]))
			acct_one(r, jobs[i]->id);
	spool_jobs_free(jobs, n);
}

int cmd_acct(int argc, char **argv)
{
	static const struct option opts[] = { { "user", required_argument, NULL, 'u' },
					      { "since", required_argument, NULL, 'S' },
					      { "json", no_argument, NULL, 'j' },
					      { "dir", required_argument, NULL, 'd' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	struct job_sel sel = { 0 };
	int o, as_json = 0;
	while ((o = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		switch (o) {
		case 'u':
		case 'S':
			if ((o == 'u' ? sel_user(&sel, optarg) : sel_since(&sel, optarg)) < 0) {
				sel_free(&sel);
				return SPOOL_EXIT_USAGE;
			}
			break;
		case 'j': as_json = 1; break;
		case 'd': cli_spool_dir = optarg; break;
		case 'h': fputs(acct_usage, stdout); cli_help_end(stdout); sel_free(&sel); return 0;
		default: cli_bad_option("acct", argv, "d:h", opts); sel_free(&sel); return SPOOL_EXIT_USAGE;
		}
	}
	struct json js;
	struct acct_run r = { .sp = cli_open(), .js = as_json ? &js : NULL };
	if (!r.sp) {
		sel_free(&sel);
		return SPOOL_EXIT_ERROR;
	}
	if (as_json) {
		json_init(&js);
		json_obj_begin(&js, NULL);
		json_arr_begin(&js, "jobs");
	} else {
		printf(ACCT_FMT, "JOB", "USER", "TASKS", "FAILED", "CPU", "USRCPU", "SYSCPU", "MAXRSS", "WALL", "ELAPSED");
	}
	acct_jobs(&r, &sel, argv + optind, argc - optind);
	if (as_json) {
		json_arr_end(&js);
		json_arr_begin(&js, "users");
	}
	for (size_t i = 0; i < r.nusers; i++) {
		char user[80];
		if (as_json)
			acct_json(&js, NULL, (int64_t)r.users[i].owner, &r.users[i].sum, r.users[i].jobs);
		else
			acct_line("total", user_name(r.users[i].owner, user, sizeof user), &r.users[i].sum);
	}
	if (as_json) {
		json_arr_end(&js);
		json_obj_end(&js);
		json_print(&js);
		json_free(&js);
	}
	free(r.users);
	sel_free(&sel);
	spool_close(r.sp);
	if (fflush(stdout) != 0 && !r.rc)
		r.rc = SPOOL_EXIT_ERROR;
	return r.rc;
}
