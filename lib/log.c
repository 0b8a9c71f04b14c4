/* log.c - logging to stderr (foreground, tools) or syslog (daemons in the background). */
#include "log.h"

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

int err_set(struct err *e, const char *fmt, ...)
{
	va_list ap;
	if (!e)
		return -1;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
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
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
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
	char line[2048];

	if (lvl > max_level)
		return;
	vsnprintf(line, sizeof line, fmt, ap);
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
