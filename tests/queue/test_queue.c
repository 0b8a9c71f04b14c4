/* test_queue.c - the controller's queue without processes: ingest a map, register a worker,
 * assign (FIFO, first slots first, prefetch bound), complete, duplicate, requeue on death. */
#include "../unit/unit.h"
#include "ctl.h"
#include "fsio.h"
#include "rec.h"
#include "schema.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct ctl c;

static void write_rec(int dirfd, const char *name, struct buf *b)
{
	struct err e;
	if (fs_write_atomic(dirfd, name, b->p, b->len, 0644, 0, &e) < 0) {
		fprintf(stderr, "%s\n", e.msg);
		exit(2);
	}
}

static int task_state(const char *job, int idx)
{
	sqlite3_stmt *st;
	int s = -1;
	sqlite3_prepare_v2(c.db, "SELECT t.state FROM tasks t JOIN jobs j ON j.rid = t.rid WHERE j.id = ? AND t.idx = ?", -1, &st, NULL);
	sqlite3_bind_text(st, 1, job, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, idx);
	if (sqlite3_step(st) == SQLITE_ROW)
		s = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return s;
}

static long count(const char *sql)
{
	sqlite3_stmt *st;
	long n = -1;
	sqlite3_prepare_v2(c.db, sql, -1, &st, NULL);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* A one-task job record ID with the client and seq fields (none when client is NULL), its mtime
 * set to `when` so that it ties with the others. */
static void tied_job(const char *id, const char *cwd, const char *client, const char *seq, time_t when)
{
	struct buf b;
	char name[64];
	buf_init(&b);
	rec_begin(&b, "job");
	rec_put(&b, "id", id);
	rec_put(&b, "cwd", cwd);
	if (client) {
		rec_put(&b, "client", client);
		rec_put(&b, "seq", seq);
	}
	rec_put(&b, "arg", "true");
	rec_end(&b);
	snprintf(name, sizeof name, "%s.job", id);
	write_rec(c.sd.incoming, name, &b);
	buf_free(&b);
	struct timespec t[2] = { { when, 0 }, { when, 0 } };
	if (utimensat(c.sd.incoming, name, t, 0) < 0)
		exit(2);
}

/* The ids of the jobs whose id starts with PREFIX, in the order the queue took them. */
static void order_of(const char *prefix, char *out, size_t outsz)
{
	sqlite3_stmt *st;
	out[0] = '\0';
	sqlite3_prepare_v2(c.db, "SELECT id FROM jobs WHERE substr(id, 1, length(?1)) = ?1 ORDER BY rid", -1, &st, NULL);
	sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW)
		snprintf(out + strlen(out), outsz - strlen(out), "%s%s", out[0] ? " " : "",
			 (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

static long inbox_list(char ***names)
{
	int fd = openat(c.sd.ctl_w, "node1-aaaaaaaa/inbox", O_RDONLY | O_DIRECTORY);
	long n = fs_list(fd, names, NULL);
	close(fd);
	return n;
}

static void done(const char *name, const char *job, int task, int attempt, int code)
{
	struct buf b;
	char d[64];
	buf_init(&b);
	rec_begin(&b, "done");
	rec_put(&b, "job", job);
	rec_put_i64(&b, "task", task);
	rec_put_i64(&b, "attempt", attempt);
	rec_put_i64(&b, "engine", 1);
	rec_put(&b, "wid", "node1-aaaaaaaa");
	rec_put(&b, "node", "node1");
	rec_put(&b, "status", "exited");
	rec_put_i64(&b, "exit", code);
	rec_end(&b);
	int fd = openat(c.sd.workers, "node1-aaaaaaaa/done", O_RDONLY | O_DIRECTORY);
	snprintf(d, sizeof d, "%s", name);
	write_rec(fd, d, &b);
	close(fd);
	buf_free(&b);
}

int main(void)
{
	char tmpl[] = "/tmp/spool-queue.XXXXXX", path[300];
	struct err e;
	struct buf b;
	char **names;
	long n;

	log_open("test_queue", false, LOG_LVL_ERR);
	if (!mkdtemp(tmpl))
		return 2;
	snprintf(path, sizeof path, "%s/spool", tmpl);
	if (spooldir_create(path, NULL, &e) < 0 || spooldir_open(&c.sd, path, &e) < 0 || spooldir_load_key(&c.sd, &e) < 0) {
		fprintf(stderr, "%s\n", e.msg);
		return 2;
	}
	c.ino = -1;
	snprintf(c.node, sizeof c.node, "elsewhere");
	snprintf(c.boot, sizeof c.boot, "x");
	c.fstype = "test";
	CHECK(db_open(&c, &e) == 0, "database opens");
	c.now = mono_ms();

	/* A map of 5 items, one record. */
	buf_init(&b);
	rec_begin(&b, "job");
	rec_put(&b, "id", "jobaaaaaa1");
	rec_put(&b, "cwd", tmpl);
	rec_put(&b, "map", "1");
	rec_put(&b, "arg", "echo");
	rec_put(&b, "arg", "x{}y{#}");
	for (int i = 1; i <= 5; i++) {
		char it[8];
		snprintf(it, sizeof it, "i%d", i);
		rec_put(&b, "item", it);
	}
	rec_end(&b);
	write_rec(c.sd.incoming, "jobaaaaaa1.job", &b);
	ingest_incoming(&c);
	CHECK(count("SELECT count(*) FROM tasks") == 5, "a map record becomes 5 tasks");
	CHECK(faccessat(c.sd.incoming, "jobaaaaaa1.job", F_OK, 0) == 0,
	      "the record stays in incoming until its commit is synced");
	uint64_t synced = c.synced;
	ingest_settle(&c); /* no commit came after it: settle syncs the WAL itself */
	CHECK(c.synced == synced + 1, "settle synced the WAL once");
	CHECK(faccessat(c.sd.ctl_jobs, "jobaaaaaa1.job", F_OK, 0) == 0, "accepted record moved to ctl/jobs");
	CHECK(faccessat(c.sd.incoming, "jobaaaaaa1.job", F_OK, 0) != 0, "incoming is empty after ingest");

	/* A worker with 2 engines. */
	int wfd;
	fs_mkdir(c.sd.workers, "node1-aaaaaaaa", 0755, NULL);
	wfd = fs_open_dir(c.sd.workers, "node1-aaaaaaaa", NULL);
	fs_mkdir(wfd, "done", 0755, NULL);
	buf_reset(&b);
	rec_begin(&b, "hello");
	rec_put(&b, "wid", "node1-aaaaaaaa");
	rec_put(&b, "node", "node1");
	rec_put(&b, "pid", "4242");
	rec_put(&b, "boot", "other-boot");
	rec_put(&b, "slots", "2");
	rec_end(&b);
	write_rec(wfd, "hello", &b);
	workers_scan(&c);
	CHECK(count("SELECT count(*) FROM engines WHERE alive = 1") == 2, "worker registered with 2 engines");
	CHECK(count("SELECT min(id) FROM engines") == 1 && count("SELECT max(id) FROM engines") == 2, "engine ids 1 and 2");

	/* prefetch 1: 2 engines x 2 slots = 4 assignments; tasks 1,2 on the first slots. */
	c.sd.conf.prefetch = 1;
	assign_tasks(&c);
	n = inbox_list(&names);
	CHECK(n == 4, "4 tasks assigned with prefetch 1");
	CHECK(n == 4 && strcmp(names[0], "jobaaaaaa1.1.1") == 0 && strcmp(names[3], "jobaaaaaa1.4.1") == 0,
	      "FIFO: tasks 1-4 assigned, attempt 1");
	CHECK(task_state("jobaaaaaa1", 5) == T_QUEUED, "task 5 still queued");
	CHECK(count("SELECT engine FROM tasks WHERE idx = 1") == 1 && count("SELECT engine FROM tasks WHERE idx = 2") == 2 &&
	      count("SELECT engine FROM tasks WHERE idx = 3") == 1, "first slots of every engine before any second");
	struct buf a;
	buf_init(&a);
	int ifd = openat(c.sd.ctl_w, "node1-aaaaaaaa/inbox", O_RDONLY | O_DIRECTORY);
	fs_read_file(ifd, "jobaaaaaa1.3.1", 1 << 20, &a, NULL, NULL);
	close(ifd);
	CHECK_HAS(a.p, "arg xi3y3\n", "{} and {#} substituted in the assignment");
	buf_free(&a);
	fs_list_free(names, n);

	/* Completion, then a duplicate of the same result. */
	done("jobaaaaaa1.1.1", "jobaaaaaa1", 1, 1, 0);
	done("jobaaaaaa1.2.1", "jobaaaaaa1", 2, 1, 3);
	complete_scan(&c);
	CHECK(task_state("jobaaaaaa1", 1) == T_SUCCEEDED, "exit 0 -> succeeded");
	CHECK(task_state("jobaaaaaa1", 2) == T_FAILED, "exit 3 -> failed");
	n = inbox_list(&names);
	CHECK(n == 2, "assignments of completed tasks removed from the inbox");
	fs_list_free(names, n);
	done("jobaaaaaa1.1.1", "jobaaaaaa1", 1, 1, 7);
	complete_scan(&c);
	CHECK(task_state("jobaaaaaa1", 1) == T_SUCCEEDED, "a duplicate result does not replace the accepted one");
	CHECK(count("SELECT count(*) FROM attempts WHERE idx = 1") == 1, "duplicate of the same attempt recorded once");

	/* A done record for a task that does not exist goes to quarantine. */
	done("jobaaaaaa1.9.1", "jobaaaaaa1", 9, 1, 0);
	complete_scan(&c);
	n = fs_list(c.sd.quarantine, &names, NULL);
	CHECK(n == 2, "bad done record quarantined with a reason");
	fs_list_free(names, n);

	/* The worker says bye: its tasks 3, 4 go back to the queue, not counted as lost. */
	assign_tasks(&c);
	write_rec(wfd, "bye", &b);
	workers_check_liveness(&c);
	CHECK(count("SELECT count(*) FROM engines WHERE alive = 1") == 0, "engines dead after bye");
	CHECK(task_state("jobaaaaaa1", 3) == T_QUEUED && task_state("jobaaaaaa1", 5) == T_QUEUED, "tasks requeued");
	CHECK(count("SELECT max(lost) FROM tasks") == 0, "a clean shutdown does not count against retries");
	n = inbox_list(&names);
	CHECK(n == 0, "inbox emptied when the worker is declared dead");
	fs_list_free(names, n);

	/* Engine ids are never reused, even if the database lost every engine row and the sequence:
	 * with no row left, AUTOINCREMENT alone would start again at 1, so only ctl/engine-seq can
	 * keep the new id above the two handed out before. */
	CHECK(count("SELECT max(id) FROM engines") == 2, "two engine ids handed out before the loss");
	db_exec(&c, "DELETE FROM engines");
	db_exec(&c, "DELETE FROM sqlite_sequence");
	CHECK(count("SELECT count(*) FROM engines") == 0 && count("SELECT count(*) FROM sqlite_sequence") == 0,
	      "no engine row and no sequence left in the database");
	fs_mkdir(c.sd.workers, "node1-bbbbbbbb", 0755, NULL);
	int w2 = fs_open_dir(c.sd.workers, "node1-bbbbbbbb", NULL);
	buf_reset(&b);
	rec_begin(&b, "hello");
	rec_put(&b, "wid", "node1-bbbbbbbb");
	rec_put(&b, "node", "node1");
	rec_put(&b, "pid", "4243");
	rec_put(&b, "boot", "other-boot");
	rec_put(&b, "slots", "1");
	rec_end(&b);
	write_rec(w2, "hello", &b);
	workers_scan(&c);
	CHECK(count("SELECT id FROM engines WHERE wid = 'node1-bbbbbbbb'") == 3, "new engine gets id 3 from ctl/engine-seq");
	close(w2);

	/* Records whose mtimes tie are taken by client, then seq (spool-layout.md 7), whatever
	 * their names; one without them (an older client's) first. Another mtime goes after. */
	tied_job("ordd", tmpl, "client-b", "5", 1700000000);
	tied_job("ordc", tmpl, "client-a", "90", 1700000000);
	tied_job("ordb", tmpl, "client-a", "10", 1700000000);
	tied_job("orda", tmpl, "client-a", "9", 1700000001);
	tied_job("orde", tmpl, NULL, NULL, 1700000000);
	ingest_incoming(&c);
	ingest_settle(&c);
	char order[200];
	order_of("ord", order, sizeof order);
	if (!CHECK(strcmp(order, "orde ordb ordc ordd orda") == 0, "tied records taken by client, then seq"))
		fprintf(stderr, "  expected \"orde ordb ordc ordd orda\", got \"%s\"\n", order);

	close(wfd);
	buf_free(&b);
	db_close(&c);
	free(c.w);
	spooldir_close(&c.sd);
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmpl);
	if (system(cmd) != 0)
		return 2;
	return unit_done();
}
