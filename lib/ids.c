/* ids.c - random ids, name validation, node facts. */
#include "ids.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

static const char b32[] = "0123456789abcdefghjkmnpqrstvwxyz";

int random_bytes(void *buf, size_t len)
{
	unsigned char *p = buf;
	for (size_t got = 0; got < len;) {
		ssize_t n = getrandom(p + got, len - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

int id_random(char *out, size_t len)
{
	unsigned char r[64];
	if (len > sizeof r || random_bytes(r, len) < 0)
		return -1;
	for (size_t i = 0; i < len; i++)
		out[i] = b32[r[i] & 31];
	out[len] = '\0';
	return 0;
}

bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > NAME_MAX_LEN || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

bool label_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

int jobref_parse(const char *s, char *job, size_t jobsz, uint64_t *task)
{
	const char *dot = strrchr(s, '.');
	size_t n = dot ? (size_t)(dot - s) : strlen(s);
	*task = 0;
	if (n == 0 || n >= jobsz)
		return -1;
	memcpy(job, s, n);
	job[n] = '\0';
	if (!name_ok(job) || strchr(job, '.'))
		return -1;
	if (dot && (parse_u64(dot + 1, UINT32_MAX, task) < 0 || *task == 0))
		return -1;
	return 0;
}

void node_name(char *out, size_t sz)
{
	char h[256] = "";
	if (gethostname(h, sizeof h - 1) < 0 || !h[0])
		strcpy(h, "localhost");
	char *dot = strchr(h, '.');
	if (dot)
		*dot = '\0';
	if (!name_ok(h))
		strcpy(h, "localhost");
	strlcpy_s(out, h, sz);
}

void boot_id(char *out, size_t sz)
{
	char b[64] = "";
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, b, sizeof b - 1);
		if (n > 0)
			b[n] = '\0';
		close(fd);
	}
	b[strcspn(b, "\n")] = '\0';
	strlcpy_s(out, b[0] ? b : "unknown", sz);
}

/* /proc/PID/stat from field 3 (the state) on, in buf: the command name before it may hold
 * spaces and parentheses, so the fields restart after the last ')'. NULL when it cannot be
 * read (the process is gone). */
static const char *proc_stat_fields(pid_t pid, char *buf, size_t sz)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	ssize_t n = read(fd, buf, sz - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	return p ? p + 1 : NULL;
}

uint64_t proc_start_ticks(pid_t pid)
{
	char buf[1024];
	const char *p = proc_stat_fields(pid, buf, sizeof buf);
	if (!p)
		return 0;
	/* " S PPID ...": starttime is field 22. */
	int field = 2;
	for (; *p && field < 22; p++)
		if (*p == ' ')
			field++;
	return strtoull(p, NULL, 10);
}

int proc_state(pid_t pid, char *state, pid_t *ppid)
{
	char buf[1024];
	int pp;
	const char *p = proc_stat_fields(pid, buf, sizeof buf);
	if (!p || sscanf(p, " %c %d", state, &pp) != 2)
		return -1;
	if (ppid)
		*ppid = (pid_t)pp;
	return 0;
}

int targets_parse(const char *s, int64_t **ids, size_t *n)
{
	*ids = NULL;
	*n = 0;
	if (strcmp(s, "all") == 0)
		return 0;
	size_t cap = 0;
	for (const char *p = s;;) {
		char *end;
		if (*p < '1' || *p > '9')
			goto bad;
		errno = 0;
		long long v = strtoll(p, &end, 10);
		if (errno || v > INT32_MAX || (*end && *end != ','))
			goto bad;
		for (size_t i = 0; i < *n; i++)
			if ((*ids)[i] == v)
				goto bad;
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			if (cap > 1024)
				goto bad;
			*ids = xrealloc(*ids, cap * sizeof **ids);
		}
		(*ids)[(*n)++] = v;
		if (!*end)
			return 0;
		p = end + 1;
	}
bad:
	free(*ids);
	*ids = NULL;
	*n = 0;
	return -1;
}

bool targets_has(const int64_t *ids, size_t n, int64_t id)
{
	if (!n)
		return true;
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

bool var_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > 64 || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}
