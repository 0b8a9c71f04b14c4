/* cmd_status.c - `spool status [JOB]` and `spool workers`: what the controller published. */
#include "cli.h"
#include "fsio.h"
#include "ids.h"
#include "rec.h"
#include "schema.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int read_beat(struct spooldir *sd, uint64_t *v)
{
	struct buf b;
	int rc = -1;
	buf_init(&b);
	if (fs_read_file(sd->ctl, "beat", 64, &b, NULL, NULL) == 0) {
		b.p[strcspn(b.p, "\n")] = '\0';
		rc = parse_u64(b.p, UINT64_MAX, v);
	}
	buf_free(&b);
	return rc;
}

/* On the controller's node its pid can be checked; elsewhere, watch its beat counter change. */
int controller_status(struct spooldir *sd, char *out, size_t outsz, int patient)
{
	struct buf b;
	struct rec r;
	char node[72], boot[72];
	int running = 0;
	uint64_t b1, b2;

	buf_init(&b);
	if (fs_read_file(sd->ctl, "controller", MAX_SMALL_RECORD, &b, NULL, NULL) < 0 ||
	    rec_parse(&r, b.p, b.len, &schema_ctlinfo, NULL) < 0) {
		snprintf(out, outsz, "NOT RUNNING (it never ran on this spool: start it with 'spoold -d %s')", sd->path);
		buf_free(&b);
		return 0;
	}
	node_name(node, sizeof node);
	boot_id(boot, sizeof boot);
	const char *cn = rec_get(&r, "node");
	uint64_t pid = rec_get_u64(&r, "pid", 0), start = rec_get_u64(&r, "start", 0);
	if (read_beat(sd, &b1) < 0) {
		running = 0;
	} else if (strcmp(cn, node) == 0 && strcmp(rec_get(&r, "boot"), boot) == 0) {
		running = pid > 0 && pid < INT32_MAX && kill((pid_t)pid, 0) == 0 &&
			  (!start || proc_start_ticks((pid_t)pid) == start);
	} else if (patient) {
		usleep((useconds_t)(sd->conf.heartbeat_ms + 300) * 1000);
		running = read_beat(sd, &b2) == 0 && b2 != b1;
	} else {
		running = 1; /* cannot tell quickly from another node; assume the best */
	}
	if (running)
		snprintf(out, outsz, "running (pid %llu on %s)", (unsigned long long)pid, cn);
	else
		snprintf(out, outsz, "NOT RUNNING (last ran as pid %llu on %s): jobs wait in the spool until it "
			 "starts: 'spoold -d %s'", (unsigned long long)pid, cn, sd->path);
	rec_free(&r);
	buf_free(&b);
	return running;
}

static void status_job(spool_t *sp, const char *jobid, int *rc)
{
	struct spool_job *j;
	char err[SPOOL_ERRLEN];
	int nf;
	if (spool_job_get(sp, jobid, &j, &nf, err, sizeof err) < 0) {
		fprintf(stderr, "spool: %s\n", err);
		*rc = nf ? SPOOL_EXIT_NO_JOB : SPOOL_EXIT_ERROR;
		return;
	}
	if (!j->ntasks) {
		printf("job %s: waiting for the controller to accept it\n", jobid);
		spool_job_free(j);
		return;
	}
	printf("job %s%s%s%s  owner uid %llu  %zu task%s  %s\n", j->id, j->name ? " (" : "", j->name ? j->name : "",
	       j->name ? ")" : "", (unsigned long long)j->owner, j->ntasks, j->ntasks == 1 ? "" : "s",
	       j->done ? "done" : "active");
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
		printf("%6llu  %-10s %7llu %6s  %-12s %5s %10s  %s\n", (unsigned long long)t->task, t->state,
		       (unsigned long long)t->attempt, eng, t->node, ex, wall, t->reason ? t->reason : "");
	}
	spool_job_free(j);
}

static int has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);
	return n > m && strcmp(s + n - m, suf) == 0;
}

static void status_all(spool_t *sp)
{
	struct spooldir *sd = spool_dir(sp);
	char **names;
	long n;
	printf("%-12s %-16s %6s %6s %8s %8s %10s %7s  %s\n", "JOB", "NAME", "OWNER", "TASKS", "QUEUED", "RUNNING",
	       "SUCCEEDED", "FAILED", "STATE");
	n = fs_list(sd->incoming, &names, NULL);
	for (long i = 0; i < n; i++)
		if (has_suffix(names[i], ".job")) {
			names[i][strlen(names[i]) - 4] = '\0';
			printf("%-12s %-16s %6s %6s %8s %8s %10s %7s  %s\n", names[i], "-", "-", "-", "-", "-", "-", "-",
			       "submitted (not yet accepted)");
		}
	if (n >= 0)
		fs_list_free(names, n);
	n = fs_list(sd->ctl_jobs, &names, NULL);
	for (long i = 0; i < n; i++) {
		struct spool_job *j;
		char err[SPOOL_ERRLEN];
		int nf;
		if (!has_suffix(names[i], ".state"))
			continue;
		names[i][strlen(names[i]) - 6] = '\0';
		if (spool_job_get(sp, names[i], &j, &nf, err, sizeof err) < 0)
			continue;
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
		printf("%-12s %-16.16s %6llu %6zu %8zu %8zu %10zu %7zu  %s\n", j->id, j->name ? j->name : "-",
		       (unsigned long long)j->owner, j->ntasks, q, r, s, f, j->done ? "done" : "active");
		spool_job_free(j);
	}
	if (n >= 0)
		fs_list_free(names, n);
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = { { "dir", required_argument, NULL, 'd' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	int o, rc = 0;
	while ((o = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		switch (o) {
		case 'd': cli_spool_dir = optarg; break;
		case 'h':
			printf("usage: spool status [JOB]\n\nWithout JOB: the controller and every job with its task "
			       "counts. With JOB: each task's state, engine, node, exit and reason.\n"
			       "exit codes: 0 ok, 3 spool error, 4 no such job\n");
			return 0;
		default: return SPOOL_EXIT_USAGE;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "usage: spool status [JOB]\n");
		return SPOOL_EXIT_USAGE;
	}
	spool_t *sp = cli_open();
	if (!sp)
		return SPOOL_EXIT_ERROR;
	char st[512];
	struct spooldir *sd = spool_dir(sp);
	controller_status(sd, st, sizeof st, 1);
	int remote;
	const char *fs = spooldir_fstype(sd->root, &remote);
	printf("spool %s (%s%s)\ncontroller: %s\n", sd->path, fs,
	       remote ? ": inotify is blind to other nodes here, spool relies on rescans" : "", st);
	if (optind < argc)
		status_job(sp, argv[optind], &rc);
	else
		status_all(sp);
	spool_close(sp);
	return rc;
}

int cmd_workers(int argc, char **argv)
{
	static const struct option opts[] = { { "all", no_argument, NULL, 'a' },
					      { "dir", required_argument, NULL, 'd' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	int o, all = 0;
	while ((o = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		switch (o) {
		case 'a': all = 1; break;
		case 'd': cli_spool_dir = optarg; break;
		case 'h':
			printf("usage: spool workers [--all]\n\nThe live engines: id, node, worker pid, state, current "
			       "task, and seconds since the controller last saw their worker's heartbeat change.\n"
			       "  --all   also list dead engines (ids are never reused)\n");
			return 0;
		default: return SPOOL_EXIT_USAGE;
		}
	}
	spool_t *sp = cli_open();
	if (!sp)
		return SPOOL_EXIT_ERROR;
	struct spooldir *sd = spool_dir(sp);
	struct buf b;
	struct rec r;
	struct err e;
	buf_init(&b);
	if (fs_read_file(sd->ctl, "engines", 64u * 1024 * 1024, &b, NULL, &e) < 0 ||
	    rec_parse(&r, b.p, b.len, &schema_engines, &e) < 0) {
		if (errno == ENOENT)
			printf("no engines yet (start one with 'spool-worker -d %s')\n", sd->path);
		else
			fprintf(stderr, "spool: cannot read %s/ctl/engines: %s\n", sd->path, e.msg);
		buf_free(&b);
		spool_close(sp);
		return errno == ENOENT ? 0 : SPOOL_EXIT_ERROR;
	}
	printf("%6s  %-16s %8s  %-5s %-16s %9s\n", "ENGINE", "NODE", "PID", "STATE", "TASK", "HEARTBEAT");
	for (size_t i = 0; i < r.n; i++) {
		long long id, pid, age;
		char state[16], node[72], wid[80], task[100];
		if (sscanf(r.f[i].val, "%lld %15s %71s %lld %79s %99s %lld", &id, state, node, &pid, wid, task, &age) != 7)
			continue;
		if (!all && strcmp(state, "dead") == 0)
			continue;
		char ago[32] = "-";
		if (age >= 0)
			snprintf(ago, sizeof ago, "%.1fs ago", age / 1000.0);
		printf("%6lld  %-16s %8lld  %-5s %-16s %9s\n", id, node, pid, state, task, ago);
	}
	rec_free(&r);
	buf_free(&b);
	spool_close(sp);
	return 0;
}
