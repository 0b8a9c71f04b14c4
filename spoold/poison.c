/* poison.c - a job that keeps killing the controller is failed, not retried for ever.
 *
 * Before spoold works on one job's data at a size that grows with the job (ingesting its
 * record, writing its assignments), it names the job in ctl/inflight, and removes the file when
 * the step is over. A spoold that finds the file at start-up died during that step: it counts
 * the death in the file, and at the POISON_LIMIT-th death in a row on the same job it fails the
 * job (or quarantines its record) with the reason instead of running the step again.
 * The file is written without fsync (a crash of the process keeps it; a power cut may lose
 * one count, which only delays the verdict), and in place: one file for the life of spoold,
 * INFLIGHT_SIZE bytes mapped shared, the record followed by NULs, its first byte NUL when no
 * step is in flight. A new file per step cost two inodes created and freed per job (on ext4
 * without a journal every freed inode makes each later creation slower for minutes); writing
 * and truncating it cost three syscalls per step, two steps per task, ftruncate the dearest
 * (about 4 % of spoold's CPU in a single-task loop). Stores into the mapping cost none, and
 * the page cache keeps them when the process dies.
 */
#include "ctl.h"
#include "fsio.h"
#include "ids.h"
#include "log.h"
#include "rec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define INFLIGHT "inflight"
#define INFLIGHT_SIZE 512 /* a mark is "inflight", a step, a job id and a count: about 80 bytes */


/* Opened once, mapped shared; where the filesystem cannot map a file (FUSE may not: ENODEV)
 * written with pwrite instead. ctl/ is written by spoold alone (spool-layout.md 12): no other
 * user can plant a link there, but O_NOFOLLOW costs nothing. A shorter file (an older spoold's,
 * or inflight_check's record) grows with NULs, which keeps the record it holds. */
static bool inflight_open(struct ctl *c)
{
	struct inflight *k = &c->inflight_mark;
	if (k->open)
		return k->map || k->fd >= 0;
	k->open = true;
	k->map = NULL;
	k->fd = openat(c->sd.ctl, INFLIGHT, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct stat st;
	if (k->fd < 0 || fstat(k->fd, &st) < 0 ||
	    (st.st_size != INFLIGHT_SIZE && ftruncate(k->fd, INFLIGHT_SIZE) < 0)) {
		log_err("cannot open %s/ctl/%s: %s (a job that crashes spoold will not be caught)", c->sd.path, INFLIGHT,
			strerror(errno));
		if (k->fd >= 0)
			close(k->fd);
		k->fd = -1;
		return false;
	}
	void *m = mmap(NULL, INFLIGHT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, k->fd, 0);
	if (m != MAP_FAILED) {
		k->map = m;
		close(k->fd); /* the mapping holds the file */
		k->fd = -1;
	}
	return true;
}

void inflight_unmap(struct ctl *c)
{
	struct inflight *k = &c->inflight_mark;
	if (k->map)
		munmap(k->map, INFLIGHT_SIZE);
	else if (k->open && k->fd >= 0)
		close(k->fd);
	k->map = NULL;
	k->fd = -1;
	k->open = false;
}

/* The mark rec (len bytes, less than INFLIGHT_SIZE), or with len 0 none. Mapped: all but the
 * first byte, the NULs after it, then the first byte: until that last store the file reads as
 * empty (a death in between loses one count), never as a mix of two marks. With pwrite: one
 * call, which a dying process is never in the middle of. */
static void inflight_store(struct ctl *c, const char *rec, size_t len)
{
	struct inflight *k = &c->inflight_mark;
	if (!inflight_open(c))
		return;
	if (k->map && len) {
		memcpy(k->map + 1, rec + 1, len - 1);
		memset(k->map + len, 0, INFLIGHT_SIZE - len);
		atomic_signal_fence(memory_order_release);
		k->map[0] = rec[0];
	} else if (k->map) {
		k->map[0] = '\0';
	} else {
		char block[INFLIGHT_SIZE] = { 0 };
		memcpy(block, rec, len);
		if (pwrite(k->fd, block, len ? INFLIGHT_SIZE : 1, 0) < 0)
			log_err("cannot write %s/ctl/%s: %s", c->sd.path, INFLIGHT, strerror(errno));
	}
}

/* Empty: no step in flight. */
static void inflight_empty(struct ctl *c)
{
	inflight_store(c, "", 0);
}

void inflight_set(struct ctl *c, const char *step, const char *job)
{
	struct buf b;
	if (c->inflight_mark.set && strcmp(c->inflight_mark.step, step) == 0 && strcmp(c->inflight_mark.job, job) == 0)
		return;
	snprintf(c->inflight_mark.step, sizeof c->inflight_mark.step, "%s", step);
	snprintf(c->inflight_mark.job, sizeof c->inflight_mark.job, "%s", job);
	c->inflight_mark.count = strcmp(c->inflight_carry.step, step) == 0 && strcmp(c->inflight_carry.job, job) == 0 ? c->inflight_carry.count : 0;
	buf_init(&b);
	rec_begin(&b, "inflight");
	rec_put(&b, "step", step);
	rec_put(&b, "job", job);
	rec_put_u64(&b, "count", c->inflight_mark.count);
	rec_end(&b);
	if (b.len < INFLIGHT_SIZE)
		inflight_store(c, b.p, b.len);
	else
		log_err("cannot mark job %s in %s/ctl/%s: its mark is %zu bytes", job, c->sd.path, INFLIGHT, b.len);
	c->inflight_mark.set = true;
	buf_free(&b);
}

void inflight_clear(struct ctl *c)
{
	if (!c->inflight_mark.set)
		return;
	inflight_empty(c);
	c->inflight_mark.set = false;
	/* The step went through: a later death is not this job's fault. */
	if (strcmp(c->inflight_carry.job, c->inflight_mark.job) == 0)
		c->inflight_carry.job[0] = '\0';
}

void inflight_settle(struct ctl *c)
{
	if (!c->inflight_mark.set)
		return;
	inflight_empty(c);
	c->inflight_mark.set = false;
}

/* Every task of the job not yet terminal fails with why; assigned ones are revoked. */
static void fail_job(struct ctl *c, const char *job, const char *why)
{
	int64_t rid = db_job_rid(c, job);
	if (rid >= 0)
		end_tasks(c, rid, job, 0, SPOOL_TASK_FAILED, why, true);
}

void inflight_check(struct ctl *c)
{
	struct buf b;
	struct rec r;
	struct err e;
	buf_init(&b);
	if (fs_read_file(c->sd.ctl, INFLIGHT, MAX_SMALL_RECORD, &b, NULL, &e) < 0) {
		if (errno != ENOENT)
			log_err("cannot read %s/ctl/%s: %s (removing it)", c->sd.path, INFLIGHT, e.msg);
		buf_free(&b);
		unlinkat(c->sd.ctl, INFLIGHT, 0);
		return;
	}
	b.len = b.len ? strnlen(b.p, b.len) : 0; /* the record ends at the NULs after it */
	if (b.len == 0) { /* the last step ended */
		buf_free(&b);
		return;
	}
	if (rec_parse(&r, b.p, b.len, &schema_inflight, &e) < 0 || !name_ok(rec_get(&r, "job"))) {
		/* Torn by the crash it records: nothing to count. */
		log_warn("ignoring %s/ctl/%s: %s", c->sd.path, INFLIGHT, r.mem ? "bad job id" : e.msg);
		if (r.mem)
			rec_free(&r);
		buf_free(&b);
		inflight_empty(c);
		return;
	}
	const char *step = rec_get(&r, "step"), *job = rec_get(&r, "job");
	uint64_t deaths = rec_get_u64(&r, "count", 0) + 1;
	bool ingest = strcmp(step, "ingest") == 0;
	const char *what = ingest ? "ingesting" : "writing the assignments of";
	char why[400];
	snprintf(why, sizeof why, "spoold stopped %llu times in a row while %s this job (it may crash the controller)",
		 (unsigned long long)deaths, what);
	if (deaths < POISON_LIMIT) {
		log_warn("spoold stopped while %s job %s (%llu time%s in a row; at %d it is failed)", what, job,
			 (unsigned long long)deaths, deaths == 1 ? "" : "s", POISON_LIMIT);
		snprintf(c->inflight_carry.step, sizeof c->inflight_carry.step, "%s", step);
		snprintf(c->inflight_carry.job, sizeof c->inflight_carry.job, "%s", job);
		c->inflight_carry.count = deaths;
		/* Counted now: the next death must see it even if this run dies before marking the job.
		 * The file is removed after the first pass (inflight_settle); the count stays in memory
		 * for when the job is marked again. */
		inflight_set(c, step, job);
	} else {
		log_err("spoold stopped %llu times in a row while %s job %s: failing it", (unsigned long long)deaths,
			what, job);
		char name[96];
		snprintf(name, sizeof name, "%s.job", job);
		if (ingest && faccessat(c->sd.incoming, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			quarantine_file(c, c->sd.incoming, name, why);
		else
			fail_job(c, job, why);
		inflight_empty(c);
	}
	rec_free(&r);
	buf_free(&b);
}
