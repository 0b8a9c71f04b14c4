/* log.c - logging to stderr (foreground, tools) or syslog (daemons in the background).
 *
 * Messages carry paths, names and reasons that users chose (a working directory with a newline
 * and an escape sequence in its name): every message and every struct err sentence is passed
 * through text_clean, so a log line is always one line and drives no terminal. */
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static const char *prog = "spool";
static bool use_syslog;
static enum log_level max_level = LOG_LVL_INFO;

/* An error sentence may end in a reason file, a result or a terminal: cleaned once, here. */
static void err_fill(struct err *e, const char *fmt, va_list ap)
{
	char raw[sizeof e->msg];
	vsnprintf(raw, sizeof raw, fmt, ap);
	text_clean(e->msg, sizeof e->msg, raw);
}

int err_set(struct err *e, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	if (!e)
		return -1;
	va_start(ap, fmt);
	err_fill(e, fmt, ap);
	va_end(ap);
	errno = saved;
	return -1;
}

int err_sys(struct err *e, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	size_t n;
	if (!e)
		return -1;
	va_start(ap, fmt);
	err_fill(e, fmt, ap);
	va_end(ap);
	n = strlen(e->msg);
	snprintf(e->msg + n, sizeof e->msg - n, ": %s", strerror(saved));
	errno = saved;
	return -1;
}

void log_open(const char *progname, bool to_syslog, enum log_level level)
{
	prog = progname;
	use_syslog = to_syslog;
	max_level = level;
	if (to_syslog)
		openlog(progname, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

int log_level_parse(const char *s, enum log_level *out)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	return -1;
}

static void vlog(enum log_level lvl, const char *fmt, va_list ap)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	static const char *tag[] = { "error: ", "warning: ", "", "debug: " };
	char raw[2048], line[3 * sizeof raw];

	if (lvl > max_level)
		return;
	vsnprintf(raw, sizeof raw, fmt, ap);
	text_clean(line, sizeof line, raw);
	if (use_syslog) {
		syslog(prio[lvl], "%s", line);
		return;
	}
	fprintf(stderr, "%s: %s%s\n", prog, tag[lvl], line);
}

#define DEFINE_LOG(name, lvl)                 \
	void name(const char *fmt, ...)       \
	{                                     \
		va_list ap;                   \
		va_start(ap, fmt);            \
		vlog(lvl, fmt, ap);           \
		va_end(ap);                   \
	}
DEFINE_LOG(log_err, LOG_LVL_ERR)
DEFINE_LOG(log_warn, LOG_LVL_WARN)
DEFINE_LOG(log_info, LOG_LVL_INFO)
DEFINE_LOG(log_debug, LOG_LVL_DEBUG)

void die(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_LVL_ERR, fmt, ap);
	va_end(ap);
	exit(code);
}
