/* cmd_collect.c - wait for a job, print each task's output in task order, summarise failures.
 *
 * Waiting watches ctl/jobs/ with inotify when it can, and always re-reads on a
 * timer (rescan_interval), so it also works on NFS where inotify is blind.
 */
#include "cli.h"
#include "fsio.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

static int copy_file(const char *path, FILE *to)
{
	char buf[65536];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n;
	if (fd < 0)
		return -1;
	fflush(to);
	while ((n = read(fd, buf, sizeof buf)) > 0)
		if (fwrite(buf, 1, (size_t)n, to) != (size_t)n)
			break;
	close(fd);
	return 0;
}

static void describe(const struct spool_task *t, char *out, size_t sz)
{
	if (strcmp(t->state, "failed") == 0 && t->exit_code >= 0)
		snprintf(out, sz, "exited with status %d", t->exit_code);
	else if (strcmp(t->state, "failed") == 0 && t->signal > 0)
		snprintf(out, sz, "killed by signal %d (%s)", t->signal, strsignal(t->signal));
	else if (strcmp(t->state, "timedout") == 0)
		snprintf(out, sz, "timed out");
	else
		snprintf(out, sz, "%s", t->state);
}

static int print_results(const struct spool_job *j, int final)
{
	size_t failed = 0, pending = 0;
	for (size_t i = 0; i < j->ntasks; i++) {
		const struct spool_task *t = &j->tasks[i];
		if (!spool_task_terminal(t)) {
			pending++;
			continue;
		}
		if (t->stdout_path && copy_file(t->stdout_path, stdout) < 0 && strcmp(t->state, "succeeded") == 0)
			fprintf(stderr, "spool: task %s.%llu: cannot read its output %s: %s\n", j->id,
				(unsigned long long)t->task, t->stdout_path, strerror(errno));
		fflush(stdout);
		if (t->stderr_path)
			copy_file(t->stderr_path, stderr);
		if (!spool_task_succeeded(t))
			failed++;
	}
	fflush(stdout);
	if (failed) {
		fprintf(stderr, "spool: job %s: %zu of %zu task%s did not succeed:\n", j->id, failed, j->ntasks,
			j->ntasks == 1 ? "" : "s");
		for (size_t i = 0; i < j->ntasks; i++) {
			const struct spool_task *t = &j->tasks[i];
			char what[128];
			if (!spool_task_terminal(t) || spool_task_succeeded(t))
				continue;
			describe(t, what, sizeof what);
			fprintf(stderr, "  task %llu: %s%s%s%s%s\n", (unsigned long long)t->task, what,
				strcmp(t->node, "-") ? " on " : "", strcmp(t->node, "-") ? t->node : "",
				t->reason ? ": " : "", t->reason ? t->reason : "");
		}
	}
	if (pending && !final)
		fprintf(stderr, "spool: job %s: %zu of %zu task%s still pending\n", j->id, pending, j->ntasks,
			j->ntasks == 1 ? "" : "s");
	if (pending)
		return SPOOL_EXIT_PENDING;
	return failed ? SPOOL_EXIT_TASK_FAILED : SPOOL_EXIT_OK;
}

int collect_job(spool_t *sp, const char *jobid, int wait, uint64_t timeout_ms)
{
	struct spooldir *sd = spool_dir(sp);
	char err[SPOOL_ERRLEN], path[4200];
	uint64_t start = mono_ms();
	int ino = -1, nf, rc;
	int warned = 0;

	if (wait && sd->conf.use_inotify) {
		ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		snprintf(path, sizeof path, "%s/ctl/jobs", sd->path);
		if (ino >= 0 && inotify_add_watch(ino, path, IN_MOVED_TO | IN_ONLYDIR) < 0) {
			close(ino);
			ino = -1;
		}
	}
	for (;;) {
		struct spool_job *j;
		if (spool_job_get(sp, jobid, &j, &nf, err, sizeof err) < 0) {
			fprintf(stderr, "spool: %s\n", err);
			rc = nf ? SPOOL_EXIT_NO_JOB : SPOOL_EXIT_ERROR;
			break;
		}
		if (j->done || !wait) {
			rc = j->accepted && j->ntasks ? print_results(j, j->done) : SPOOL_EXIT_PENDING;
			if (rc == SPOOL_EXIT_PENDING && !j->ntasks)
				fprintf(stderr, "spool: job %s is not yet accepted by the controller\n", jobid);
			spool_job_free(j);
			break;
		}
		if (!j->accepted && !warned && mono_ms() - start > 3000) {
			char st[256];
			if (!controller_status(sd, st, sizeof st, 0))
				fprintf(stderr, "spool: job %s waits in the spool: the controller is %s\n", jobid, st);
			warned = 1;
		}
		spool_job_free(j);
		if (timeout_ms && mono_ms() - start >= timeout_ms) {
			if (spool_job_get(sp, jobid, &j, &nf, err, sizeof err) == 0) {
				rc = j->ntasks ? print_results(j, 0) : SPOOL_EXIT_PENDING;
				spool_job_free(j);
			} else {
				rc = SPOOL_EXIT_PENDING;
			}
			fprintf(stderr, "spool: gave up waiting for job %s after %.1f s\n", jobid, timeout_ms / 1000.0);
			rc = SPOOL_EXIT_PENDING;
			break;
		}
		struct pollfd p = { ino, POLLIN, 0 };
		int tmo = (int)sd->conf.rescan_ms;
		if (ino >= 0) {
			if (poll(&p, 1, tmo) > 0) {
				char buf[4096];
				while (read(ino, buf, sizeof buf) > 0)
					;
			}
		} else {
			poll(NULL, 0, tmo < 50 ? tmo : 50);
		}
	}
	if (ino >= 0)
		close(ino);
	return rc;
}

int cmd_collect(int argc, char **argv)
{
	static const struct option opts[] = { { "no-wait", no_argument, NULL, 'n' },
					      { "timeout", required_argument, NULL, 't' },
					      { "dir", required_argument, NULL, 'd' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	int wait = 1, o;
	uint64_t tmo = 0;

	while ((o = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		switch (o) {
		case 'n': wait = 0; break;
		case 't':
			if (parse_seconds_ms(optarg, 366ull * 86400 * 1000, &tmo) < 0 || tmo == 0) {
				fprintf(stderr, "spool: --timeout wants seconds, not '%s'\n", optarg);
				return SPOOL_EXIT_USAGE;
			}
			break;
		case 'd': cli_spool_dir = optarg; break;
		case 'h':
			printf("usage: spool collect [--no-wait] [--timeout SEC] JOB\n"
			       "\nWait for JOB, print each task's stdout (and its stderr to stderr) in task\n"
			       "order, then a summary of the tasks that did not succeed on stderr.\n"
			       "  --no-wait       print what has finished and return at once\n"
			       "  --timeout SEC   stop waiting after SEC seconds\n"
			       "\nexit codes: 0 every task succeeded, 1 some task failed, timed out, was\n"
			       "cancelled or abandoned, 3 spool error, 4 no such job, 5 tasks still pending\n");
			return 0;
		default: return SPOOL_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: spool collect [--no-wait] [--timeout SEC] JOB\n");
		return SPOOL_EXIT_USAGE;
	}
	spool_t *sp = cli_open();
	if (!sp)
		return SPOOL_EXIT_ERROR;
	int rc = collect_job(sp, argv[optind], wait, tmo);
	spool_close(sp);
	return rc;
}
