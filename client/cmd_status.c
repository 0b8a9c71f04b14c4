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

static void status_job_text(const struct spool_job *j)
{
	if (!j->ntasks) {
		printf("job %s: waiting for the controller to accept it\n", j->id);
		return;
	}
	struct passwd *pw = getpwuid((uid_t)j->owner);
	printf("job %s%s%s%s  owner uid %llu (%s)  %zu task%s  %s\n", j->id, j->name ? " (" : "", j->name ? shown(j->name) : "",
	       j->name ? ")" : "", (unsigned long long)j->owner, pw ? shown(pw->pw_name) : "no account here", j->ntasks,
	       j->ntasks == 1 ? "" : "s", j->done ? "done" : "active");
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
		printf("%6llu  %-10s %7llu %6s  %-12s %5s %10s  %s\n", (unsigned long long)t->task, shown(t->state),
		       (unsigned long long)t->attempt, eng, shown(t->node), ex, wall, t->reason ? shown(t->reason) : "");
	}
}

struct entry {
	char *name;
	struct timespec t;
};

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = timespec_cmp(&x->t, &y->t);
	return c ? c : strcmp(x->name, y->name);
}

/* Submission order: by the mtime of each job's record (the file server's clock), then name. */
static void sort_by_submission(int dirfd, char **names, long n)
{
	if (n <= 0)
		return; /* empty, or a directory we may not list (a shared spool's incoming/) */
	struct entry *e = xcalloc((size_t)(n > 0 ? n : 1), sizeof *e);
	for (long i = 0; i < n; i++) {
		struct stat st;
		char rec[128];
		size_t len = strcspn(names[i], ".");
		snprintf(rec, sizeof rec, "%.*s.job", (int)(len < 100 ? len : 100), names[i]);
		e[i].name = names[i];
		if (fstatat(dirfd, rec, &st, AT_SYMLINK_NOFOLLOW) == 0)
			e[i].t = st.st_mtim;
	}
	qsort(e, (size_t)n, sizeof *e, cmp_entry);
	for (long i = 0; i < n; i++)
		names[i] = e[i].name;
	free(e);
}

/* Every job: those still in incoming/ (not accepted yet) and those with a published state. */
static void status_all(spool_t *sp, struct json *js)
{
	struct spooldir *sd = spool_dir(sp);
	char **names;
	long n;
	if (!js)
		printf("%-12s %-16s %6s %6s %8s %8s %10s %7s  %s\n", "JOB", "NAME", "OWNER", "TASKS", "QUEUED",
		       "RUNNING", "SUCCEEDED", "FAILED", "STATE");
	int dirs[2] = { sd->incoming, sd->ctl_jobs };
	const char *suffix[2] = { ".job", ".state" };
	for (int d = 0; d < 2; d++) {
		n = fs_list(dirs[d], &names, NULL);
		sort_by_submission(dirs[d], names, n);
		for (long i = 0; i < n; i++) {
			struct spool_job *j;
			char err[SPOOL_ERRLEN];
			int nf;
			if (!has_suffix(names[i], suffix[d]))
				continue;
			names[i][strlen(names[i]) - strlen(suffix[d])] = '\0';
			if (spool_job_get(sp, names[i], &j, &nf, err, sizeof err) < 0) {
				/* Other users' jobs are not listed, silently; a state that is not the
				 * controller's (or unreadable) is worth a word to whoever may see it. */
				if (d == 1 && !nf && errno != EACCES && errno != ENOENT)
					fprintf(stderr, "spool: warning: not listed: %s\n", shown(err));
				continue;
			}
			if (d == 0 && j->ntasks) {
				spool_job_free(j); /* accepted meanwhile: listed from ctl/jobs */
				continue;
			}
			if (js) {
				json_job(js, j, 0);
			} else if (d == 0) {
				printf("%-12s %-16s %6s %6s %8s %8s %10s %7s  %s\n", j->id, "-", "-", "-", "-", "-", "-",
				       "-", "submitted (not yet accepted)");
			} else {
				size_t q = 0, r = 0, s = 0, f = 0;
				for (size_t k = 0; k < j->ntasks; k++) {
					const char *st = j->tasks[k].state;
					if (strcmp(st, "queued") == 0)
						q++;
					else if (strcmp(st, "assigned") == 0 || strcmp(st, "running") == 0)
						r++;
					else if (strcmp(st, "succeeded") == 0)
						s++;
					else
						f++;
				}
				printf("%-12s %-16.16s %6llu %6zu %8zu %8zu %10zu %7zu  %s\n", j->id,
				       j->name ? shown(j->name) : "-", (unsigned long long)j->owner, j->ntasks, q, r, s, f,
				       j->done ? "done" : "active");
			}
			spool_job_free(j);
		}
		if (n >= 0)
			fs_list_free(names, n);
	}
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
					      { "dir", required_argument, NULL, 'd' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	int o, rc = 0, as_json = 0;
	while ((o = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		switch (o) {
		case 'j': as_json = 1; break;
		case 'd': cli_spool_dir = optarg; break;
		case 'h':
			printf("usage: spool status [--json] [JOB]\n\nWithout JOB: the controller and every job with its "
			       "task counts. With JOB: each task's state, engine, node, exit and reason.\n"
			       "exit codes: 0 ok, 3 spool error, 4 no such job\n");
			return 0;
		default: return SPOOL_EXIT_USAGE;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "usage: spool status [--json] [JOB]\n");
		return SPOOL_EXIT_USAGE;
	}
	spool_t *sp = cli_open();
	if (!sp)
		return SPOOL_EXIT_ERROR;
	char err[SPOOL_ERRLEN];
	if (optind < argc) {
		struct spool_job *j;
		int nf;
		if (spool_job_get(sp, argv[optind], &j, &nf, err, sizeof err) < 0) {
			cli_error(err);
			spool_close(sp);
			return nf ? SPOOL_EXIT_NO_JOB : SPOOL_EXIT_ERROR;
		}
		if (as_json) {
			struct json js;
			json_init(&js);
			json_job(&js, j, 1);
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
		status_all(sp, &js);
		json_arr_end(&js);
		json_obj_end(&js);
		json_print(&js);
		json_free(&js);
	} else {
		printf("spool %s (%s%s)\ncontroller: %s\n", shown(in->path), in->fstype,
		       in->fs_remote ? ": inotify is blind to other nodes here, spool relies on rescans" : "",
		       shown(in->controller_status));
		status_all(sp, NULL);
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
				fprintf(stderr, "spool: --timeout wants seconds, not '%s'\n", shown(optarg));
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
			return 0;
		default: return SPOOL_EXIT_USAGE;
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
