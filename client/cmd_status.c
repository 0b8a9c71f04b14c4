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
	if (!j->accepted || !j->ntasks) {
		printf("job %s: waiting for the controller to accept it\n", j->id);
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

/* Every job: its counts from its summary (one small record each, whatever its size). */
static int status_all(spool_t *sp, struct json *js)
{
	struct spool_job **jobs;
	size_t n;
	char err[SPOOL_ERRLEN];
	if (spool_jobs(sp, &jobs, &n, warn_unlisted, NULL, err, sizeof err) < 0) {
		cli_error(err);
		return -1;
	}
	if (!js)
		printf("%-12s %-16s %6s %7s %8s %8s %10s %7s  %s\n", "JOB", "NAME", "OWNER", "TASKS", "QUEUED",
		       "RUNNING", "SUCCEEDED", "FAILED", "STATE");
	for (size_t i = 0; i < n; i++) {
		const struct spool_job *j = jobs[i];
		if (js) {
			json_job(js, j, 0);
		} else if (!j->accepted || !j->ntasks) {
			printf("%-12s %-16s %6s %7s %8s %8s %10s %7s  %s\n", j->id, "-", "-", "-", "-", "-", "-", "-",
			       "submitted (not yet accepted)");
		} else {
			const uint64_t *c = j->counts;
			uint64_t failed = c[SPOOL_TASK_FAILED] + c[SPOOL_TASK_TIMEDOUT] + c[SPOOL_TASK_CANCELLED] +
					  c[SPOOL_TASK_ABANDONED] + c[SPOOL_TASK_SKIPPED];
			char st[200];
			snprintf(st, sizeof st, "%s%s%s%.150s", spool_job_state_name(j->state), j->held && !j->done ? ", held" : "",
				 j->waiting && !j->done ? ", waiting on " : "", j->waiting && !j->done ? j->waiting : "");
			printf("%-12s %-16.16s %6llu %7zu %8llu %8llu %10llu %7llu  %s\n", j->id, j->name ? shown(j->name) : "-",
			       (unsigned long long)j->owner, j->ntasks, (unsigned long long)c[SPOOL_TASK_QUEUED],
			       (unsigned long long)(c[SPOOL_TASK_ASSIGNED] + c[SPOOL_TASK_RUNNING]),
			       (unsigned long long)c[SPOOL_TASK_SUCCEEDED], (unsigned long long)failed, shown(st));
		}
	}
	spool_jobs_free(jobs, n);
	return 0;
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
					      { "tasks", no_argument, NULL, 't' },
					      { "dir", required_argument, NULL, 'd' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	int o, rc = 0, as_json = 0, all_tasks = 0;
	while ((o = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		switch (o) {
		case 'j': as_json = 1; break;
		case 't': all_tasks = 1; break;
		case 'd': cli_spool_dir = optarg; break;
		case 'h':
			printf("usage: spool status [--json] [--tasks] [JOB]\n\nWithout JOB: the controller and every job with its "
			       "task counts. With JOB: its counts, and each task's state, engine, node, exit and\n"
			       "reason when it has at most %d tasks (--tasks: whatever their number; --json: always).\n", STATUS_TASKS);
			printf("  --json          the same as JSON\n"
			       "  --tasks         list the tasks of JOB whatever their number\n");
			cli_help_end(stdout);
			return 0;
		default: cli_bad_option("status", argv, "d:h", opts); return SPOOL_EXIT_USAGE;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "usage: spool status [--json] [--tasks] [JOB] (see 'spool status --help')\n");
		return SPOOL_EXIT_USAGE;
	}
	if (optind < argc)
		cli_jobref_fold(argv[optind]);
	spool_t *sp = cli_open();
	if (!sp)
		return SPOOL_EXIT_ERROR;
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
		if (status_all(sp, &js) < 0)
			rc = SPOOL_EXIT_ERROR;
		json_arr_end(&js);
		json_obj_end(&js);
		json_print(&js);
		json_free(&js);
	} else {
		printf("spool %s (%s%s)\ncontroller: %s\n", shown(in->path), in->fstype,
		       in->fs_remote ? ": inotify is blind to other nodes here, spool relies on rescans" : "",
		       shown(in->controller_status));
		if (status_all(sp, NULL) < 0)
			rc = SPOOL_EXIT_ERROR;
	}
	spool_info_free(in);
	spool_close(sp);
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
