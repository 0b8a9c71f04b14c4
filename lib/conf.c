/* conf.c - read spool.conf with libconfig, with defaults and range checks. */
#include "conf.h"
#include "util.h"

#include <libconfig.h>
#include <stdio.h>
#include <string.h>

void conf_defaults(struct spool_conf *c)
{
	memset(c, 0, sizeof *c);
	c->rescan_ms = 500;
	c->use_inotify = true;
	c->heartbeat_ms = 1000;
	c->dead_ms = 30000;
	c->kill_grace_ms = 5000;
	c->timeout_ms = 0;
	c->retries = 2;
	c->prefetch = 1;
	c->prefetch_short = 4;
	c->publish_ms = 100;
	c->visibility_ms = -1;
	strcpy(c->log_level, "info");
	strcpy(c->log, "auto");
	c->log_max_bytes = 10 << 20;
}

static const char template_text[] =
	"# spool.conf - settings of this spool (libconfig syntax: name = value;)\n"
	"# Every setting is shown with its default. Durations are in seconds and may have\n"
	"# a fraction. spoold and spool-worker read this file when they start, and again\n"
	"# on SIGHUP (database, inotify and log then wait for a restart).\n"
	"\n"
	"# Every watcher (controller, workers, collect) rescans its directories this\n"
	"# often. inotify cannot see files written by other NFS clients, so this bounds\n"
	"# the delay on a shared filesystem. Range 0.01 .. 60.\n"
	"rescan_interval = 0.5;\n"
	"\n"
	"# Use inotify as a speed-up for changes made on this node. false = rescans only.\n"
	"inotify = true;\n"
	"\n"
	"# How often a worker bumps its heartbeat counter. Range 0.05 .. 60.\n"
	"heartbeat_interval = 1.0;\n"
	"\n"
	"# A worker whose heartbeat counter has not changed for this long, measured on the\n"
	"# controller's own monotonic clock, is declared dead and its tasks are requeued.\n"
	"# Must exceed heartbeat_interval plus the filesystem's attribute-cache delay.\n"
	"dead_timeout = 30.0;\n"
	"\n"
	"# A task that overruns its timeout gets SIGTERM, then SIGKILL after this grace.\n"
	"kill_grace = 5.0;\n"
	"\n"
	"# Timeout for tasks that do not give --timeout. 0 = no timeout.\n"
	"default_timeout = 0;\n"
	"\n"
	"# Times a task is retried when its node dies under it (not when it fails).\n"
	"default_retries = 2;\n"
	"\n"
	"# Tasks an engine may hold queued beyond the one it runs, so that short tasks do\n"
	"# not wait for the controller. 0 = strictly one at a time. Range 0 .. 64.\n"
	"prefetch = 1;\n"
	"\n"
	"# The same for an engine whose recent tasks took under 0.1 s on average: holding\n"
	"# a few tiny tasks costs little, and they would otherwise wait on the controller.\n"
	"# Never below prefetch. Range 0 .. 64.\n"
	"prefetch_short = 4;\n"
	"\n"
	"# Least time between two rewrites of a job's published state file. Range 0 .. 10.\n"
	"publish_interval = 0.1;\n"
	"\n"
	"# Decisions based on something being absent (an assignment gone from an inbox, a job\n"
	"# not found) wait this long, so that NFS attribute and directory caching cannot cause\n"
	"# a false decision. Must cover the mount's acdirmax/actimeo. -1 = automatic: 0 on a\n"
	"# local filesystem, 10 s on NFS, FUSE and other network filesystems. Range -1 .. 600.\n"
	"visibility_deadline = -1;\n"
	"\n"
	"# The controller's SQLite database. \"\" = automatic: inside the spool (ctl/queue.db)\n"
	"# when the spool is on a local filesystem, else /var/lib/spool/<spool-hash>.db,\n"
	"# because SQLite's locking is unsafe on network filesystems.\n"
	"database = \"\";\n"
	"\n"
	"# error, warning, info or debug.\n"
	"log_level = \"info\";\n"
	"\n"
	"# Where spoold and spool-worker log when they run in the background (without -f,\n"
	"# which logs to stderr): \"syslog\" (daemon facility), \"file\" (log/spoold.log and\n"
	"# log/worker-NODE.log in the spool), or \"auto\": syslog when something listens on\n"
	"# /dev/log, else the file.\n"
	"log = \"auto\";\n"
	"\n"
	"# A log file is renamed to NAME.1 (replacing the previous one) when it reaches this\n"
	"# size, in MiB. Range 0.01 .. 1024.\n"
	"log_max_size = 10;\n"
	"\n"
	"# The Python interpreter that engines start for Python calls: a command found in\n"
	"# the task's PATH, or an absolute path, such as a virtualenv's bin/python on the\n"
	"# shared filesystem. It must have the client's Python version and cloudpickle.\n"
	"# \"\" = the client's own interpreter (its sys.executable), else python3. A call's\n"
	"# Client(python=...) overrides it.\n"
	"python = \"\";\n";

const char *conf_template(void)
{
	return template_text;
}

/* libconfig keeps ints and floats apart; a duration may be written either way. The value
 * times unit (1000: seconds to ms), rounded. */
static int get_number(config_t *cfg, const char *name, double lo, double hi, double unit, const char *what,
		      uint64_t *out, const char *path, struct err *e)
{
	config_setting_t *s = config_lookup(cfg, name);
	double v;
	if (!s)
		return 0;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
		v = config_setting_get_int(s);
		break;
	case CONFIG_TYPE_INT64:
		v = (double)config_setting_get_int64(s);
		break;
	case CONFIG_TYPE_FLOAT:
		v = config_setting_get_float(s);
		break;
	default:
		return err_set(e, "%s:%d: %s must be a number of %s", path, config_setting_source_line(s),
			       name, what);
	}
	if (!(v >= lo && v <= hi))
		return err_set(e, "%s:%d: %s = %g is out of range %g .. %g", path, config_setting_source_line(s),
			       name, v, lo, hi);
	*out = (uint64_t)(v * unit + 0.5);
	return 0;
}

static int get_seconds(config_t *cfg, const char *name, double lo, double hi, uint64_t *out_ms,
		       const char *path, struct err *e)
{
	return get_number(cfg, name, lo, hi, 1000.0, "seconds", out_ms, path, e);
}

/* The line of a setting, for an error found after parsing (0 when it is not in the file). */
static int line_of(config_t *cfg, const char *name)
{
	config_setting_t *s = config_lookup(cfg, name);
	return s ? config_setting_source_line(s) : 0;
}

static int get_uint(config_t *cfg, const char *name, unsigned hi, unsigned *out, const char *path,
		    struct err *e)
{
	config_setting_t *s = config_lookup(cfg, name);
	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_INT)
		return err_set(e, "%s:%d: %s must be a whole number", path, config_setting_source_line(s), name);
	int v = config_setting_get_int(s);
	if (v < 0 || (unsigned)v > hi)
		return err_set(e, "%s:%d: %s = %d is out of range 0 .. %u", path, config_setting_source_line(s),
			       name, v, hi);
	*out = (unsigned)v;
	return 0;
}

static int get_string(config_t *cfg, const char *name, char *out, size_t sz, const char *path, struct err *e)
{
	config_setting_t *s = config_lookup(cfg, name);
	if (!s)
		return 0;
	const char *v = config_setting_get_string(s);
	if (!v)
		return err_set(e, "%s:%d: %s must be a string in double quotes", path,
			       config_setting_source_line(s), name);
	if (strlen(v) >= sz)
		return err_set(e, "%s:%d: %s is too long (limit %zu bytes)", path, config_setting_source_line(s),
			       name, sz - 1);
	strcpy(out, v);
	return 0;
}

/* spool.conf is read whole and parsed from memory, not with config_read_file: libconfig would
 * follow "@include" lines to other files, relative to whatever directory the program runs in (so
 * one spool.conf would mean different things on different nodes), and on a directory or a read
 * error its scanner exits the whole program ("input in flex scanner failed", status 2). */
#define CONF_MAX_BYTES (1024 * 1024) /* the commented template is 3 KiB */

static int read_conf(const char *path, struct buf *b, struct err *e)
{
	FILE *f = fopen(path, "re");
	char chunk[4096];
	size_t n;

	if (!f)
		return err_sys(e, "cannot read %s", path);
	buf_add(b, "", 0); /* an empty file is an empty string */
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b->len + n <= CONF_MAX_BYTES)
		buf_add(b, chunk, n);
	if (ferror(f)) {
		err_sys(e, "cannot read %s", path);
		fclose(f);
		return -1;
	}
	fclose(f);
	if (n > 0)
		return err_set(e, "%s is larger than %d bytes: not a spool.conf", path, CONF_MAX_BYTES);
	/* config_read_string would stop at a NUL and silently ignore the rest. */
	if (memchr(b->p, '\0', b->len))
		return err_set(e, "%s holds a NUL byte: not a spool.conf", path);
	return 0;
}

/* libconfig includes a file for a line starting with "@include" (after blanks): refuse any. */
static int check_no_include(const char *text, const char *path, struct err *e)
{
	for (unsigned line = 1;; line++) {
		if (strncmp(text + strspn(text, " \t"), "@include", 8) == 0)
			return err_set(e, "%s:%u: @include is not supported: spool.conf holds every setting itself",
				       path, line);
		text = strchr(text, '\n');
		if (!text)
			return 0;
		text++;
	}
}

/* The text libconfig parses: each line whose first non-blank is '#' outside a string and a
 * block comment (a whole-line comment, as most of the template is) left as its newline only,
 * so line numbers stay. Its scanner reads a comment a byte at a time: this halves the cost of
 * reading spool.conf, which every command pays at start (about 60 us of the template's parse).
 * Strings (which may run over lines, with backslash escapes) and block comments are followed
 * as libconfig reads them, so what they hold is never taken out. */
static void without_comment_lines(const char *text, struct buf *out)
{
	bool in_string = false, in_block = false;
	buf_add(out, "", 0);
	while (*text) {
		size_t len = strcspn(text, "\n");
		const char *first = text + strspn(text, " \t");
		if (!in_string && !in_block && *first == '#') {
			text += len; /* the line goes; its newline stays */
		} else {
			const char *end = text + len;
			for (const char *p = text; p < end; p++) {
				if (in_block) {
					if (p[0] == '*' && p + 1 < end && p[1] == '/')
						in_block = false, p++;
				} else if (in_string) {
					if (p[0] == '\\' && p + 1 < end)
						p++;
					else if (p[0] == '"')
						in_string = false;
				} else if (p[0] == '"') {
					in_string = true;
				} else if (p[0] == '/' && p + 1 < end && p[1] == '*') {
					in_block = true, p++;
				} else if (p[0] == '#' || (p[0] == '/' && p + 1 < end && p[1] == '/')) {
					break; /* the rest of the line is a comment */
				}
			}
			buf_add(out, text, len);
			text = end;
		}
		if (*text == '\n') {
			buf_addc(out, '\n');
			text++;
		}
	}
}

static const char *known[] = { "rescan_interval", "inotify", "heartbeat_interval", "dead_timeout",
			       "kill_grace", "default_timeout", "default_retries", "prefetch",
			       "publish_interval", "database", "log_level", "visibility_deadline", "prefetch_short",
			       "python", "log", "log_max_size" };

/* ": TEXT" of line n of the file (shortened), for an error that gives only a line number, so that
 * "duplicate setting name" says which setting. */
static const char *conf_line(const char *text, int n, char *out, size_t sz)
{
	out[0] = '\0';
	for (int i = 1; text && i < n; i++) {
		text = strchr(text, '\n');
		if (text)
			text++;
	}
	if (!text || n < 1)
		return out;
	size_t len = strcspn(text, "\n");
	while (len && (text[len - 1] == ' ' || text[len - 1] == '\t' || text[len - 1] == '\r'))
		len--;
	if (len)
		snprintf(out, sz, ": '%.*s%s'", (int)(len > 80 ? 80 : len), text, len > 80 ? "..." : "");
	return out;
}

int conf_load(struct spool_conf *c, const char *path, struct err *e)
{
	config_t cfg;
	config_setting_t *root, *s;
	int rc = -1;
	enum log_level lvl;
	struct buf text, parsed;

	config_init(&cfg);
	buf_init(&text);
	buf_init(&parsed);
	if (read_conf(path, &text, e) < 0 || check_no_include(text.p, path, e) < 0)
		goto out;
	without_comment_lines(text.p, &parsed);
	if (!config_read_string(&cfg, parsed.p)) {
		char line[120];
		err_set(e, "%s:%d: %s%s (fix the file: `spool config --defaults` prints every setting with its "
			"default, spool.conf(5) explains them)", path, config_error_line(&cfg), config_error_text(&cfg),
			conf_line(text.p, config_error_line(&cfg), line, sizeof line));
		goto out;
	}
	root = config_root_setting(&cfg);
	for (int i = 0; (s = config_setting_get_elem(root, (unsigned)i)); i++) {
		const char *n = config_setting_name(s);
		size_t k;
		for (k = 0; k < ARRAY_LEN(known); k++)
			if (n && strcmp(n, known[k]) == 0)
				break;
		if (k == ARRAY_LEN(known)) {
			err_set(e, "%s:%d: unknown setting '%s' (`spool config --defaults` lists the settings)", path,
				config_setting_source_line(s), n ? n : "?");
			goto out;
		}
	}
	if (get_seconds(&cfg, "rescan_interval", 0.01, 60, &c->rescan_ms, path, e) < 0 ||
	    get_seconds(&cfg, "heartbeat_interval", 0.05, 60, &c->heartbeat_ms, path, e) < 0 ||
	    get_seconds(&cfg, "dead_timeout", 0.2, 86400, &c->dead_ms, path, e) < 0 ||
	    get_seconds(&cfg, "kill_grace", 0, 3600, &c->kill_grace_ms, path, e) < 0 ||
	    get_seconds(&cfg, "default_timeout", 0, 31 * 86400, &c->timeout_ms, path, e) < 0 ||
	    get_seconds(&cfg, "publish_interval", 0, 10, &c->publish_ms, path, e) < 0 ||
	    get_uint(&cfg, "default_retries", 100, &c->retries, path, e) < 0 ||
	    get_uint(&cfg, "prefetch", 64, &c->prefetch, path, e) < 0 ||
	    get_uint(&cfg, "prefetch_short", 64, &c->prefetch_short, path, e) < 0 ||
	    get_string(&cfg, "database", c->database, sizeof c->database, path, e) < 0 ||
	    get_string(&cfg, "log_level", c->log_level, sizeof c->log_level, path, e) < 0 ||
	    get_string(&cfg, "python", c->python, sizeof c->python, path, e) < 0 ||
	    get_string(&cfg, "log", c->log, sizeof c->log, path, e) < 0 ||
	    get_number(&cfg, "log_max_size", 0.01, 1024, 1 << 20, "MiB", &c->log_max_bytes, path, e) < 0)
		goto out;
	if ((s = config_lookup(&cfg, "visibility_deadline"))) {
		uint64_t ms = 0;
		int t = config_setting_type(s);
		if ((t == CONFIG_TYPE_INT && config_setting_get_int(s) == -1) ||
		    (t == CONFIG_TYPE_FLOAT && config_setting_get_float(s) == -1.0))
			c->visibility_ms = -1;
		else if (get_seconds(&cfg, "visibility_deadline", 0, 600, &ms, path, e) < 0)
			goto out;
		else
			c->visibility_ms = (int64_t)ms;
	}
	if ((s = config_lookup(&cfg, "inotify"))) {
		if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
			err_set(e, "%s:%d: inotify must be true or false", path, config_setting_source_line(s));
			goto out;
		}
		c->use_inotify = config_setting_get_bool(s);
	}
	if (log_level_parse(c->log_level, &lvl) < 0) {
		err_set(e, "%s:%d: log_level \"%s\" is not one of error, warning, info, debug", path,
			line_of(&cfg, "log_level"), c->log_level);
		goto out;
	}
	if (c->database[0] && c->database[0] != '/') {
		err_set(e, "%s:%d: database \"%s\" must be an absolute path (or \"\" for automatic)", path,
			line_of(&cfg, "database"), c->database);
		goto out;
	}
	if (strchr(c->python, '\n')) {
		err_set(e, "%s:%d: python \"%s\" is not an interpreter's name or path", path, line_of(&cfg, "python"),
			c->python);
		goto out;
	}
	if (strcmp(c->log, "auto") != 0 && strcmp(c->log, "syslog") != 0 && strcmp(c->log, "file") != 0) {
		err_set(e, "%s:%d: log \"%s\" is not one of auto, syslog, file", path, line_of(&cfg, "log"), c->log);
		goto out;
	}
	if (c->dead_ms <= c->heartbeat_ms) {
		err_set(e, "%s:%d: dead_timeout must be longer than heartbeat_interval", path,
			line_of(&cfg, "dead_timeout") ? line_of(&cfg, "dead_timeout") : line_of(&cfg, "heartbeat_interval"));
		goto out;
	}
	rc = 0;
out:
	config_destroy(&cfg);
	buf_free(&text);
	buf_free(&parsed);
	return rc;
}

static void note(struct buf *b, const char *name)
{
	buf_printf(b, "%s%s", b->len ? ", " : "", name);
}

void conf_apply_live(struct spool_conf *cur, const struct spool_conf *next, struct buf *applied,
		     struct buf *restart)
{
	struct spool_conf n = *next;
#define NUM(field, name) \
	if (cur->field != n.field) \
		note(applied, name)
#define STR(field, name) \
	if (strcmp(cur->field, n.field) != 0) \
		note(applied, name)
	NUM(rescan_ms, "rescan_interval");
	NUM(heartbeat_ms, "heartbeat_interval");
	NUM(dead_ms, "dead_timeout");
	NUM(kill_grace_ms, "kill_grace");
	NUM(timeout_ms, "default_timeout");
	NUM(retries, "default_retries");
	NUM(prefetch, "prefetch");
	NUM(prefetch_short, "prefetch_short");
	NUM(publish_ms, "publish_interval");
	NUM(visibility_ms, "visibility_deadline");
	STR(log_level, "log_level");
	NUM(log_max_bytes, "log_max_size");
	STR(python, "python");
#undef NUM
#undef STR
	/* What was set up at start from these stays as it was until a restart. */
	if (strcmp(cur->database, n.database) != 0)
		note(restart, "database");
	if (cur->use_inotify != n.use_inotify)
		note(restart, "inotify");
	if (strcmp(cur->log, n.log) != 0)
		note(restart, "log");
	memcpy(n.database, cur->database, sizeof n.database);
	n.use_inotify = cur->use_inotify;
	memcpy(n.log, cur->log, sizeof n.log);
	*cur = n;
}
