/* test_conf.c - spool.conf: defaults, the template, syntax and range errors, durations. */
#include "conf.h"
#include "fsio.h"
#include "util.h"
#include "unit.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/spool-test-conf-XXXXXX";
static char path[64];
static struct err e;

/* Write text as the config file and load it over the defaults. */
static int load(struct spool_conf *c, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		return -2;
	conf_defaults(c);
	e.msg[0] = '\0';
	return conf_load(c, path, &e);
}

/* Load expecting failure with a message holding want (and the file path). */
static bool fails(const char *text, const char *want)
{
	struct spool_conf c;
	int rc = load(&c, text);
	bool ok = rc == -1 && unit_has(e.msg, path) && unit_has(e.msg, want);
	if (!ok)
		fprintf(stderr, "  rc=%d msg=\"%s\", expected \"%s\"\n", rc, e.msg, want);
	return ok;
}

static void test_defaults_and_template(void)
{
	struct spool_conf d, c;

	conf_defaults(&d);
	CHECK(d.rescan_ms == 500 && d.use_inotify && d.heartbeat_ms == 1000 && d.dead_ms == 30000 &&
		      d.kill_grace_ms == 5000 && d.timeout_ms == 0 && d.retries == 2 && d.prefetch == 1 &&
		      d.publish_ms == 100 && d.database[0] == '\0' && strcmp(d.log_level, "info") == 0,
	      "conf_defaults values");

	/* Start from values unlike the defaults so the template must set every one. */
	c.rescan_ms = c.heartbeat_ms = c.dead_ms = c.kill_grace_ms = c.timeout_ms = c.publish_ms = 777;
	c.use_inotify = false;
	c.retries = c.prefetch = 9;
	strcpy(c.database, "/x");
	strcpy(c.log_level, "debug");
	FILE *f = fopen(path, "w");
	fputs(conf_template(), f);
	fclose(f);
	CHECK(conf_load(&c, path, &e) == 0, "conf_template() loads");
	CHECK(c.rescan_ms == d.rescan_ms && c.use_inotify == d.use_inotify && c.heartbeat_ms == d.heartbeat_ms &&
		      c.dead_ms == d.dead_ms && c.kill_grace_ms == d.kill_grace_ms && c.timeout_ms == d.timeout_ms &&
		      c.retries == d.retries && c.prefetch == d.prefetch && c.publish_ms == d.publish_ms &&
		      strcmp(c.database, d.database) == 0 && strcmp(c.log_level, d.log_level) == 0,
	      "conf_template() gives the defaults");
	CHECK(load(&c, "") == 0 && c.rescan_ms == 500 && c.prefetch == 1, "empty file keeps defaults");
	CHECK(load(&c, "prefetch = 3;\n") == 0 && c.prefetch == 3 && c.retries == 2, "partial file over defaults");
}

static void test_errors(void)
{
	struct spool_conf c;
	char want[96];
	char *absent = xasprintf("%s/absent.conf", dir);

	snprintf(want, sizeof want, "%s:2:", path);
	CHECK(fails("prefetch = 1;\nrescan_interval = ;\n", want), "syntax error names file:line");
	CHECK(fails("bogus = 1;\n", "unknown setting 'bogus'") && unit_has(e.msg, ":1:"),
	      "unknown setting rejected naming it");
	CHECK(fails("\n\nrescan_interval = 61;\n", ":3: rescan_interval = 61 is out of range"),
	      "out-of-range duration rejected");
	/* Whole-line comments are taken out before libconfig parses (lib/conf.c): line numbers stay,
	 * and a '#' inside a string or after a setting is still libconfig's. */
	CHECK(fails("# one\n  # two\n\t# three\nprefetch = 1;\nrescan_interval = ;\n", ":5:"),
	      "a syntax error after comment lines names its own line");
	CHECK(fails("# x\n# y\nprefetch = 99; # too many\n", ":3: prefetch = 99 is out of range"),
	      "a bad value after comment lines names its own line");
	CHECK(load(&c, "# rescan_interval = 7;\nlog = \"file\"; # a trailing comment\ndatabase = \"/x/#not-a-comment\";\n") ==
			  0 && c.rescan_ms == 500 && strcmp(c.database, "/x/#not-a-comment") == 0,
	      "a commented-out setting is ignored, a '#' inside a string kept");
	CHECK(fails("/* a block\n# inside it\n*/ prefetch = 65;\n", ":3: prefetch = 65"),
	      "a '#' line inside a block comment: the block still ends where it did");
	CHECK(load(&c, "/* disabled:\n#  prefetch = 4; */\nprefetch = 8;\n") == 0 && c.prefetch == 8,
	      "a block comment that ends on a '#' line still ends there");
	CHECK(load(&c, "database = \"/x/\n# y\";\nprefetch = 3;\n") == 0 && c.prefetch == 3 &&
		      strcmp(c.database, "/x/\n# y") == 0,
	      "a '#' line inside a string that runs over lines is the string's");
	CHECK(load(&c, "database = \"/a\\\"/*\"; # \"\n# prefetch = 9;\nprefetch = 2;\n") == 0 && c.prefetch == 2 &&
		      strcmp(c.database, "/a\"/*") == 0,
	      "an escaped quote and a '/*' inside a string open nothing");
	CHECK(fails("rescan_interval = 0.001;\n", "out of range 0.01 .. 60"), "too-small duration rejected");
	CHECK(fails("prefetch = 65;\n", "prefetch = 65 is out of range 0 .. 64"), "out-of-range prefetch rejected");
	CHECK(fails("default_retries = -1;\n", "default_retries = -1 is out of range"), "negative retries rejected");
	CHECK(fails("rescan_interval = \"1\";\n", "rescan_interval must be a number of seconds"),
	      "string duration rejected");
	CHECK(fails("prefetch = 1.5;\n", "prefetch must be a whole number"), "float prefetch rejected");
	CHECK(fails("inotify = 0;\n", "inotify must be true or false"), "non-boolean inotify rejected");
	CHECK(fails("log_level = \"loud\";\n", "log_level \"loud\" is not one of"), "bad log_level rejected");
	CHECK(fails("database = 5;\n", "database must be a string"), "non-string database rejected");
	CHECK(fails("heartbeat_interval = 2;\ndead_timeout = 2;\n", "dead_timeout must be longer than heartbeat"),
	      "dead_timeout == heartbeat_interval rejected");
	CHECK(fails("heartbeat_interval = 5;\ndead_timeout = 1;\n", "dead_timeout must be longer than heartbeat"),
	      "dead_timeout < heartbeat_interval rejected");
	CHECK(fails("database = \"queue.db\";\n", "database \"queue.db\" must be an absolute path"),
	      "relative database path rejected");
	conf_defaults(&c);
	CHECK(conf_load(&c, absent, &e) == -1 && unit_has(e.msg, "cannot read") && unit_has(e.msg, absent),
	      "missing file rejected naming it");
	free(absent);
}

static void test_values(void)
{
	struct spool_conf c;

	CHECK(load(&c, "rescan_interval = 1;\n") == 0 && c.rescan_ms == 1000, "int duration accepted");
	CHECK(load(&c, "rescan_interval = 0.25;\n") == 0 && c.rescan_ms == 250, "float duration accepted");
	CHECK(load(&c, "default_timeout = 60L;\n") == 0 && c.timeout_ms == 60000, "int64 duration accepted");
	CHECK(load(&c, "default_timeout = 100000000000L;\n") == -1 && unit_has(e.msg, "= 1e+11 is out of range"),
	      "int64 duration out of range rejected");
	CHECK(load(&c, "kill_grace = 0;\npublish_interval = 10;\n") == 0 && c.kill_grace_ms == 0 &&
		      c.publish_ms == 10000,
	      "range ends accepted");
	CHECK(load(&c, "inotify = false;\n") == 0 && !c.use_inotify, "inotify = false parsed");
	CHECK(load(&c, "heartbeat_interval = 2;\ndead_timeout = 2.5;\n") == 0 && c.heartbeat_ms == 2000 &&
		      c.dead_ms == 2500,
	      "dead_timeout just above heartbeat accepted");
	CHECK(load(&c, "database = \"/var/lib/spool/q.db\";\nlog_level = \"debug\";\n") == 0 &&
		      strcmp(c.database, "/var/lib/spool/q.db") == 0 && strcmp(c.log_level, "debug") == 0,
	      "absolute database and log_level accepted");
	CHECK(load(&c, "default_retries = 100;\nprefetch = 0;\n") == 0 && c.retries == 100 && c.prefetch == 0,
	      "whole-number settings");
	CHECK(load(&c, "") == 0 && strcmp(c.log, "auto") == 0 && c.log_max_bytes == 10 << 20, "log defaults");
	CHECK(load(&c, "log = \"file\";\nlog_max_size = 0.5;\n") == 0 && strcmp(c.log, "file") == 0 &&
		      c.log_max_bytes == 512 * 1024,
	      "log = file, log_max_size in MiB");
	CHECK(fails("\nlog = \"journal\";\n", ":2: log \"journal\" is not one of auto, syslog, file"),
	      "bad log rejected naming its line");
	CHECK(fails("log_max_size = 0;\n", "log_max_size = 0 is out of range 0.01 .. 1024"), "log_max_size 0 rejected");
	CHECK(fails("\n\nlog_level = \"loud\";\n", ":3: log_level \"loud\""), "bad log_level names its line");
}

/* SIGHUP: what changed is applied, except what only a restart can change, and both are named. */
static void test_apply_live(void)
{
	struct spool_conf cur, next;
	struct buf a, r;
	conf_defaults(&cur);
	conf_defaults(&next);
	next.prefetch = 5;
	next.rescan_ms = 200;
	strcpy(next.log_level, "debug");
	next.use_inotify = false;
	strcpy(next.database, "/x/q.db");
	strcpy(next.log, "file");
	buf_init(&a);
	buf_init(&r);
	conf_apply_live(&cur, &next, &a, &r);
	CHECK(a.len && strcmp(a.p, "rescan_interval, prefetch, log_level") == 0, "applied settings named in order");
	CHECK(r.len && strcmp(r.p, "database, inotify, log") == 0, "restart settings named");
	CHECK(cur.prefetch == 5 && cur.rescan_ms == 200 && strcmp(cur.log_level, "debug") == 0, "live settings applied");
	CHECK(cur.use_inotify && cur.database[0] == '\0' && strcmp(cur.log, "auto") == 0,
	      "restart settings keep their values");
	buf_reset(&a);
	buf_reset(&r);
	conf_apply_live(&cur, &next, &a, &r);
	CHECK(a.len == 0, "nothing new to apply the second time");
	CHECK(r.len && strcmp(r.p, "database, inotify, log") == 0, "still waiting for a restart");
	buf_free(&a);
	buf_free(&r);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof path, "%s/spool.conf", dir);
	test_defaults_and_template();
	test_errors();
	test_values();
	test_apply_live();
	CHECK(fs_remove_tree(AT_FDCWD, dir) == 0, "temp dir cleaned up");
	return unit_done();
}
