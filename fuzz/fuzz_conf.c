/* fuzz_conf.c - spool.conf, read by every program at start (libconfig syntax, then spool's own
 * names, types and ranges). conf_load reads a path, so each input is written to a file in a
 * private directory (tmpfs when there is one) and loaded over the defaults. */
#include "fuzz.h"
#include "conf.h"
#include "log.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[300];

static void write_input(const uint8_t *data, size_t size)
{
	int fd;
	if (!path[0])
		snprintf(path, sizeof path, "%s/spool.conf", fuzz_tmpdir());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_CHECK(fd >= 0);
	for (size_t off = 0; off < size;) {
		ssize_t n = write(fd, data + off, size - off);
		FUZZ_CHECK(n > 0);
		off += (size_t)n;
	}
	close(fd);
}

/* A loaded configuration is within the ranges spool-layout.md section 6 gives. */
static void check_conf(const struct spool_conf *c)
{
	enum log_level lvl;
	FUZZ_CHECK(c->rescan_ms >= 10 && c->rescan_ms <= 60000);
	FUZZ_CHECK(c->heartbeat_ms >= 50 && c->heartbeat_ms <= 60000);
	FUZZ_CHECK(c->dead_ms >= 200 && c->dead_ms <= 86400000 && c->dead_ms > c->heartbeat_ms);
	FUZZ_CHECK(c->kill_grace_ms <= 3600000);
	FUZZ_CHECK(c->timeout_ms <= 31ull * 86400000);
	FUZZ_CHECK(c->publish_ms <= 10000);
	FUZZ_CHECK(c->retries <= 100 && c->prefetch <= 64 && c->prefetch_short <= 64);
	FUZZ_CHECK(c->visibility_ms == -1 || (c->visibility_ms >= 0 && c->visibility_ms <= 600000));
	FUZZ_CHECK(memchr(c->database, '\0', sizeof c->database) && memchr(c->log_level, '\0', sizeof c->log_level));
	FUZZ_CHECK(c->database[0] == '\0' || c->database[0] == '/');
	FUZZ_CHECK(log_level_parse(c->log_level, &lvl) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spool_conf c;
	struct err e = { "" };

	write_input(data, size);
	conf_defaults(&c);
	if (conf_load(&c, path, &e) == 0)
		check_conf(&c);
	else
		FUZZ_CHECK(e.msg[0] != '\0');
	return 0;
}
