/* jobsel.c - which jobs `spool status` and `spool acct` show (--user, --state, --since), and
 * the small formats their tables share: user names, times, durations, the terminal's width. */
#include "cli.h"
#include "util.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* Bits of job_sel.states: the job states, then the task states (a job with such a task), then
 * the two conditions of an active job. */
#define SEL_TASK(s) (1ull << (8 + (s)))
#define SEL_HELD (1ull << 40)
#define SEL_WAITING (1ull << 41)

int sel_user(struct job_sel *s, const char *arg)
{
	uint64_t uid;
	struct passwd *pw = getpwnam(arg);
	if (pw) {
		uid = pw->pw_uid;
	} else if (parse_u64(arg, UINT32_MAX - 1, &uid) < 0) {
		fprintf(stderr, "spool: --user wants a user name or uid; there is no user '%s' here\n", shown(arg));
		return -1;
	}
	s->users = xrealloc(s->users, (s->nusers + 1) * sizeof *s->users);
	s->users[s->nusers++] = uid;
	return 0;
}

int sel_states(struct job_sel *s, const char *arg)
{
	char *copy = xstrdup(arg), *save = NULL;
	int rc = 0;
	for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		int st;
		if ((st = spool_job_state_parse(w)) >= 0)
			s->states |= 1ull << st;
		else if ((st = spool_task_state_parse(w)) >= 0)
			s->states |= SEL_TASK(st);
		else if (strcmp(w, "held") == 0)
			s->states |= SEL_HELD;
		else if (strcmp(w, "waiting") == 0)
			s->states |= SEL_WAITING;
		else {
			fprintf(stderr, "spool: --state: '%s' is no state; give job states (", shown(w));
			for (int i = 0; i < SPOOL_JOB_NSTATES; i++)
				fprintf(stderr, "%s, ", spool_job_state_name(i));
			fprintf(stderr, "held, waiting) or task states (a job with such a task: ");
			for (int i = 0; i < SPOOL_TASK_NSTATES; i++)
				fprintf(stderr, "%s%s", spool_task_state_name(i), i + 1 < SPOOL_TASK_NSTATES ? ", " : ")");
			fprintf(stderr, ", separated by commas\n");
			rc = -1;
			break;
		}
	}
	free(copy);
	return rc;
}

uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A duration back from now (2h, 7d, 90s: parse_seconds_ms's units) or a local date and time
 * (2026-11-29, 2026-11-29T13:00, 2026-11-29 13:00:05). */
int sel_since(struct job_sel *s, const char *arg)
{
	static const char *const fmts[] = { "%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M",
					    "%Y-%m-%d %H:%M:%S" };
	uint64_t ms, now = now_ms();
	if (parse_seconds_ms(arg, 100ull * 366 * 86400 * 1000, &ms) == 0) {
		s->since_ms = ms < now ? now - ms : 1;
		return 0;
	}
	for (size_t i = 0; i < ARRAY_LEN(fmts); i++) {
		struct tm tm = { .tm_isdst = -1 };
		const char *end = strptime(arg, fmts[i], &tm);
		if (end && !*end) {
			time_t t = mktime(&tm);
			if (t == (time_t)-1 || t < 0)
				break;
			s->since_ms = (uint64_t)t * 1000;
			if (!s->since_ms)
				s->since_ms = 1;
			return 0;
		}
	}
	fprintf(stderr, "spool: --since wants a duration back from now (90s, 2h, 7d) or a local date and time "
		"(2026-11-29 or 2026-11-29T13:00[:05]), not '%s'\n", shown(arg));
	return -1;
}

int sel_match(const struct job_sel *s, const struct spool_job *j)
{
	if (s->nusers) {
		size_t i = 0;
		while (i < s->nusers && !(j->accepted && j->ntasks && j->owner == s->users[i]))
			i++;
		if (i == s->nusers)
			return 0;
	}
	/* Since T: the jobs that were not over by T (submitted since, or still active then). */
	if (s->since_ms && j->done) {
		uint64_t end = j->finished_ms ? j->finished_ms : j->submitted_ms;
		if (end && end < s->since_ms)
			return 0;
	}
	if (!s->states)
		return 1;
	enum spool_job_state st = !j->accepted || !j->ntasks ? SPOOL_JOB_SUBMITTED : j->state;
	if (s->states & (1ull << st))
		return 1;
	for (int t = 0; t < SPOOL_TASK_NSTATES; t++)
		if ((s->states & SEL_TASK(t)) && j->counts[t])
			return 1;
	if ((s->states & SEL_HELD) && j->held && !j->done)
		return 1;
	return (s->states & SEL_WAITING) && j->waiting && *j->waiting && !j->done;
}

void sel_free(struct job_sel *s)
{
	free(s->users);
	memset(s, 0, sizeof *s);
}

/* The last answer is kept: a table of many jobs has few users, and each lookup may ask a
 * directory service (NSS: LDAP, sssd). */
const char *user_name(uint64_t uid, char *buf, size_t sz)
{
	static uint64_t last = UINT64_MAX;
	static char name[128];
	if (uid != last) {
		struct passwd *pw = getpwuid((uid_t)uid);
		if (pw)
			snprintf(name, sizeof name, "%s", shown(pw->pw_name));
		else
			snprintf(name, sizeof name, "%llu", (unsigned long long)uid);
		last = uid;
	}
	snprintf(buf, sz, "%s", name);
	return buf;
}

/* Like ps's STIME: the time of day within the last 24 hours, else the date. */
const char *clock_text(uint64_t ms, char *buf, size_t sz)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (!ms || !localtime_r(&t, &tm)) {
		snprintf(buf, sz, "-");
		return buf;
	}
	uint64_t now = now_ms();
	strftime(buf, sz, ms + 86400000ull > now ? "%H:%M" : "%m-%d", &tm);
	return buf;
}

/* At most 6 characters: 0.4s, 12s, 3m02s, 2h05m, 3d04h. */
const char *dur_text(int64_t ms, char *buf, size_t sz)
{
	if (ms < 0)
		snprintf(buf, sz, "-");
	else if (ms < 10000)
		snprintf(buf, sz, "%.1fs", ms / 1000.0);
	else if (ms < 60000)
		snprintf(buf, sz, "%llds", (long long)(ms / 1000));
	else if (ms < 3600000)
		snprintf(buf, sz, "%lldm%02lld", (long long)(ms / 60000), (long long)(ms / 1000 % 60));
	else if (ms < 86400000)
		snprintf(buf, sz, "%lldh%02lld", (long long)(ms / 3600000), (long long)(ms / 60000 % 60));
	else
		snprintf(buf, sz, "%lldd%02lldh", (long long)(ms / 86400000), (long long)(ms / 3600000 % 24));
	if (ms >= 60000 && ms < 86400000)
		strncat(buf, ms < 3600000 ? "s" : "m", sz - strlen(buf) - 1);
	return buf;
}

int term_width(void)
{
	struct winsize ws;
	uint64_t v;
	const char *c = getenv("COLUMNS");
	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	if (c && parse_u64(c, 10000, &v) == 0 && v > 0)
		return (int)v;
	return 80;
}

/* Columns of UTF-8 text (continuation bytes take none). */
static size_t text_cols(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xC0) != 0x80;
	return n;
}

void print_fit(const char *s, int width)
{
	size_t len = strlen(s);
	if (width <= 0)
		return;
	if (text_cols(s, len) <= (size_t)width) {
		fputs(s, stdout);
		return;
	}
	/* Cut at a character boundary, leaving room for "...". */
	size_t keep = width > 3 ? (size_t)width - 3 : 0, cols = 0, i = 0;
	for (; i < len; i++) {
		if (((unsigned char)s[i] & 0xC0) != 0x80) {
			if (cols == keep)
				break;
			cols++;
		}
	}
	fwrite(s, 1, i, stdout);
	fputs(&"..."[width >= 3 ? 0 : 3 - width], stdout);
}
