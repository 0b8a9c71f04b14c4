/* ctl.h - the controller's state and the parts of spoold that share it. */
#ifndef SPOOLD_CTL_H
#define SPOOLD_CTL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fsio.h"
#include "spooldir.h"
#include "util.h"
#include "schema.h"

#include "spool.h"
#include "assignrec.h"

/* Task states (stored in SQLite as their number, published by name): enum spool_task_state. */
/* tasks.pin: NULL any engine; an engine id (ids start at 1): that engine only; PIN_TARGETS: any of
 * its job's targets (so the scheduler reads those through their own index, see assign.c). */
#define PIN_TARGETS 0

/* What the controller remembers of a worker process between scans (not persisted: after a
 * restart every worker gets a fresh grace period of dead_timeout). */
struct wlive {
	char wid[72];
	char node[72];
	char boot[72];
	pid_t pid;
	uint64_t start_ticks;
	bool alive;
	bool have_beat;
	uint64_t beat;            /* last counter seen */
	uint64_t beat_changed_ms; /* our monotonic clock when it last changed */
	int done_wd;              /* inotify watch on its done/ (or -1) */
	bool done_dirty;          /* an event on it: read its done/ at the next complete_scan */
	int dir_wd;
};

/* Prepared statements, cached by the address of their SQL literal (db_prep). */
#define STMT_CACHE 128
struct stmt_cache {
	const char *sql;
	sqlite3_stmt *st;
};

/* The last jobs whose assignments were built (assign.c): their templates, read once. */
#define TMPL_CACHE 8
struct tmpl {
	int64_t rid;
	char id[72];
	struct assign_tmpl a; /* points into the strings below */
	char *name, *cwd, *outdir;
	char *argv, *env;
	int64_t *targets; /* NULL: any engine */
	size_t ntargets;
	char *builtin;    /* NULL, "push" or "pull" */
};

/* ctl/inflight as poison.c last wrote it, and the deaths counted at start-up. */
struct inflight {
	char step[16], job[72];
	uint64_t count; /* deaths so far of the job named in carry (kept while it is marked again) */
	bool set;       /* ctl/inflight names step/job now */
	bool open;      /* ctl/inflight opened (mark only): mapped shared, or else written by fd */
	char *map;      /* INFLIGHT_SIZE bytes, or NULL */
	int fd;
};

/* A task row waiting to be inserted (queue.c inserts them QUEUE_ADD_BATCH at a time); item and
 * reason point into the caller's record until queue_job_added. */
#define QUEUE_ADD_BATCH 64
struct queue_row {
	int64_t rid, idx;
	const char *item;
	size_t item_len;
	int64_t pin; /* -1: none */
	int state;
	const char *reason;
	int64_t waits; /* dependencies the task waits on (tasks.waits) */
};

/* A result committed lazily, whose files are removed once the commit is durable (complete.c). */
struct consumed {
	char wid[72], name[96];     /* workers/WID/done/NAME */
	char rv_wid[72], rv_job[72]; /* a run of the task still in progress elsewhere, to revoke */
	int64_t rv_idx, rv_attempt;
};

struct ctl {
	struct spooldir sd;
	sqlite3 *db;
	char dbpath[4096];
	char node[72], boot[72];
	const char *fstype;
	int fs_remote;
	int ino;          /* inotify fd, -1 when off or unavailable */
	int wd_incoming, wd_workers;
	struct wlive *w;
	size_t nw, capw;
	bool scan_incoming, scan_workers, scan_done, want_assign;
	/* Names inotify saw renamed into incoming/ since the last pass: that pass reads those files
	 * and does not list the directory (where accepted records wait up to SETTLE_MS to move, each
	 * costing a stat per pass). scan_incoming (a rescan, an overflow, more than FS_NOTED_MAX
	 * names) lists it all. */
	struct fs_noted in_noted;
	bool scan_done_some; /* only the done/ of workers marked done_dirty (inotify named them) */
	bool engines_dirty;
	uint64_t now;     /* monotonic ms at the top of the loop iteration */
	uint64_t ctl_beat;
	volatile int stop;
	struct stmt_cache stmts[STMT_CACHE];
	/* assign.c's two queries per owner with queued tasks, which each owner steps on its own:
	 * prepared once, for as many owners as a pass has seen at most (db_close finalizes them). */
	sqlite3_stmt *(*owner_q)[2];
	size_t nowner_q;
	struct tmpl tmpl[TMPL_CACHE];
	size_t tmpl_next;
	long quarantine_count;         /* -1: not counted yet */
	uint64_t quarantine_counted_at; /* c->now when quarantine/ was last counted */
	bool trash_pending;            /* quarantine/.trash.* may hold trees to remove */
	bool cannot_give_states;       /* the file server does not let root chown (NFS root_squash) */
	bool rebuilding;               /* rebuild.c is inserting the jobs of ctl/jobs/ again */
	struct inflight inflight_mark, inflight_carry;
	uint32_t *wake; /* ctl/wake mapped (wake.c), or NULL */
	struct queue_row add[QUEUE_ADD_BATCH];
	size_t add_n;
	int64_t add_owner, add_nprio; /* of the job whose rows add holds (queue_job_add) */
	struct consumed *consumed;
	size_t nconsumed;
	uint64_t consumed_synced;  /* `synced` when the first of them was committed */
	bool lazy;                /* between db_begin_lazy and its commit or rollback */
	int64_t changes_at_begin; /* sqlite3_total_changes64 at the last BEGIN */
	uint64_t synced;          /* counts the syncs of the WAL: full commits that wrote, db_sync */
	struct settle_move {      /* jobs committed lazily whose records wait in incoming/ (ingest.c) */
		char *stem;
		dev_t dev;        /* the record accepted: a file put in its place later is another */
		ino_t ino;
	} *moves;
	size_t nmoves, capmoves;
	uint64_t moves_synced;    /* `synced` when the last of them was committed */
	uint64_t moves_since;     /* mono_ms() when the first was */
	struct syncer *syncer;    /* syncer.c; NULL: finished states are synced in the loop */
};

/* jobs.dirty: what publish.c still owes a job's published state. */
enum job_dirty {
	JOB_CLEAN = 0,    /* published as the database has it */
	JOB_DIRTY = 1,    /* to publish */
	JOB_UNSYNCED = 2, /* published, finished, its files not yet known durable (syncer.c) */
};

/* db.c */
void ctl_init(struct ctl *c); /* zeroed, and the fields whose start is not zero */
int db_open(struct ctl *c, struct err *e);
void db_close(struct ctl *c);
sqlite3_stmt *db_prep(struct ctl *c, const char *sql);
sqlite3_stmt *db_prep_fixed(struct ctl *c, const char *sql, int n, const int *v);
int db_exec(struct ctl *c, const char *sql);
int db_begin(struct ctl *c);
int db_commit(struct ctl *c);
int db_begin_lazy(struct ctl *c);
int db_commit_lazy(struct ctl *c);
void db_rollback(struct ctl *c);
int db_sync(struct ctl *c);
int64_t db_job_rid(struct ctl *c, const char *jobid);
uint64_t db_job_ntasks(struct ctl *c, int64_t rid);
uint64_t db_meta_get(struct ctl *c, const char *key, uint64_t dflt);
int db_meta_set(struct ctl *c, const char *key, uint64_t v); /* 0, or -1 logged: the caller rolls back */

/* ingest.c: records in incoming/ (jobs and cancels) */
void ingest_incoming(struct ctl *c); /* the names in in_noted, or all (scan_incoming, or none) */
void ingest_settle(struct ctl *c, bool force); /* move what ingest accepted, once durable */
int ingest_settle_due(const struct ctl *c);    /* ms until it syncs on its own; -1: nothing */
/* A record to take in submission order (spool-layout.md 7): the file's mtime, then, among
 * records whose mtimes tie, the submitting client and its sequence number from the record. */
struct submission {
	char *name;
	struct timespec mtime;
	int kind;     /* 0 job, 1 cancel, 2 hold, 3 purge: jobs first (a cancel may name a job in the same batch) */
	char *client; /* the record's client and seq, read only for records in a tie */
	uint64_t seq;
};
void sort_submissions(int dirfd, struct submission *s, size_t n, size_t upto);
void submissions_free(struct submission *s, size_t n);
void quarantine_file(struct ctl *c, int dirfd, const char *name, const char *reason);
int end_tasks(struct ctl *c, int64_t rid, const char *jobid, uint64_t task, enum spool_task_state state,
	      const char *reason, bool forget_engine);
size_t live_targets(struct ctl *c, const char *targets, int64_t **out);
int validate_job(const struct rec *r, const char *stem, struct err *e);
/* 0 queued; 1 refused whole (its tasks would break the limits: refused->msg says why, the job is
 * stored with one failed task); -1 database error. Inside the caller's transaction. */
int insert_job(struct ctl *c, const struct rec *r, uid_t owner, struct err *refused);

/* syncer.c: fsyncs of finished jobs' published states, on a thread of their own */
struct sync_item {
	char name[96]; /* in ctl/jobs/ */
	int64_t rid;   /* its job's published state; 0: an accepted job's record (ingest.c) */
	int err;       /* errno of the failed open or fsync, 0 when durable */
};
void sync_items(int dirfd, struct sync_item *v, size_t n); /* each file, then the directory */
int syncer_start(struct ctl *c); /* -1: no thread (logged); publish.c then syncs in the loop */
int syncer_fd(const struct ctl *c); /* readable when synced states wait to be noted; -1: none */
void syncer_add(struct ctl *c, const char *name, int64_t rid); /* ctl/jobs/NAME of job rid (0: a record) */
void syncer_collect(struct ctl *c); /* notes in the database what is durable now */
void syncer_stop(struct ctl *c);    /* syncs what is queued, notes it, ends the thread */

/* rebuild.c: a lost database rebuilt from the spool */
void rebuild_if_lost(struct ctl *c);
#define DOOMED_REASON "none of its target engines is alive (engine ids are never reused: choose live ones)"


/* workers.c: registration, heartbeats, liveness */
bool worker_account(const struct ctl *c, uid_t uid);
void workers_scan(struct ctl *c);
void workers_check_liveness(struct ctl *c);
struct wlive *wlive_find(struct ctl *c, const char *wid);
void workers_watch(struct ctl *c, struct wlive *w);

/* complete.c: done records from workers */
/* all: every worker's done/ (start, rescan); else those marked done_dirty by inotify */
void complete_scan(struct ctl *c, bool all);
void complete_settle(struct ctl *c); /* after the assignment commit: remove what was consumed */

/* assign.c: queued tasks to free engines */
void assign_tasks(struct ctl *c);
void inbox_remove(struct ctl *c, const char *wid, const char *job, int64_t task, int64_t attempt);
void inbox_remove_cached(struct ctl *c, const char *wid, const char *job, int64_t task, int64_t attempt,
			 int *cache, char *cache_wid, size_t cache_wid_sz);
void assign_reconcile(struct ctl *c);
void assign_forget(struct ctl *c); /* free the templates it keeps (at exit) */
void assign_close(struct ctl *c);  /* finalize its cached queries (db_close) */

/* poison.c: ctl/inflight, the job a step was handling when spoold died */
void inflight_set(struct ctl *c, const char *step, const char *job); /* step: "ingest" or "assign" */
void inflight_clear(struct ctl *c);  /* the step is over */
void inflight_check(struct ctl *c);  /* at start-up: count the death, fail the job at POISON_LIMIT */
void inflight_settle(struct ctl *c); /* after the first pass: the start-up mark has served */
void inflight_unmap(struct ctl *c);  /* at exit */

/* wake.c: ctl/wake, the futex clients waiting on this machine sleep on */
void wake_open(struct ctl *c);
void wake_ring(struct ctl *c); /* job states were published */
void wake_close(struct ctl *c);

/* publish.c: files clients read */
void publish_jobs(struct ctl *c, bool force);
void publish_job(struct ctl *c, int64_t rid); /* now, whatever the rate limit */
void publish_engines(struct ctl *c);
int publish_controller(struct ctl *c, struct err *e);
void publish_beat(struct ctl *c);

#endif
