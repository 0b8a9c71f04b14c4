/* cmd_purge.c - `spool purge` (forget finished jobs, and with --results their output directories)
 * and `spool tail` (a task's output as it is written). Both go through include/spool.h: the
 * client neither lists the spool nor resolves a path beside the data itself. */
#include "cli.h"
#include "ids.h"
#include "json.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 200        /* tail -f and purge look again this often: no inotify on a shared filesystem */
#define PURGE_WAIT_MS 15000 /* how long purge waits for a running controller to take its requests */

static void nap_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static const char purge_usage[] =
	"usage: spool purge [--older-than AGE] [--results] [--dry-run] [--json] [JOB...]\n\n"
	"Forget finished jobs: their state, record and queue rows go, so 'spool status' no longer\n"
	"lists them. Without JOB: every finished job of yours (root: of every user), as tsp -C;\n"
	"a job still queued, running, held or waiting is never touched (naming one is refused).\n"
	"The files beside the data stay unless --results.\n\n"
	"  --older-than AGE  only jobs that finished at least AGE ago (90s, 12h, 7d)\n"
	"  --results         also remove each job's output directory spool-JOB (in its working\n"
	"                    directory, or in the one given at submit, which stays), if it is\n"
	"                    the submitter's own, not a link, and no one else may write it\n"
	"                    (an output directory of another name is kept)\n"
	"  --dry-run         say what would be removed, remove nothing\n"
	"  --json            the outcome as JSON\n\n"
	"here: 0 done, 2 also a named job not finished, 3 also results refused (that job is kept)\n\n";

struct purge_opts {
	uint64_t older_ms;
	int results, dry, json;
};

struct purge_out {
	struct json js;       /* --json: arrays filled as we go */
	struct buf kept;      /* "JOB\treason\n" lines, for --json */
	char **sent;          /* requests written, to wait for */
	size_t nsent, ndirs, nentries;
	int rc;
};

static void note_rc(struct purge_out *po, int rc)
{
	if (rc && (!po->rc || rc == SPOOL_EXIT_ERROR))
		po->rc = rc;
}

static void kept(struct purge_out *po, const char *job, const char *why, int rc, const struct purge_opts *o)
{
	if (o->json)
		buf_printf(&po->kept, "%s\t%s\n", job, why);
	else
		fprintf(stderr, "spool: kept %s: %s\n", shown(job), shown(why));
	note_rc(po, rc);
}

/* The age test of --older-than, on the controller's clock as published. */
static int old_enough(const struct spool_job *j, const struct purge_opts *o)
{
	uint64_t now = wall_ms();
	return !o->older_ms || (j->finished_ms && now >= j->finished_ms && now - j->finished_ms >= o->older_ms);
}

/* One finished job: its results first (they are found through its state), then the request. A
 * job whose results were refused keeps its record, so the purge can be run again once fixed. */
static void purge_one(spool_t *sp, const struct spool_job *j, const struct purge_opts *o, struct purge_out *po)
{
	char err[SPOOL_ERRLEN];
	if (o->results && !o->dry) {
		int n = spool_purge_results(j, err, sizeof err);
		if (n >= 0) {
			po->ndirs++;
			po->nentries += (size_t)n;
			if (!o->json)
				printf("removed %s (%d entr%s)\n", shown(j->outdir), n, n == 1 ? "y" : "ies");
		} else if (errno == EEXIST) {
			if (!o->json)
				fprintf(stderr, "spool: %s\n", shown(err));
		} else if (errno != ENOENT) {
			kept(po, j->id, err, SPOOL_EXIT_ERROR, o);
			return;
		}
	}
	if (o->dry) {
		if (!o->json)
			printf("would purge %s%s%s\n", j->id, o->results ? " and its results " : "",
			       o->results ? shown(j->outdir) : "");
		po->sent = xrealloc(po->sent, (po->nsent + 1) * sizeof *po->sent);
		po->sent[po->nsent++] = xstrdup(j->id);
		return;
	}
	int rc = spool_purge(sp, j->id, err, sizeof err);
	if (rc < 0) {
		kept(po, j->id, err, spool_exit_code(rc), o);
		return;
	}
	po->sent = xrealloc(po->sent, (po->nsent + 1) * sizeof *po->sent);
	po->sent[po->nsent++] = xstrdup(j->id);
}

/* A job named on the command line: refused by name when it is not finished. */
static void purge_named(spool_t *sp, const char *ref, const struct purge_opts *o, struct purge_out *po)
{
	char job[80], err[SPOOL_ERRLEN];
	uint64_t task;
	struct spool_job *j;
	int nf;
	if (jobref_parse(ref, job, sizeof job, &task) < 0 || task) {
		fprintf(stderr, "spool: '%s' is not a job id (a whole job is purged)\n", shown(ref));
		note_rc(po, SPOOL_EXIT_USAGE);
		return;
	}
	if (spool_job_summary(sp, job, &j, &nf, err, sizeof err) < 0) {
		kept(po, job, err, nf ? SPOOL_EXIT_NO_JOB : SPOOL_EXIT_ERROR, o);
		return;
	}
	if (!j->accepted || !j->done) {
		snprintf(err, sizeof err, "it is %s: only a finished job is purged (cancel it first, or wait)",
			 !j->accepted ? "not accepted by the controller yet" : j->held ? "held"
			 : j->waiting ? "waiting on a dependency" : "still queued or running");
		kept(po, job, err, SPOOL_EXIT_USAGE, o);
	} else if (!old_enough(j, o)) {
		kept(po, job, "it finished less than --older-than ago", 0, o);
	} else {
		purge_one(sp, j, o, po);
	}
	spool_job_free(j);
}

static void warn_cb(const char *msg, void *arg)
{
	(void)arg;
	cli_error(msg);
}

/* Every finished job the caller sees that is old enough; the others are left without a word. */
static void purge_all(spool_t *sp, const struct purge_opts *o, struct purge_out *po)
{
	struct spool_job **jobs;
	size_t n;
	char err[SPOOL_ERRLEN];
	if (spool_jobs(sp, &jobs, &n, warn_cb, NULL, err, sizeof err) < 0) {
		cli_error(err);
		note_rc(po, SPOOL_EXIT_ERROR);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (jobs[i]->accepted && jobs[i]->done && old_enough(jobs[i], o))
			purge_one(sp, jobs[i], o, po);
	spool_jobs_free(jobs, n);
}

/* Wait (bounded) for a running controller to take the requests: it says what was removed. Each
 * look reads only the summaries of the jobs still there. Returns how many are. */
static size_t wait_taken(spool_t *sp, struct purge_out *po)
{
	char why[256], err[SPOOL_ERRLEN];
	size_t left = po->nsent;
	uint64_t until = mono_ms() + PURGE_WAIT_MS;
	if (!left || !spool_controller_running(sp, why, sizeof why, 1))
		return left;
	const char **todo = xcalloc(left, sizeof *todo);
	for (size_t i = 0; i < left; i++)
		todo[i] = po->sent[i];
	for (;;) {
		size_t n = 0;
		for (size_t i = 0; i < left; i++) {
			struct spool_job *j;
			int nf;
			if (spool_job_summary(sp, todo[i], &j, &nf, err, sizeof err) == 0) {
				spool_job_free(j);
				todo[n++] = todo[i];
			}
		}
		left = n;
		if (!left || mono_ms() >= until)
			break;
		nap_ms(POLL_MS / 2);
	}
	free(todo);
	return left;
}

static void purge_json(const struct purge_opts *o, struct purge_out *po, size_t left)
{
	struct json *js = &po->js;
	json_obj_begin(js, NULL);
	json_bool(js, "dry_run", o->dry);
	json_arr_begin(js, o->dry ? "would_purge" : "purged");
	for (size_t i = 0; i < po->nsent; i++)
		json_str(js, NULL, po->sent[i]);
	json_arr_end(js);
	json_int(js, "pending", (int64_t)left);
	json_int(js, "result_dirs_removed", (int64_t)po->ndirs);
	json_int(js, "result_entries_removed", (int64_t)po->nentries);
	json_arr_begin(js, "kept");
	for (char *line = po->kept.p; line && *line;) {
		char *tab = strchr(line, '\t'), *nl = strchr(tab, '\n');
		*tab = *nl = '\0';
		json_obj_begin(js, NULL);
		json_str(js, "job", line);
		json_str(js, "reason", tab + 1);
		json_obj_end(js);
		line = nl + 1;
	}
	json_arr_end(js);
	json_obj_end(js);
	json_print(js);
}

int cmd_purge(int argc, char **argv)
{
	static const struct option opts[] = { { "older-than", required_argument, NULL, 'o' },
					      { "results", no_argument, NULL, 'r' },
					      { "dry-run", no_argument, NULL, 'n' },
					      { "json", no_argument, NULL, 'j' },
					      { "dir", required_argument, NULL, 'd' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	struct purge_opts o = { 0 };
	int c;
	while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (parse_seconds_ms(optarg, 100ull * 366 * 86400 * 1000, &o.older_ms) < 0) {
				fprintf(stderr, "spool purge: --older-than '%s' is not an age like 90s, 12h or 7d\n",
					shown(optarg));
				return SPOOL_EXIT_USAGE;
			}
			break;
		case 'r': o.results = 1; break;
		case 'n': o.dry = 1; break;
		case 'j': o.json = 1; break;
		case 'd': cli_spool_dir = optarg; break;
		case 'h': fputs(purge_usage, stdout); cli_help_end(stdout); return 0;
		default: cli_bad_option("purge", argv, "d:h", opts); return SPOOL_EXIT_USAGE;
		}
	}
	spool_t *sp = cli_open();
	if (!sp)
		return SPOOL_EXIT_ERROR;
	struct purge_out po = { 0 };
	json_init(&po.js);
	buf_init(&po.kept);
	if (optind < argc)
		for (int i = optind; i < argc; i++)
			purge_named(sp, argv[i], &o, &po);
	else
		purge_all(sp, &o, &po);
	size_t left = o.dry ? 0 : wait_taken(sp, &po);
	if (o.json) {
		purge_json(&o, &po, left);
	} else if (o.dry) {
		printf("would purge %zu job%s\n", po.nsent, po.nsent == 1 ? "" : "s");
	} else {
		printf("purged %zu job%s", po.nsent - left, po.nsent - left == 1 ? "" : "s");
		if (o.results)
			printf(", removed %zu result director%s (%zu entr%s)", po.ndirs, po.ndirs == 1 ? "y" : "ies",
			       po.nentries, po.nentries == 1 ? "y" : "ies");
		printf("\n");
		if (left)
			fprintf(stderr, "spool: %zu purge request%s written but not taken yet: the controller removes "
				"them when it runs (see 'spool doctor')\n", left, left == 1 ? "" : "s");
	}
	for (size_t i = 0; i < po.nsent; i++)
		free(po.sent[i]);
	free(po.sent);
	buf_free(&po.kept);
	json_free(&po.js);
	spool_close(sp);
	if (fflush(stdout) != 0)
		return SPOOL_EXIT_ERROR;
	return po.rc;
}

/* ---- spool tail ---- */

static const char tail_usage[] =
	"usage: spool tail [-f] [--stderr] JOB[.TASK]\n\n"
	"Print a task's standard output as written so far (JOB alone: its task 1), running or\n"
	"finished: the current attempt's file beside the data, read with collect's checks.\n\n"
	"  -f, --follow   keep printing as the task writes, until it ends; then exit as collect\n"
	"                 would for it (0 succeeded, 1 otherwise), as GNU tail given a pid. Looks\n"
	"                 every 0.2 s, so it works on a shared filesystem where inotify sees nothing\n"
	"  --stderr       its standard error instead (the two are separate files: run\n"
	"                 'spool tail' twice to see both)\n\n"
	"here: 0 printed (-f: the task succeeded), 1 -f: it failed, timed out, was cancelled or\n"
	"skipped, 3 also a file refused, 4 no such job or task, 5 it has not started (without -f)\n\n";

/* Copy what fd holds now to stdout. 0 at its end for now, -1 on an error (said). */
static int drain(int fd, const char *what)
{
	char buf[65536];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n == 0)
			return fflush(stdout) == 0 ? 0 : -1;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "spool: cannot read the output of %s: %s\n", shown(what), strerror(errno));
			return -1;
		}
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			return -1;
	}
}

static int task_exit(enum spool_task_state s)
{
	return s == SPOOL_TASK_SUCCEEDED ? 0 : SPOOL_EXIT_TASK_FAILED;
}

/* Follow task of job: the current attempt's file, then the next one's when it runs again. */
static int tail_task(spool_t *sp, const char *job, uint64_t task, enum spool_output which, int follow,
		     const char *ref)
{
	char err[SPOOL_ERRLEN];
	enum spool_task_state st;
	uint64_t attempt = 0, now;
	int fd = -1, rc;
	for (;;) {
		if (fd < 0) {
			rc = spool_task_output_open(sp, job, task, which, &attempt, err, sizeof err);
			if (rc < 0 && (rc < -1 || errno != ENOENT)) {
				cli_error(err);
				return spool_exit_code(rc);
			}
			fd = rc;
		}
		if (fd >= 0 && drain(fd, ref) < 0) {
			close(fd);
			return SPOOL_EXIT_ERROR;
		}
		/* The state after the read: a task seen terminal has written all it will, so one
		 * more read gets the rest before we leave. */
		if ((rc = spool_task_state_get(sp, job, task, &st, &now, err, sizeof err)) < 0) {
			if (fd >= 0)
				close(fd);
			cli_error(err);
			return spool_exit_code(rc);
		}
		int over = st >= SPOOL_TASK_SUCCEEDED; /* terminal states (spool.h) */
		if (fd >= 0 && now != attempt) {
			/* It runs again (a lost node, --retry-on-failure), or another attempt's result
			 * was accepted: that attempt's file from its start. */
			int r = drain(fd, ref);
			close(fd);
			fd = -1;
			if (r < 0)
				return SPOOL_EXIT_ERROR;
			fprintf(stderr, "spool: %s: attempt %llu\n", shown(ref), (unsigned long long)now);
			continue;
		}
		if (fd >= 0 && (over || !follow)) {
			int r = drain(fd, ref);
			close(fd);
			return r < 0 ? SPOOL_EXIT_ERROR : over && follow ? task_exit(st) : 0;
		}
		if (fd < 0 && over) {
			fprintf(stderr, "spool: %s ended %s without output\n", shown(ref), spool_task_state_name(st));
			return task_exit(st);
		}
		if (fd < 0 && !follow) {
			fprintf(stderr, "spool: %s has not started yet (-f waits for it)\n", shown(ref));
			return SPOOL_EXIT_PENDING;
		}
		nap_ms(POLL_MS);
	}
}

int cmd_tail(int argc, char **argv)
{
	static const struct option opts[] = { { "follow", no_argument, NULL, 'f' },
					      { "stderr", no_argument, NULL, 'e' },
					      { "dir", required_argument, NULL, 'd' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	int c, follow = 0;
	enum spool_output which = SPOOL_OUT_STDOUT;
	while ((c = getopt_long(argc, argv, "fd:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': follow = 1; break;
		case 'e': which = SPOOL_OUT_STDERR; break;
		case 'd': cli_spool_dir = optarg; break;
		case 'h': fputs(tail_usage, stdout); cli_help_end(stdout); return 0;
		default: cli_bad_option("tail", argv, "fd:h", opts); return SPOOL_EXIT_USAGE;
		}
	}
	char job[80];
	uint64_t task;
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: spool tail [-f] [--stderr] JOB[.TASK] (see 'spool tail --help')\n");
		return SPOOL_EXIT_USAGE;
	}
	if (jobref_parse(argv[optind], job, sizeof job, &task) < 0) {
		fprintf(stderr, "spool: '%s' is not JOB or JOB.TASK (tasks count from 1)\n", shown(argv[optind]));
		return SPOOL_EXIT_USAGE;
	}
	spool_t *sp = cli_open();
	if (!sp)
		return SPOOL_EXIT_ERROR;
	int rc = tail_task(sp, job, task ? task : 1, which, follow, argv[optind]);
	spool_close(sp);
	return rc;
}
