/* db.c - the controller's SQLite queue: schema, cached statements, transactions.
 * The database is local (WAL mode); the spool's files are enough to rebuild it. */
#include "ctl.h"
#include "fsio.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobstate.h"
#include "queue.h"

/* The partial indexes' conditions are schema, where SQLite takes no parameters: they are
 * written from the state enum (here %1$d assigned, %2$d running; queued in ready_fmt), and every query binds
 * the same values, once per statement (db_prep_fixed), which lets SQLite use these indexes (it
 * compares bound values with them). */
static const char schema_fmt[] =
	"CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL);"
	/* rid gives submission (ingest) order; AUTOINCREMENT so a rid is never reused. */
	"CREATE TABLE IF NOT EXISTS jobs("
	"  rid INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, owner INTEGER NOT NULL,"
	"  name TEXT, cwd TEXT NOT NULL, outdir TEXT NOT NULL, timeout_ms INTEGER NOT NULL,"
	"  retries INTEGER NOT NULL, is_map INTEGER NOT NULL, argv BLOB NOT NULL, env BLOB NOT NULL,"
	"  ntasks INTEGER NOT NULL, nterminal INTEGER NOT NULL DEFAULT 0, dirty INTEGER NOT NULL DEFAULT 1,"
	"  targets TEXT, builtin TEXT,"
	"  published_ms INTEGER NOT NULL DEFAULT 0, umask INTEGER, command TEXT, submitted_ms INTEGER,"
	"  finished_ms INTEGER, priority INTEGER NOT NULL DEFAULT 0, max_running INTEGER NOT NULL DEFAULT 0,"
	"  held INTEGER NOT NULL DEFAULT 0, mem INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX IF NOT EXISTS jobs_dirty ON jobs(rid) WHERE dirty = 1;"
	"CREATE TABLE IF NOT EXISTS tasks("
	"  rid INTEGER NOT NULL, idx INTEGER NOT NULL, item TEXT, state INTEGER NOT NULL DEFAULT 0,"
	"  attempt INTEGER NOT NULL DEFAULT 0, lost INTEGER NOT NULL DEFAULT 0, engine INTEGER, wid TEXT,"
	"  node TEXT, exit INTEGER, signal INTEGER, wall_ms INTEGER, reason TEXT, seq INTEGER, pin INTEGER,"
	"  waits INTEGER NOT NULL DEFAULT 0, owner INTEGER NOT NULL DEFAULT 0, nprio INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY(rid, idx)) WITHOUT ROWID;"
	"DROP INDEX IF EXISTS tasks_queued;"    /* unused since tasks_free and tasks_pinned */
	"DROP INDEX IF EXISTS tasks_by_worker;" /* an IN list, which bound values cannot match */
	"DROP INDEX IF EXISTS tasks_pinned;"    /* replaced by tasks_pinned_ready, tasks_free_ready */
	"DROP INDEX IF EXISTS tasks_free;"      /* (they leave out tasks waiting on a dependency) */
	"CREATE INDEX IF NOT EXISTS tasks_held_by_worker ON tasks(wid) WHERE state >= %1$d AND state <= %2$d;"
	"CREATE INDEX IF NOT EXISTS tasks_held_by_engine ON tasks(engine, seq) WHERE state >= %1$d AND state <= %2$d;"
	/* Per job: how many tasks are in each state (queue.c keeps it), and which chunks of its
	 * published state changed since they were last written (publish.c empties it). */
	"CREATE TABLE IF NOT EXISTS job_counts(rid INTEGER NOT NULL, state INTEGER NOT NULL, n INTEGER NOT NULL,"
	"  PRIMARY KEY(rid, state)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS chunks_dirty(rid INTEGER NOT NULL, chunk INTEGER NOT NULL,"
	"  PRIMARY KEY(rid, chunk)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS workers("
	"  wid TEXT PRIMARY KEY, node TEXT NOT NULL, pid INTEGER NOT NULL, boot TEXT NOT NULL,"
	"  start INTEGER NOT NULL, slots INTEGER NOT NULL, alive INTEGER NOT NULL);"
	/* Engine ids come from AUTOINCREMENT: never handed out twice (see ctl/engine-seq). */
	"CREATE TABLE IF NOT EXISTS engines("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT, wid TEXT NOT NULL, slot INTEGER NOT NULL,"
	"  alive INTEGER NOT NULL, avg_ms REAL);"
	"CREATE INDEX IF NOT EXISTS engines_by_worker ON engines(wid);"
	"CREATE TABLE IF NOT EXISTS attempts("
	"  rid INTEGER NOT NULL, idx INTEGER NOT NULL, attempt INTEGER NOT NULL, wid TEXT NOT NULL,"
	"  engine INTEGER, status TEXT, exit INTEGER, signal INTEGER, accepted INTEGER NOT NULL,"
	"  PRIMARY KEY(rid, idx, attempt, wid)) WITHOUT ROWID;"
	/* Dependencies not yet resolved, keyed by the job waited on (queue.c releases them when it
	 * ends): rid waits on task on_idx of on_rid, on all its tasks (on_idx 0), or task i of rid on
	 * task i of on_rid (on_idx QUEUE_DEP_EACH); ok: they must succeed. tasks.waits counts, per
	 * task, the rows it still waits on. */
	"CREATE TABLE IF NOT EXISTS deps(on_rid INTEGER NOT NULL, on_idx INTEGER NOT NULL, rid INTEGER NOT NULL,"
	"  ok INTEGER NOT NULL, PRIMARY KEY(on_rid, on_idx, rid)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS deps_by_waiter ON deps(rid);"
	/* Fair share: per submitter, how many of its tasks are assigned or running (queue.c keeps it,
	 * db_open counts it again at start-up). */
	"CREATE TABLE IF NOT EXISTS owner_load(owner INTEGER PRIMARY KEY, n INTEGER NOT NULL);"
	/* Jobs whose failed or timed-out tasks are run again (--retry-on-failure), within their
	 * retries: a table of its own, so that older databases get it without an upgrade step. */
	"CREATE TABLE IF NOT EXISTS job_retry(rid INTEGER PRIMARY KEY);";

/* The indexes the scheduler reads, on columns (waits, owner, nprio) that older databases get from
 * db_upgrade: created after it. Tasks any engine may run (pin NULL) and tasks restricted to their
 * job's targets (pin PIN_TARGETS, %2$d) are read per owner, in the order of their job's priority
 * (nprio = -priority), then submission (rid), then task number. A held job's queued tasks have
 * waits > 0, so they are in none of these. */
static const char ready_fmt[] =
	"DROP INDEX IF EXISTS tasks_free_ready;" /* FIFO over all owners; replaced by tasks_fair_ready */
	"CREATE INDEX IF NOT EXISTS tasks_pinned_ready ON tasks(pin, rid, idx) WHERE state = %1$d AND pin IS NOT NULL"
	"  AND waits = 0;"
	"CREATE INDEX IF NOT EXISTS tasks_fair_ready ON tasks(owner, nprio, rid, idx) WHERE state = %1$d AND pin IS NULL"
	"  AND waits = 0;"
	"CREATE INDEX IF NOT EXISTS tasks_fair_targets ON tasks(owner, nprio, rid, idx) WHERE state = %1$d AND pin = %2$d"
	"  AND waits = 0;";

void ctl_init(struct ctl *c)
{
	memset(c, 0, sizeof *c);
	c->quarantine_count = -1;
	c->trash_pending = true; /* at start-up: look for trees a previous run left */
}

static const char *schema_sql(void)
{
	static char sql[sizeof schema_fmt + 64];
	snprintf(sql, sizeof sql, schema_fmt, SPOOL_TASK_ASSIGNED, SPOOL_TASK_RUNNING);
	return sql;
}

static const char *ready_sql(void)
{
	static char sql[sizeof ready_fmt + 64];
	snprintf(sql, sizeof sql, ready_fmt, SPOOL_TASK_QUEUED, PIN_TARGETS);
	return sql;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

/* Columns added since the first schema, for databases made before them: (table, column, type). */
static const char *const added_columns[][3] = {
	{ "jobs", "umask", "INTEGER" }, /* the submitter's umask (NULL: 022, as before it was sent) */
	{ "jobs", "command", "TEXT" },  /* for status (NULL before publishing format 2) */
	{ "jobs", "submitted_ms", "INTEGER" },
	{ "jobs", "finished_ms", "INTEGER" },
	{ "tasks", "waits", "INTEGER NOT NULL DEFAULT 0" }, /* dependencies not yet resolved */
	{ "jobs", "priority", "INTEGER NOT NULL DEFAULT 0" },
	{ "jobs", "max_running", "INTEGER NOT NULL DEFAULT 0" },
	{ "jobs", "held", "INTEGER NOT NULL DEFAULT 0" },
	{ "tasks", "owner", "INTEGER NOT NULL DEFAULT 0" }, /* the job's, for the fair-share indexes */
	{ "tasks", "nprio", "INTEGER NOT NULL DEFAULT 0" }, /* -(the job's priority) */
	{ "jobs", "mem", "INTEGER NOT NULL DEFAULT 0" },    /* each task's memory limit (--mem), bytes */
};

static int db_upgrade(struct ctl *c, struct err *e)
{
	for (size_t i = 0; i < ARRAY_LEN(added_columns); i++) {
		char sql[200];
		sqlite3_stmt *st = NULL;
		snprintf(sql, sizeof sql, "SELECT %s FROM %s LIMIT 0", added_columns[i][1], added_columns[i][0]);
		int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
		sqlite3_finalize(st);
		if (rc == SQLITE_OK)
			continue;
		char *msg = NULL;
		snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s %s", added_columns[i][0], added_columns[i][1],
			 added_columns[i][2]);
		if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
			err_set(e, "cannot upgrade the queue database %s (%s): %s (move it away to rebuild it)", c->dbpath,
				sql, msg ? msg : sqlite3_errmsg(c->db));
			sqlite3_free(msg);
			sqlite3_close(c->db);
			c->db = NULL;
			return -1;
		}
	}
	return 0;
}

static int db_upgrade_pins(struct ctl *c)
{
	if (db_begin(c) < 0)
		return -1;
	sqlite3_stmt *st = db_prep(c, "UPDATE tasks SET pin = ?1 WHERE pin IS NULL AND state < ?2 AND rid IN"
				      " (SELECT rid FROM jobs WHERE targets IS NOT NULL)");
	sqlite3_bind_int(st, 1, PIN_TARGETS);
	sqlite3_bind_int(st, 2, SPOOL_TASK_SUCCEEDED);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	if (rc == 0 && db_meta_set(c, "pin_targets", 1) == 0 && db_commit(c) == 0)
		return 0;
	db_rollback(c);
	return -1;
}

/* A database from before publishing format 2 has no per-job counts: count every job once,
 * and publish every job again in the new format. */
static int db_upgrade_counts(struct ctl *c, struct err *e)
{
	if (db_meta_get(c, "publish_format", 0) >= JOBSTATE_FORMAT)
		return 0;
	int rc = db_begin(c);
	sqlite3_stmt *st = db_prep(c, "SELECT rid FROM jobs");
	int64_t *rids = NULL;
	size_t n = 0;
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		rids = xrealloc(rids, (n + 1) * sizeof *rids);
		rids[n++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = queue_recount(c, rids[i]);
	free(rids);
	if (rc == 0 && db_meta_set(c, "publish_format", JOBSTATE_FORMAT) == 0) {
		rc = db_commit(c);
	} else {
		rc = -1;
		db_rollback(c);
	}
	if (rc < 0) {
		err_set(e, "cannot upgrade the queue database %s to publishing format %d (see the log; move it away to "
			"rebuild it)", c->dbpath, JOBSTATE_FORMAT);
		db_close(c);
	}
	return rc;
}

static void choose_path(struct ctl *c)
{
	if (c->sd.conf.database[0]) {
		snprintf(c->dbpath, sizeof c->dbpath, "%s", c->sd.conf.database);
		return;
	}
	if (!c->fs_remote) {
		snprintf(c->dbpath, sizeof c->dbpath, "%s/ctl/queue.db", c->sd.path);
		return;
	}
	/* SQLite's locking is unsafe on network filesystems: keep the queue on local disk. */
	snprintf(c->dbpath, sizeof c->dbpath, "/var/lib/spool/%016llx.db", (unsigned long long)fnv1a(c->sd.path));
}

static int db_step(struct ctl *c, const char *sql);

/* Tasks of a database from before fair share have owner 0: give them their job's, once. Then,
 * at every start-up, count each owner's assigned and running tasks again from the per-job
 * counts (O(jobs)): queue.c keeps it from there. */
static int db_upgrade_owners(struct ctl *c)
{
	if (db_begin(c) < 0)
		return -1;
	int rc = 0;
	if (db_meta_get(c, "task_owner", 0) == 0) {
		sqlite3_stmt *st = db_prep(c, "UPDATE tasks SET owner = (SELECT owner FROM jobs j WHERE j.rid = tasks.rid)");
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
		sqlite3_reset(st);
		if (rc == 0)
			rc = db_meta_set(c, "task_owner", 1);
	}
	if (rc == 0)
		rc = db_step(c, "DELETE FROM owner_load");
	if (rc == 0) {
		sqlite3_stmt *st = db_prep(c, "INSERT INTO owner_load(owner, n) SELECT j.owner, sum(k.n) FROM job_counts k"
					      " JOIN jobs j ON j.rid = k.rid WHERE k.state BETWEEN ?1 AND ?2 GROUP BY j.owner");
		sqlite3_bind_int(st, 1, SPOOL_TASK_ASSIGNED);
		sqlite3_bind_int(st, 2, SPOOL_TASK_RUNNING);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
		sqlite3_reset(st);
	}
	if (rc == 0 && db_commit(c) == 0)
		return 0;
	db_rollback(c);
	return -1;
}

int db_open(struct ctl *c, struct err *e)
{
	char *msg = NULL;

	choose_path(c);
	char *dir = xstrdup(c->dbpath);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (fs_mkdir_p(dir, 0700, e) < 0) {
			free(dir);
			return -1;
		}
	}
	free(dir);
	if (sqlite3_open_v2(c->dbpath, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		err_set(e, "cannot open the queue database %s: %s (set 'database' in spool.conf to a writable local path)",
			c->dbpath, c->db ? sqlite3_errmsg(c->db) : "out of memory");
		sqlite3_close(c->db);
		c->db = NULL;
		return -1;
	}
	sqlite3_busy_timeout(c->db, 5000);
	/* WAL + synchronous=NORMAL: SQLite itself never syncs a commit; db_commit syncs the WAL
	 * (db_sync) after every full commit, so a commit is on disk before we delete the files it
	 * consumed, and lazy ones cost no PRAGMA switch. locking_mode=EXCLUSIVE: spoold is the
	 * database's only user (spool-layout.md 5), so it takes the file lock once and keeps the
	 * WAL index in its own memory. With NORMAL, every transaction and every query outside one
	 * took and dropped its locks: about 47 fcntl calls per task, 9 % of spoold's CPU in a
	 * single-task loop. Someone who wants to look inside with sqlite3 stops spoold first. */
	if (sqlite3_exec(c->db,
			 "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
			 "PRAGMA foreign_keys=OFF;",
			 NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(c->db, schema_sql(), NULL, NULL, &msg) != SQLITE_OK) {
		err_set(e, "cannot set up the queue database %s: %s (is it a spool database? move it away to rebuild)",
			c->dbpath, msg ? msg : sqlite3_errmsg(c->db));
		sqlite3_free(msg);
		sqlite3_close(c->db);
		c->db = NULL;
		return -1;
	}
	if (db_upgrade(c, e) < 0)
		return -1;
	if (sqlite3_exec(c->db, ready_sql(), NULL, NULL, &msg) != SQLITE_OK) {
		err_set(e, "cannot index the queue database %s: %s (move it away to rebuild it)", c->dbpath,
			msg ? msg : sqlite3_errmsg(c->db));
		sqlite3_free(msg);
		db_close(c);
		return -1;
	}
	if (db_upgrade_counts(c, e) < 0)
		return -1;
	if (db_upgrade_owners(c) < 0) {
		err_set(e, "cannot count the running tasks of each user in the queue database %s: %s (move it away to "
			"rebuild it)", c->dbpath, sqlite3_errmsg(c->db));
		db_close(c);
		return -1;
	}
	/* Queues written before tasks restricted to several targets had pin PIN_TARGETS (they had
	 * NULL, and the scheduler scanned past them): mark them once. */
	if (db_meta_get(c, "pin_targets", 0) == 0 && db_upgrade_pins(c) < 0) {
		err_set(e, "cannot upgrade the queue database %s: %s (move it away to rebuild it)", c->dbpath,
			sqlite3_errmsg(c->db));
		db_close(c);
		return -1;
	}
	return 0;
}

void db_close(struct ctl *c)
{
	struct stmt_cache *cache = c->stmts;
	assign_close(c);
	for (size_t i = 0; i < STMT_CACHE; i++) {
		if (cache[i].st)
			sqlite3_finalize(cache[i].st);
		cache[i].st = NULL;
		cache[i].sql = NULL;
	}
	if (c->db)
		sqlite3_close(c->db);
	c->db = NULL;
}

/* Statements are cached by the address of their SQL literal: sql's slot, where it is prepared
 * on its first use (*fresh). */
static struct stmt_cache *stmt_slot(struct ctl *c, const char *sql, bool *fresh)
{
	size_t i;
	struct stmt_cache *cache = c->stmts;
	*fresh = false;
	for (i = 0; i < STMT_CACHE && cache[i].sql; i++)
		if (cache[i].sql == sql)
			return &cache[i];
	if (i == STMT_CACHE) {
		log_err("internal error: statement cache full");
		abort();
	}
	if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &cache[i].st, NULL) != SQLITE_OK) {
		log_err("internal error: cannot prepare SQL \"%s\": %s", sql, sqlite3_errmsg(c->db));
		abort();
	}
	cache[i].sql = sql;
	*fresh = true;
	return &cache[i];
}

sqlite3_stmt *db_prep(struct ctl *c, const char *sql)
{
	bool fresh;
	struct stmt_cache *s = stmt_slot(c, sql, &fresh);
	if (!fresh) {
		sqlite3_reset(s->st);
		sqlite3_clear_bindings(s->st);
	}
	return s->st;
}

/* A statement whose first n parameters are always the values v (a state, a pin kind): bound once,
 * when it is prepared. SQLite decides from a bound value whether a partial index (schema_fmt,
 * ready_fmt) serves the query, and so prepares such a statement again whenever that parameter
 * is bound again, even to the same value: at every use, a re-parse and re-plan each time. The
 * caller binds only the parameters after ?n, at each use. */
sqlite3_stmt *db_prep_fixed(struct ctl *c, const char *sql, int n, const int *v)
{
	bool fresh;
	struct stmt_cache *s = stmt_slot(c, sql, &fresh);
	if (!fresh) {
		sqlite3_reset(s->st); /* (no clear_bindings: it would undo the fixed ones) */
		return s->st;
	}
	for (int i = 0; i < n; i++)
		sqlite3_bind_int(s->st, i + 1, v[i]);
	return s->st;
}

int db_exec(struct ctl *c, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_err("database %s: %s: %s", c->dbpath, sql, msg ? msg : "?");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* A statement of the transaction machinery, prepared once (db_exec would parse it each time,
 * several times per pass of the loop). */
static int db_step(struct ctl *c, const char *sql)
{
	sqlite3_stmt *st = db_prep(c, sql);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		log_err("database %s: %s: %s", c->dbpath, sql, sqlite3_errmsg(c->db));
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

int db_begin(struct ctl *c)
{
	c->changes_at_begin = sqlite3_total_changes64(c->db);
	return db_step(c, "BEGIN IMMEDIATE");
}

int db_commit(struct ctl *c)
{
	if (db_step(c, "COMMIT") < 0) {
		db_rollback(c);
		return -1;
	}
	/* A full commit that changed rows wrote WAL frames: syncing the WAL makes them and every
	 * frame before them (lazy commits too) durable. The rows are committed even when the sync
	 * fails (logged; c->synced does not move, so what waits for durability syncs again). */
	if (!c->lazy && sqlite3_total_changes64(c->db) != c->changes_at_begin)
		db_sync(c);
	return 0;
}

/* What a full commit does for the frames already in the WAL: make them durable. For commits
 * made lazily that must now be durable (ingest.c), when no full commit came after them. */
int db_sync(struct ctl *c)
{
	char wal[sizeof c->dbpath + 8];
	snprintf(wal, sizeof wal, "%s-wal", c->dbpath);
	int fd = open(wal, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		c->synced++; /* no WAL: a checkpoint (which syncs) moved everything into the database */
		return 0;
	}
	if (fd < 0 || fdatasync(fd) < 0) {
		log_err("database: cannot sync %s: %s", wal, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	c->synced++;
	return 0;
}

/* For what may be lost in a power cut because its source stays on disk until a later sync (an
 * ingested job's record, a result's done record), or because losing it costs a second run at
 * most (an assignment), or bookkeeping (what was published): commit without syncing the WAL;
 * the next full commit or db_sync makes these frames durable too. */
int db_begin_lazy(struct ctl *c)
{
	c->lazy = true;
	if (db_begin(c) < 0) {
		db_rollback(c);
		return -1;
	}
	return 0;
}

/* The end of a lazy transaction (committed or not): full commits again. */
static void lazy_end(struct ctl *c)
{
	if (!c->lazy)
		return;
	c->lazy = false;
}

int db_commit_lazy(struct ctl *c)
{
	int rc = db_commit(c);
	lazy_end(c);
	return rc;
}

void db_rollback(struct ctl *c)
{
	sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	lazy_end(c);
}

int64_t db_job_rid(struct ctl *c, const char *jobid)
{
	sqlite3_stmt *st = db_prep(c, "SELECT rid FROM jobs WHERE id = ?");
	int64_t rid = -1;
	sqlite3_bind_text(st, 1, jobid, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		rid = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rid;
}

uint64_t db_job_ntasks(struct ctl *c, int64_t rid)
{
	sqlite3_stmt *st = db_prep(c, "SELECT ntasks FROM jobs WHERE rid = ?");
	uint64_t n = 0;
	sqlite3_bind_int64(st, 1, rid);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return n;
}

uint64_t db_meta_get(struct ctl *c, const char *key, uint64_t dflt)
{
	sqlite3_stmt *st = db_prep(c, "SELECT v FROM meta WHERE k = ?");
	uint64_t v = dflt;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return v;
}

int db_meta_set(struct ctl *c, const char *key, uint64_t v)
{
	sqlite3_stmt *st = db_prep(c, "INSERT INTO meta(k, v) VALUES(?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)v);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		log_err("database %s: cannot set %s: %s", c->dbpath, key, sqlite3_errmsg(c->db));
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}
