/* fuzz_ids.c - the small parsers of names and numbers that come from records, file names and
 * command lines: name_ok, label_ok, var_name_ok, jobref_parse, targets_parse (lib/ids.c),
 * taskname_parse (lib/smallfmt.c) and
 * parse_u64, parse_i64, parse_seconds_ms (lib/util.c). The input, up to its first NUL, is the
 * string. Each parser's result is checked against a plain reading of its documented grammar. */
#include "fuzz.h"
#include "ids.h"
#include "smallfmt.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* [0-9]+ and its value, or -1 when not all digits or above max (no overflow: stops early). */
static int ref_digits(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		unsigned d = (unsigned)(s[i] - '0');
		if (d > max || v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static void check_names(const char *s)
{
	size_t n = strlen(s);
	bool ok = name_ok(s);
	/* 1..64 bytes of [A-Za-z0-9._-], not starting with '.' or '-'. */
	bool ref = n >= 1 && n <= NAME_MAX_LEN && s[0] != '.' && s[0] != '-' &&
		   strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
	FUZZ_CHECK(ok == ref);
	if (ok)
		FUZZ_CHECK(!strchr(s, '/') && strcmp(s, "..") != 0);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			FUZZ_CHECK(!label_ok(s, 4096));
	FUZZ_CHECK(!label_ok(s, n ? n - 1 : 0) || n == 0);
	bool v = var_name_ok(s, n);
	FUZZ_CHECK(v == (n >= 1 && n <= 64 && !(s[0] >= '0' && s[0] <= '9') &&
			 strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n));
}

/* Job buffers are allocated at their exact size, so ASan sees a write past jobsz. */
static void check_jobref(const char *s, size_t jobsz)
{
	char *job = malloc(jobsz);
	uint64_t task = 99;
	const char *dot = strrchr(s, '.');
	if (jobref_parse(s, job, jobsz, &task) == 0) {
		FUZZ_CHECK(name_ok(job) && !strchr(job, '.') && strlen(job) < jobsz);
		FUZZ_CHECK(strncmp(s, job, strlen(job)) == 0);
		if (dot) {
			uint64_t t;
			FUZZ_CHECK(ref_digits(dot + 1, strlen(dot + 1), UINT32_MAX, &t) == 0 && t == task && t >= 1);
		} else {
			FUZZ_CHECK(task == 0 && strcmp(s, job) == 0);
		}
	}
	free(job);
}

/* JOB.TASK.ATTEMPT: accepted exactly when it is what taskname_format writes for its fields. */
static void check_taskname(const char *s)
{
	struct taskname t;
	char again[TASKNAME_MAX];
	if (taskname_parse(s, &t) < 0)
		return;
	FUZZ_CHECK(name_ok(t.job) && !strchr(t.job, '.') && t.task >= 1 && t.attempt >= 1);
	FUZZ_CHECK(taskname_format(again, sizeof again, t.job, t.task, t.attempt) == 0 && strcmp(again, s) == 0);
}

static void check_targets(const char *s)
{
	int64_t *ids = (int64_t *)1;
	size_t n = 99;
	if (targets_parse(s, &ids, &n) < 0) {
		FUZZ_CHECK(ids == NULL && n == 0);
		return;
	}
	FUZZ_CHECK((n == 0) == (strcmp(s, "all") == 0));
	FUZZ_CHECK(n <= 1024 && (n == 0) == (ids == NULL));
	FUZZ_CHECK(targets_has(ids, n, n ? ids[0] : 7));
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(ids[i] >= 1 && ids[i] <= INT32_MAX);
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(ids[i] != ids[j]);
	}
	if (n)
		FUZZ_CHECK(strspn(s, "0123456789,") == strlen(s) && s[strlen(s) - 1] != ',');
	free(ids);
}

static void check_numbers(const char *s)
{
	static const uint64_t maxes[] = { 0, 1, 100, 1024, 1000000, UINT32_MAX, INT64_MAX, UINT64_MAX };
	size_t n = strlen(s);
	for (size_t i = 0; i < sizeof maxes / sizeof *maxes; i++) {
		uint64_t v = 7, r = 7;
		int rc = parse_u64(s, maxes[i], &v);
		FUZZ_CHECK(rc == ref_digits(s, n, maxes[i], &r));
		FUZZ_CHECK(rc < 0 || v == r);
	}
	/* parse_i64: -?[0-9]+ within [min, max]. */
	int64_t iv;
	uint64_t mag;
	bool neg = s[0] == '-';
	int rc = parse_i64(s, -5, INT64_MAX, &iv);
	int ref = ref_digits(s + neg, n - neg, neg ? 5 : (uint64_t)INT64_MAX, &mag);
	FUZZ_CHECK(rc == ref);
	FUZZ_CHECK(rc < 0 || iv == (neg ? -(int64_t)mag : (int64_t)mag));
	FUZZ_CHECK((parse_i64(s, INT64_MIN, INT64_MAX, &iv) == 0) ==
		   (ref_digits(s + neg, n - neg, neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, &mag) == 0));
}

/* Seconds "W" or "W.F", with an optional unit s, m, h or d, into ms: F's digits past the third
 * are dropped, the result is at most max. */
static void check_seconds(const char *s)
{
	static const uint64_t maxes[] = { 0, 999, 1000, 1500, 31ull * 86400 * 1000, 366ull * 86400 * 1000,
					  UINT64_MAX };
	char num[64];
	size_t len = strlen(s);
	uint64_t unit = 1;
	if (len >= sizeof num)
		len = sizeof num - 1; /* longer than any number a max allows: refused either way */
	memcpy(num, s, len);
	num[len] = '\0';
	if (len > 1 && strchr("smhd", num[len - 1])) {
		char u = num[--len];
		num[len] = '\0';
		unit = u == 's' ? 1 : u == 'm' ? 60 : u == 'h' ? 3600 : 86400;
	}
	const char *dot = strchr(num, '.');
	size_t wl = dot ? (size_t)(dot - num) : len;
	for (size_t i = 0; i < sizeof maxes / sizeof *maxes; i++) {
		uint64_t ms = 7, whole = 0, frac = 0;
		int rc = parse_seconds_ms(s, maxes[i], &ms);
		bool ref = strlen(s) < sizeof num && ref_digits(num, wl, maxes[i] / 1000 / unit, &whole) == 0;
		if (ref && dot) {
			size_t fl = strlen(dot + 1);
			ref = fl >= 1 && strspn(dot + 1, "0123456789") == fl;
			for (size_t k = 0; ref && k < 3; k++)
				frac = frac * 10 + (k < fl ? (uint64_t)(dot[1 + k] - '0') : 0);
		}
		ref = ref && frac * unit <= maxes[i] - whole * 1000 * unit;
		FUZZ_CHECK((rc == 0) == ref);
		FUZZ_CHECK(rc < 0 || ms == whole * 1000 * unit + frac * unit);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';

	check_names(s);
	check_jobref(s, JOBID_LEN + 1);
	check_jobref(s, 64);
	check_taskname(s);
	check_targets(s);
	check_numbers(s);
	check_seconds(s);
	free(s);
	return 0;
}
