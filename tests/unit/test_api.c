/* test_api.c - the client API on a fresh spool without a controller: failures carry an error
 * code that spool_exit_code turns into the command's exit status (no caller reads the message
 * to decide), and spool_info says what the spool is. */
#include "fsio.h"
#include "spool.h"
#include "spooldir.h"
#include "unit.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_exit_codes(void)
{
	CHECK(spool_exit_code(0) == SPOOL_EXIT_OK && spool_exit_code(5) == SPOOL_EXIT_OK, "exit code: success is 0");
	CHECK(spool_exit_code(-1) == SPOOL_EXIT_ERROR && spool_exit_code(-SPOOL_ERR_FAILED) == SPOOL_EXIT_ERROR,
	      "  ... -1 (SPOOL_ERR_FAILED) is a spool error");
	CHECK(spool_exit_code(-SPOOL_ERR_USAGE) == SPOOL_EXIT_USAGE, "  ... a bad argument is a usage error");
	CHECK(spool_exit_code(-SPOOL_ERR_NO_JOB) == SPOOL_EXIT_NO_JOB, "  ... no such job");
	CHECK(spool_exit_code(-SPOOL_ERR_TIMEOUT) == SPOOL_EXIT_PENDING, "  ... a wait that gave up is pending");
	CHECK(spool_exit_code(-99) == SPOOL_EXIT_ERROR, "  ... an unknown code is a spool error");
}

static void test_codes(spool_t *sp)
{
	char err[SPOOL_ERRLEN], id[16];
	CHECK(spool_cancel(sp, "nosuchjob0", 0, err, sizeof err) == -SPOOL_ERR_NO_JOB,
	      "cancel of an unknown job: -SPOOL_ERR_NO_JOB");
	CHECK_HAS(err, "no job 'nosuchjob0'", "  ... and the message names it");
	CHECK(spool_cancel(sp, "../etc", 0, err, sizeof err) == -SPOOL_ERR_NO_JOB,
	      "cancel of something that is not a job id: -SPOOL_ERR_NO_JOB");

	CHECK(spool_wait_engines(sp, 1, 1, err, sizeof err) == -SPOOL_ERR_TIMEOUT,
	      "wait for an engine that never comes: -SPOOL_ERR_TIMEOUT");
	CHECK_HAS(err, "only 0 of 1 engines alive", "  ... and the message says how many");

	const char *bad_push[] = { "1bad=x" }, *bad_pull[] = { "x=1" }, *good[] = { "x" };
	CHECK(spool_push(sp, NULL, bad_push, 1, id, err, sizeof err) == -SPOOL_ERR_USAGE,
	      "push of a bad variable name: -SPOOL_ERR_USAGE");
	CHECK(spool_pull(sp, NULL, bad_pull, 1, id, err, sizeof err) == -SPOOL_ERR_USAGE,
	      "pull of NAME=VALUE: -SPOOL_ERR_USAGE");
	CHECK(spool_push(sp, NULL, good, 0, id, err, sizeof err) == -SPOOL_ERR_USAGE, "push of nothing: -SPOOL_ERR_USAGE");
	size_t big = 64 * 1024 + 16;
	char *longv = malloc(big + 3);
	memcpy(longv, "x=", 2);
	memset(longv + 2, 'v', big);
	longv[big + 2] = '\0';
	const char *too_long[] = { longv };
	CHECK(spool_push(sp, NULL, too_long, 1, id, err, sizeof err) == -SPOOL_ERR_USAGE,
	      "push of a value over the limit: -SPOOL_ERR_USAGE");
	free(longv);
	CHECK(spool_pull(sp, NULL, good, 1, id, err, sizeof err) == 0, "a valid pull is submitted (0)");
}

static void test_info(spool_t *sp, const char *path)
{
	struct spool_info *in = NULL;
	char *ctlp = xasprintf("%s/ctl", path), *qp = xasprintf("%s/quarantine", path);
	int fd = open(ctlp, O_RDONLY | O_DIRECTORY), qfd = open(qp, O_RDONLY | O_DIRECTORY);
	free(ctlp);
	free(qp);
	CHECK(spool_info(sp, 0, &in) == 0 && in, "spool_info answers");
	if (!in)
		return;
	CHECK(strcmp(in->path, path) == 0, "  ... the spool's path");
	CHECK(in->layout == LAYOUT_VERSION, "  ... its layout version");
	CHECK(in->owner == (uint64_t)geteuid() && !in->shared && !in->shared_with_all,
	      "  ... a personal spool owned by its creator");
	CHECK(in->fstype && in->fstype[0], "  ... a filesystem type");
	CHECK(!in->controller_ran && !in->controller_running && in->controller_pid == -1 &&
		      in->controller_uid == -1 && !in->database[0],
	      "  ... no controller ever ran");
	CHECK_HAS(in->controller_status, "NOT RUNNING", "  ... and the sentence says so");
	CHECK(in->engines_live == 0 && in->engines_dead == 0 && !in->engines_error, "  ... no engines");
	CHECK(in->quarantined == 0, "  ... nothing quarantined");
	spool_info_free(in);
	in = NULL;

	/* What a controller publishes, written here as it would (two rejected records, two engines). */
	struct err e;
	static const char ctl[] = "spool-record 1 controller\nnode n1\npid 4242\nboot b\nfs ext4\n"
				  "database /var/db/spool.db\nversion 9.9\nend\n";
	static const char eng[] = "spool-record 1 engines\nengine 1 idle n1 4243 n1-w1 - 10\n"
				  "engine 2 dead n1 4243 n1-w1 - -1\nend\n";
	int ok = fd >= 0 && fs_write_atomic(fd, "controller", ctl, sizeof ctl - 1, 0644, FSW_NOSYNC, &e) == 0 &&
		 fs_write_atomic(fd, "engines", eng, sizeof eng - 1, 0644, FSW_NOSYNC, &e) == 0 &&
		 fs_write_atomic(qfd, "ab.x.job", "x", 1, 0600, FSW_NOSYNC, &e) == 0 &&
		 fs_write_atomic(qfd, "ab.x.job.reason", "x\n", 2, 0600, FSW_NOSYNC, &e) == 0 &&
		 fs_write_atomic(qfd, "cd.y", "y", 1, 0600, FSW_NOSYNC, &e) == 0 &&
		 fs_write_atomic(qfd, "cd.y.reason", "y\n", 2, 0600, FSW_NOSYNC, &e) == 0;
	CHECK(ok, "(wrote a controller record, an engine table and two rejected records)");
	CHECK(spool_info(sp, 0, &in) == 0 && in, "spool_info answers again");
	if (in) {
		CHECK(in->controller_ran && in->controller_pid == 4242 && strcmp(in->controller_node, "n1") == 0 &&
			      in->controller_uid == (int64_t)geteuid(),
		      "  ... who announced itself as the controller, and as which uid");
		CHECK(strcmp(in->database, "/var/db/spool.db") == 0 && strcmp(in->controller_version, "9.9") == 0,
		      "  ... its database and version");
		CHECK(!in->controller_running, "  ... not running (no beat, another node)");
		CHECK(in->engines_live == 1 && in->engines_dead == 1, "  ... one live engine, one dead");
		CHECK(in->quarantined == 2, "  ... two rejected records (their .reason files are not counted twice)");
		spool_info_free(in);
		in = NULL;
	}
	static const char badeng[] = "spool-record 1 engines\nengine 1 idle n1 4243 n1-w1 - 10 extra\nend\n";
	ok = fs_write_atomic(fd, "engines", badeng, sizeof badeng - 1, 0644, FSW_NOSYNC, &e) == 0;
	CHECK(ok && spool_info(sp, 0, &in) == 0 && in, "spool_info with an engine table it cannot read");
	if (in) {
		CHECK(in->engines_live == -1 && in->engines_dead == -1, "  ... engine counts unknown (-1)");
		CHECK_HAS(in->engines_error, "line 2", "  ... and the reason names the line");
		spool_info_free(in);
	}
	if (fd >= 0)
		close(fd);
	if (qfd >= 0)
		close(qfd);
}

/* spool_jobs lists an accepted job whose first state is not yet published (only its record in
 * ctl/jobs/, spool-layout.md 3.10), and a record still in incoming/, each once. */
static void test_jobs_list(spool_t *sp, const char *path);

static void put_file(const char *dir, const char *name, const char *text)
{
	struct err e;
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0 || fs_write_atomic(fd, name, text, strlen(text), 0644, FSW_NOSYNC, &e) < 0)
		fprintf(stderr, "  cannot write %s/%s\n", dir, name);
	if (fd >= 0)
		close(fd);
}

/* spool_task_usage reads the result record beside the data; the client parses nothing itself. */
static void test_usage(const char *base)
{
	char *outdir = xasprintf("%s/spool-j1", base), *res = xasprintf("%s/1.1.res", outdir);
	struct spool_job j = { .id = "j1", .owner = (uint64_t)geteuid(), .outdir = outdir };
	struct spool_task t = { .task = 1, .attempt = 1, .result_path = res };
	struct spool_usage u;
	char err[SPOOL_ERRLEN];
	mkdir(outdir, 0755);
	CHECK(spool_task_usage(&j, &t, &u, err, sizeof err) < 0, "usage of a task without a result record: -1");
	CHECK_HAS(err, "1.1.res", "  ... naming the file");
	put_file(outdir, "1.1.res", "spool-record 1 done\njob j1\ntask 1\nattempt 1\nengine 1\nwid w\nnode n\n"
				    "status exited\nexit 0\nstart_ms 1000\nend_ms 1500\nuser_ms 7\nsys_ms 3\nend\n");
	CHECK(spool_task_usage(&j, &t, &u, err, sizeof err) == 0 && u.start_ms == 1000 && u.end_ms == 1500 &&
		      u.user_ms == 7 && u.sys_ms == 3 && u.maxrss_kb == -1,
	      "usage from a result record; a field it lacks is -1");
	put_file(outdir, "1.1.res", "spool-record 1 done\njob j1\nend\n");
	CHECK(spool_task_usage(&j, &t, &u, err, sizeof err) < 0, "a result record that is not whole: -1");
	CHECK_HAS(err, "is not a task result", "  ... saying so");
	free(res);
	free(outdir);
}

int main(void)
{
	char tmpl[] = "/tmp/spool-test-api-XXXXXX";
	char *base, *path, err[SPOOL_ERRLEN];
	struct err e;

	umask(022);
	if (!mkdtemp(tmpl) || !(base = realpath(tmpl, NULL))) {
		perror("mkdtemp");
		return 1;
	}
	path = xasprintf("%s/spool", base);
	test_exit_codes();
	test_usage(base);
	spool_t *sp = NULL;
	if (CHECK(spooldir_create(path, NULL, &e) == 0, "a fresh spool") &&
	    CHECK((sp = spool_open(path, err, sizeof err)) != NULL, "  ... opened")) {
		test_codes(sp);
		test_info(sp, path);
		test_jobs_list(sp, path);
		spool_close(sp);
	}
	CHECK(fs_remove_tree(AT_FDCWD, base) == 0, "temp dir cleaned up");
	free(path);
	free(base);
	return unit_done();
}

static void test_jobs_list(spool_t *sp, const char *path)
{
	char *jobs = xasprintf("%s/ctl/jobs", path), *inc = xasprintf("%s/incoming", path), err[SPOOL_ERRLEN];
	put_file(jobs, "aaaaaaaaa1.job", "spool-record 1 job\nend\n");
	put_file(inc, "bbbbbbbbb2.job", "spool-record 1 job\nend\n");
	struct spool_job **l = NULL;
	size_t n = 0;
	int a = 0, b = 0; /* (a job submitted by test_codes is in incoming/ too) */
	CHECK(spool_jobs(sp, &l, &n, NULL, NULL, err, sizeof err) == 0, "spool_jobs lists the jobs");
	for (size_t i = 0; i < n; i++) {
		if (strcmp(l[i]->id, "aaaaaaaaa1") == 0)
			a += l[i]->accepted && l[i]->state == SPOOL_JOB_SUBMITTED && !l[i]->ntasks ? 1 : 100;
		else if (strcmp(l[i]->id, "bbbbbbbbb2") == 0)
			b += !l[i]->accepted ? 1 : 100;
	}

	CHECK(a == 1, "  ... once, as accepted, a job whose record is in ctl/jobs/ without a state yet");
	CHECK(b == 1, "  ... once, as not yet accepted, a record still in incoming/");
	spool_jobs_free(l, n);
	free(jobs);
	free(inc);
}
