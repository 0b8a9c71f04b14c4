/* inbox.c - read assignments from ctl/w/WID/inbox and keep the engines' queues.
 *
 * The controller writes an assignment file per task attempt and removes it once
 * it has taken the result, or to revoke the task (cancel, requeue). So: a new
 * name is work to do; a name that vanished while queued is dropped, and while
 * running is killed. Assignments are verified (MAC, record, engine ours) before use.
 */
#include "worker.h"
#include "fsio.h"
#include "ids.h"
#include "log.h"
#include "schema.h"
#include "smallfmt.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void job_assign_free(struct job_assign *a)
{
	if (!a)
		return;
	rec_free(&a->r);
	free(a);
}

/* The finished names are kept sorted (strcmp, as fs_list sorts a listing): a worker keeps
 * thousands of them (every task of the last visibility deadline and a second), and each scan of
 * the inbox looks up every name listed. Where name is, or would go. */
static size_t finished_pos(const struct worker *w, const char *name, bool *found)
{
	size_t lo = 0, hi = w->nfin;
	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(w->finished[mid], name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool inbox_is_finished(struct worker *w, const char *name)
{
	bool found;
	finished_pos(w, name, &found);
	return found;
}

void inbox_mark_finished(struct worker *w, const char *name)
{
	bool found;
	size_t at = finished_pos(w, name, &found);
	if (found) {
		w->fin_absent[at] = 0;
		return;
	}
	if (w->nfin == w->capfin) {
		w->capfin = w->capfin ? w->capfin * 2 : 16;
		w->finished = xrealloc(w->finished, w->capfin * sizeof *w->finished);
		w->fin_absent = xrealloc(w->fin_absent, w->capfin * sizeof *w->fin_absent);
	}
	memmove(w->finished + at + 1, w->finished + at, (w->nfin - at) * sizeof *w->finished);
	memmove(w->fin_absent + at + 1, w->fin_absent + at, (w->nfin - at) * sizeof *w->fin_absent);
	w->fin_absent[at] = 0;
	w->finished[at] = xstrdup(name);
	w->nfin++;
}

static bool in_list(char **names, long n, const char *name)
{
	long lo = 0, hi = n - 1;
	while (lo <= hi) {
		long mid = (lo + hi) / 2;
		int c = strcmp(names[mid], name);
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return false;
}

static bool known(struct worker *w, const char *name)
{
	for (size_t i = 0; i < w->nq; i++)
		if (strcmp(w->queue[i]->name, name) == 0)
			return true;
	for (int i = 0; i < w->nslots; i++)
		if (w->eng[i].run && strcmp(w->eng[i].run->name, name) == 0)
			return true;
	return inbox_is_finished(w, name);
}

static bool our_engine(struct worker *w, int64_t id)
{
	for (int i = 0; i < w->nslots; i++)
		if (w->eng[i].id == id)
			return true;
	return false;
}

/* An assignment without a valid MAC was not written by the controller: keep a copy for the
 * administrator (the inbox itself is the controller's to clean), bounded like spoold's. */
static void quarantine_copy(struct worker *w, const char *name, const struct buf *b, const char *why)
{
	char **names, qname[256], rname[300], rnd[9];
	struct err e;
	long n = fs_list(w->sd.quarantine, &names, NULL);
	if (n >= 0)
		fs_list_free(names, n);
	if (n < 0 || n / 2 >= QUARANTINE_MAX_RECORDS) {
		log_warn("quarantine is full or unreadable: not keeping a copy of assignment %s", name);
		return;
	}
	id_random(rnd, 8);
	snprintf(qname, sizeof qname, "%s.%.200s", rnd, name); /* as spoold names them; the reason says whose */
	snprintf(rname, sizeof rname, "%s.reason", qname);
	struct buf r;
	buf_init(&r);
	buf_printf(&r, "assignment ctl/w/%s/inbox/%s refused by the worker: %s\n", w->wid, name, why);
	if (fs_write_atomic(w->sd.quarantine, qname, b->p, b->len, 0600, 0, &e) < 0 ||
	    fs_write_atomic(w->sd.quarantine, rname, r.p, r.len, 0600, 0, &e) < 0)
		log_err("cannot keep a copy of assignment %s in quarantine: %s", name, e.msg);
	buf_free(&r);
}

static int cmp_seq(const void *a, const void *b)
{
	const struct job_assign *x = *(struct job_assign *const *)a, *y = *(struct job_assign *const *)b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Missing from this listing: true once it has been missing for the visibility deadline, so a
 * stale NFS directory cache cannot revoke a task that is still assigned. */
static bool gone(struct worker *w, struct job_assign *a, char **names, long n, uint64_t now)
{
	if (in_list(names, n, a->name)) {
		a->absent_since = 0;
		return false;
	}
	if (!a->absent_since)
		a->absent_since = now;
	return now - a->absent_since >= (uint64_t)w->sd.conf.visibility_ms;
}

/* Names gone from the inbox: revoked if queued or running, forgotten if finished. */
static void drop_vanished(struct worker *w, char **names, long n)
{
	uint64_t now = mono_ms();
	size_t k = 0;
	for (size_t i = 0; i < w->nq; i++) {
		if (!gone(w, w->queue[i], names, n, now)) {
			w->queue[k++] = w->queue[i];
		} else {
			log_info("task %s was revoked before it started", w->queue[i]->name);
			job_assign_free(w->queue[i]);
		}
	}
	w->nq = k;
	for (int i = 0; i < w->nslots; i++) {
		struct engine *e = &w->eng[i];
		if (e->run && !e->revoked && gone(w, e->run, names, n, now)) {
			log_info("task %s was revoked while running on engine %lld: killing its process group",
				 e->run->name, (long long)e->id);
			e->revoked = true;
			run_kill(w, e, SIGTERM);
		}
	}
	/* A finished name is forgotten only once surely gone: a stale listing that shows it
	 * again must not make us run it twice. The listing holds a few names and the finished list
	 * thousands (a map): each name listed is looked up, not each finished one compared. */
	bool *listed = xcalloc(w->nfin ? w->nfin : 1, sizeof *listed);
	for (long j = 0; j < n; j++) {
		bool found;
		size_t at = finished_pos(w, names[j], &found);
		if (found)
			listed[at] = true;
	}
	k = 0;
	for (size_t i = 0; i < w->nfin; i++) {
		if (listed[i])
			w->fin_absent[i] = 0;
		else if (!w->fin_absent[i])
			w->fin_absent[i] = now;
		if (w->fin_absent[i] && now - w->fin_absent[i] >= (uint64_t)w->sd.conf.visibility_ms + 1000) {
			free(w->finished[i]);
			continue;
		}
		w->fin_absent[k] = w->fin_absent[i];
		w->finished[k++] = w->finished[i];
	}
	w->nfin = k;
	free(listed);
}

/* The whole inbox (scan_inbox), or only the names inotify saw arrive: then nothing can have
 * vanished that this look would notice, and the listing is saved. */
void inbox_scan(struct worker *w)
{
	char **names;
	struct err e;
	struct buf b;
	long n;
	bool added = false, all = w->scan_inbox;

	w->scan_inbox = false;
	if (all || w->inbox_fd < 0)
		fs_noted_clear(&w->inbox_noted); /* (the listing has them) */
	if (w->inbox_fd < 0)
		return;
	if (all) {
		n = fs_list(w->inbox_fd, &names, &e);
		if (n < 0) {
			log_err("cannot list my inbox %s/ctl/w/%s/inbox: %s", w->sd.path, w->wid, e.msg);
			return;
		}
		drop_vanished(w, names, n);
	} else {
		n = fs_noted_take(&w->inbox_noted, &names);
	}
	buf_init(&b);
	for (long i = 0; i < n; i++) {
		if (known(w, names[i]) || strlen(names[i]) >= sizeof(((struct job_assign *)0)->name))
			continue;
		struct job_assign *a = xcalloc(1, sizeof *a);
		snprintf(a->name, sizeof a->name, "%s", names[i]);
		if (fs_read_file(w->inbox_fd, names[i], MAX_ASSIGN_RECORD, &b, NULL, &e) < 0) {
			/* Too big, a link, unreadable: answered once, or its task would stay assigned for
			 * ever (and be read again at every scan). */
			if (errno != ENOENT) {
				log_err("refusing assignment ctl/w/%s/inbox/%s: %s", w->wid, names[i], e.msg);
				run_report_refused(w, names[i], e.msg);
				inbox_mark_finished(w, names[i]);
			}
			free(a);
			continue;
		}
		if (mac_check(&w->sd.key, b.p, b.len, &e) < 0) {
			log_err("refusing assignment ctl/w/%s/inbox/%s: %s", w->wid, names[i], e.msg);
			quarantine_copy(w, names[i], &b, e.msg);
			run_report_refused(w, names[i], e.msg);
			inbox_mark_finished(w, names[i]);
			free(a);
			continue;
		}
		if (rec_parse(&a->r, b.p, b.len, &schema_assign, &e) < 0) {
			log_err("refusing assignment %s: %s", names[i], e.msg);
			run_report_refused(w, names[i], e.msg);
			inbox_mark_finished(w, names[i]);
			free(a);
			continue;
		}
		a->seq = rec_get_u64(&a->r, "seq", 0);
		a->engine = (int64_t)rec_get_u64(&a->r, "engine", 0);
		a->uid = rec_get_u64(&a->r, "uid", 0);
		char expect[TASKNAME_MAX];
		int named = taskname_format(expect, sizeof expect, rec_get(&a->r, "job"),
					    (int64_t)rec_get_u64(&a->r, "task", 0), (int64_t)rec_get_u64(&a->r, "attempt", 0));
		if (!our_engine(w, a->engine) || named < 0 || strcmp(expect, names[i]) != 0) {
			log_err("refusing assignment %s: not for one of my engines or its name does not match", names[i]);
			run_report_refused(w, names[i], "not for one of this worker's engines, or its name does not match its fields");
			inbox_mark_finished(w, names[i]);
			job_assign_free(a);
			continue;
		}
		if (w->nq == w->capq) {
			w->capq = w->capq ? w->capq * 2 : 16;
			w->queue = xrealloc(w->queue, w->capq * sizeof *w->queue);
		}
		w->queue[w->nq++] = a;
		added = true;
	}
	if (added)
		qsort(w->queue, w->nq, sizeof *w->queue, cmp_seq);
	buf_free(&b);
	fs_list_free(names, n);
}
