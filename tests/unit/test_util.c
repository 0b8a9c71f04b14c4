/* test_util.c - number parsing, buffers, string helpers, name/label/jobref validation, ids. */
#include "ids.h"
#include "util.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool u64_fails(const char *s, uint64_t max)
{
	uint64_t v = 12345;
	return parse_u64(s, max, &v) == -1 && v == 12345;
}

static bool u64_is(const char *s, uint64_t max, uint64_t want)
{
	uint64_t v = 12345;
	return parse_u64(s, max, &v) == 0 && v == want;
}

static bool i64_fails(const char *s, int64_t min, int64_t max)
{
	int64_t v = 12345;
	return parse_i64(s, min, max, &v) == -1 && v == 12345;
}

static bool i64_is(const char *s, int64_t min, int64_t max, int64_t want)
{
	int64_t v = 12345;
	return parse_i64(s, min, max, &v) == 0 && v == want;
}

static bool ms_fails(const char *s, uint64_t max)
{
	uint64_t v = 12345;
	return parse_seconds_ms(s, max, &v) == -1 && v == 12345;
}

static bool ms_is(const char *s, uint64_t max, uint64_t want)
{
	uint64_t v = 12345;
	return parse_seconds_ms(s, max, &v) == 0 && v == want;
}

static void test_numbers(void)
{
	CHECK(u64_is("0", 10, 0) && u64_is("10", 10, 10), "parse_u64 basic and at max");
	CHECK(u64_is("18446744073709551615", UINT64_MAX, UINT64_MAX), "parse_u64 UINT64_MAX");
	CHECK(u64_fails("11", 10), "parse_u64 above max");
	CHECK(u64_fails("", UINT64_MAX), "parse_u64 empty");
	CHECK(u64_fails("-1", UINT64_MAX), "parse_u64 -1");
	CHECK(u64_fails("+1", UINT64_MAX), "parse_u64 +1");
	CHECK(u64_fails("1x", UINT64_MAX), "parse_u64 1x");
	CHECK(u64_fails(" 1", UINT64_MAX) && u64_fails("1 ", UINT64_MAX), "parse_u64 spaces");
	CHECK(u64_fails("0x10", UINT64_MAX), "parse_u64 hex");
	CHECK(u64_fails("18446744073709551616", UINT64_MAX), "parse_u64 overflow");
	CHECK(u64_fails(NULL, UINT64_MAX), "parse_u64 NULL");

	CHECK(i64_is("-1", -10, 10, -1) && i64_is("7", -10, 10, 7), "parse_i64 basic");
	CHECK(i64_is("-9223372036854775808", INT64_MIN, INT64_MAX, INT64_MIN) &&
		      i64_is("9223372036854775807", INT64_MIN, INT64_MAX, INT64_MAX),
	      "parse_i64 extremes");
	CHECK(i64_fails("9223372036854775808", INT64_MIN, INT64_MAX) &&
		      i64_fails("-9223372036854775809", INT64_MIN, INT64_MAX),
	      "parse_i64 overflow");
	CHECK(i64_fails("-11", -10, 10) && i64_fails("11", -10, 10), "parse_i64 out of range");
	CHECK(i64_fails("-1", 0, 10), "parse_i64 -1 below min 0");
	CHECK(i64_fails("", -10, 10) && i64_fails("-", -10, 10) && i64_fails("--1", -10, 10), "parse_i64 empty, -");
	CHECK(i64_fails("1x", -10, 10) && i64_fails(" 1", -10, 10) && i64_fails("+1", -10, 10),
	      "parse_i64 1x, space, +");

	CHECK(ms_is("0.25", 60000, 250), "parse_seconds_ms 0.25 -> 250");
	CHECK(ms_is("2", 60000, 2000), "parse_seconds_ms 2 -> 2000");
	CHECK(ms_is("0", 60000, 0) && ms_is("0.001", 60000, 1) && ms_is("1.5", 60000, 1500),
	      "parse_seconds_ms 0, 0.001, 1.5");
	CHECK(ms_is("0.0009", 60000, 0) && ms_is("0.12345", 60000, 123), "parse_seconds_ms truncates past ms");
	CHECK(ms_fails("1.", 60000), "parse_seconds_ms 1. is an error");
	CHECK(ms_fails(".5", 60000), "parse_seconds_ms .5 is an error");
	CHECK(ms_fails("", 60000) && ms_fails("-1", 60000) && ms_fails("1x", 60000) && ms_fails(" 1", 60000) &&
		      ms_fails("1.5.", 60000) && ms_fails("1e3", 60000),
	      "parse_seconds_ms junk");
	CHECK(ms_is("2", 2000, 2000) && ms_fails("2.001", 2000) && ms_fails("3", 2000), "parse_seconds_ms max");
	CHECK(ms_fails("99999999999999999999999", UINT64_MAX / 2), "parse_seconds_ms huge");
	CHECK(ms_is("90s", 600000, 90000) && ms_is("1m", 600000, 60000) && ms_is("0.5s", 600000, 500) &&
		      ms_is("1.5m", 600000, 90000) && ms_is("2h", 86400000, 7200000) && ms_is("1d", 86400000, 86400000),
	      "parse_seconds_ms units: 90s 1m 0.5s 1.5m 2h 1d");
	CHECK(ms_fails("11m", 600000) && ms_fails("1ms", 600000) && ms_fails("m", 600000) && ms_fails("1 m", 600000) &&
		      ms_fails("2d", 86400000),
	      "parse_seconds_ms units: over the max, unknown units, no number");
}

static void test_buf(void)
{
	struct buf b;
	char *s;

	buf_init(&b);
	CHECK(b.p == NULL && b.len == 0 && b.cap == 0, "buf_init empty");
	buf_adds(&b, "ab");
	buf_addc(&b, 'c');
	buf_add(&b, "d\0e", 3);
	buf_printf(&b, "-%d-%s", 42, "x");
	CHECK(b.len == 11 && memcmp(b.p, "abcd\0e-42-x", 11) == 0 && b.p[11] == '\0', "buf appends, terminated");
	for (int i = 0; i < 1000; i++)
		buf_addc(&b, (char)('0' + i % 10));
	CHECK(b.len == 1011 && b.cap > 1011 && b.p[1010] == '9' && b.p[1011] == '\0', "buf grows");
	size_t cap = b.cap;
	buf_reset(&b);
	CHECK(b.len == 0 && b.p[0] == '\0' && b.cap == cap, "buf_reset keeps capacity");
	buf_printf(&b, "%s", "");
	CHECK(b.len == 0 && b.p[0] == '\0', "buf_printf of nothing");
	{
		char longer[300];
		struct buf f;
		memset(longer, 'y', sizeof longer - 1);
		longer[sizeof longer - 1] = '\0';
		buf_init(&f);
		buf_adds(&f, "0123456789"); /* capacity 64: the line does not fit the spare room */
		size_t cap0 = f.cap;
		buf_printf(&f, "<%s>%d", longer, -7);
		CHECK(cap0 < 100 && f.cap > cap0 && f.len == 10 + 1 + 299 + 1 + 2 &&
			      memcmp(f.p, "0123456789<yyy", 14) == 0 && strcmp(f.p + f.len - 4, "y>-7") == 0 &&
			      f.p[f.len] == '\0',
		      "buf_printf longer than the spare room grows the buffer and formats whole, terminated");
		buf_free(&f);
	}
	buf_reset(&b);
	buf_adds(&b, "kept");
	s = buf_steal(&b);
	CHECK(strcmp(s, "kept") == 0 && b.p == NULL && b.len == 0, "buf_steal takes the string");
	free(s);
	s = buf_steal(&b);
	CHECK(s && s[0] == '\0', "buf_steal of an empty buf gives \"\"");
	free(s);
	buf_free(&b);

	s = xasprintf("%s=%05d", "n", 42);
	CHECK(strcmp(s, "n=00042") == 0, "xasprintf");
	free(s);
	s = xstrndup("abcdef", 3);
	CHECK(strcmp(s, "abc") == 0, "xstrndup");
	free(s);
	char small[4] = "zzz";
	CHECK(strlcpy_s(small, "hello", sizeof small) == 5 && strcmp(small, "hel") == 0, "strlcpy_s truncates");
	CHECK(strlcpy_s(small, "x", 0) == 1 && strcmp(small, "hel") == 0, "strlcpy_s size 0 writes nothing");
}

static void test_names(void)
{
	char n64[65], n65[66];
	memset(n64, 'a', 64);
	n64[64] = '\0';
	memset(n65, 'a', 65);
	n65[65] = '\0';

	CHECK(name_ok("node1") && name_ok("a.b-c_d") && name_ok("A9") && name_ok(n64), "name_ok accepts");
	CHECK(!name_ok(""), "name_ok rejects empty");
	CHECK(!name_ok(".") && !name_ok("..") && !name_ok(".x"), "name_ok rejects leading dot");
	CHECK(!name_ok("-x"), "name_ok rejects leading dash");
	CHECK(!name_ok("a/b") && !name_ok("a b"), "name_ok rejects slash and space");
	CHECK(!name_ok("a\nb") && !name_ok("a\tb") && !name_ok("a\x7f") && !name_ok("caf\xc3\xa9"),
	      "name_ok rejects control and non-ASCII bytes");
	CHECK(!name_ok(n65), "name_ok rejects 65 chars");

	CHECK(label_ok("", 10) && label_ok("my job #1", 10) && label_ok("caf\xc3\xa9", 10), "label_ok accepts");
	CHECK(label_ok("0123456789", 10) && !label_ok("0123456789a", 10), "label_ok length bound");
	CHECK(!label_ok("a\nb", 10) && !label_ok("a\tb", 10) && !label_ok("a\x7f", 10) && !label_ok("\x1b[0m", 10),
	      "label_ok rejects control bytes");
}

static bool ref_is(const char *s, const char *job, uint64_t task)
{
	char j[NAME_MAX_LEN + 1] = "";
	uint64_t t = 99;
	return jobref_parse(s, j, sizeof j, &t) == 0 && strcmp(j, job) == 0 && t == task;
}

static bool ref_fails(const char *s)
{
	char j[NAME_MAX_LEN + 1];
	uint64_t t = 99;
	return jobref_parse(s, j, sizeof j, &t) == -1;
}

static void test_jobref(void)
{
	char j[4];
	uint64_t t;

	CHECK(ref_is("abc", "abc", 0), "jobref abc -> task 0");
	CHECK(ref_is("abc.3", "abc", 3), "jobref abc.3 -> task 3");
	CHECK(ref_is("abc.4294967295", "abc", 4294967295u), "jobref largest task");
	CHECK(ref_fails("abc.0"), "jobref abc.0 rejected");
	CHECK(ref_fails("abc."), "jobref abc. rejected");
	CHECK(ref_fails(".3"), "jobref .3 rejected");
	CHECK(ref_fails("a/b.1"), "jobref a/b.1 rejected");
	CHECK(ref_fails("") && ref_fails("abc.x") && ref_fails("abc.-1") && ref_fails("abc.4294967296") &&
		      ref_fails("a.b.1") && ref_fails("-a.1"),
	      "jobref other junk rejected");
	CHECK(jobref_parse("abcd", j, sizeof j, &t) == -1 && jobref_parse("abc", j, sizeof j, &t) == 0,
	      "jobref respects the job buffer size");
}

static void test_ids(void)
{
	static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
	char a[JOBID_LEN + 1], b[JOBID_LEN + 1], big[66], host[NAME_MAX_LEN + 1], boot[64];

	CHECK(id_random(a, JOBID_LEN) == 0 && strlen(a) == JOBID_LEN, "id_random length");
	CHECK(strspn(a, alphabet) == JOBID_LEN, "id_random alphabet");
	CHECK(id_random(b, JOBID_LEN) == 0 && strcmp(a, b) != 0, "two id_random calls differ");
	CHECK(name_ok(a), "a random id is a valid name");
	CHECK(id_random(big, 64) == 0 && strlen(big) == 64 && strspn(big, alphabet) == 64, "id_random 64 chars");
	CHECK(id_random(big, 65) == -1, "id_random refuses more than 64");

	node_name(host, sizeof host);
	CHECK(name_ok(host), "node_name is a valid name");
	boot_id(boot, sizeof boot);
	CHECK(boot[0] != '\0' && !strchr(boot, '\n'), "boot_id non-empty, one line");
	uint64_t st = proc_start_ticks(getpid());
	CHECK(st > 0 && st == proc_start_ticks(getpid()), "proc_start_ticks of self stable");
	CHECK(proc_start_ticks(0x7ffffff0) == 0, "proc_start_ticks of absent pid is 0");
	uint64_t m = mono_ms();
	CHECK(mono_ms() >= m && wall_ms() > 1577836800000ull, "clocks");
}

static bool clean_is(const char *in, const char *want)
{
	char out[256];
	struct buf b;
	buf_init(&b);
	buf_add_clean(&b, in, strlen(in));
	bool ok = strcmp(text_clean(out, sizeof out, in), want) == 0 && strcmp(b.p, want) == 0;
	buf_free(&b);
	return ok;
}

static void test_clean(void)
{
	char small[8];
	CHECK(clean_is("/data/run 1/x_y-z.txt", "/data/run 1/x_y-z.txt"), "text_clean keeps plain text");
	CHECK(clean_is("a\nFORGED\033[31m\tb\r\x7f", "a%0AFORGED%1B[31m%09b%0D%7F"),
	      "text_clean escapes C0 controls, tab and DEL");
	CHECK(clean_is("caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80"),
	      "text_clean keeps valid UTF-8 (2, 3 and 4 bytes)");
	CHECK(clean_is("x\xc2\x9b" "31m\xc2\x85", "x%C2%9B31m%C2%85"), "text_clean escapes C1 controls (CSI, NEL)");
	CHECK(clean_is("\x9b\xff\xc3(\xe2\x82", "%9B%FF%C3(%E2%82"), "text_clean escapes bytes that are not UTF-8");
	CHECK(clean_is("\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80", "%C0%AF%ED%A0%80%F4%90%80%80"),
	      "text_clean escapes overlong forms, surrogates and code points above U+10FFFF");
	CHECK(clean_is("a\xe2\x80\xa8" "b\xe2\x80\xae" "c\xe2\x81\xa6", "a%E2%80%A8b%E2%80%AEc%E2%81%A6"),
	      "text_clean escapes line separators and bidi overrides");
	CHECK(clean_is("50% done %0A", "50% done %0A"), "text_clean keeps '%' (cleaning twice changes nothing)");
	CHECK(strcmp(text_clean(small, sizeof small, "abcde\n"), "abcde") == 0,
	      "text_clean stops before an escape that does not fit");
	CHECK(strcmp(text_clean(small, sizeof small, "ab\ncdefgh"), "ab%0Acd") == 0, "text_clean truncates to the buffer");
}

static bool size_is(const char *s, uint64_t max, uint64_t want)
{
	uint64_t v = 12345;
	return parse_size(s, max, &v) == 0 && v == want;
}

static bool size_fails(const char *s, uint64_t max)
{
	uint64_t v = 12345;
	return parse_size(s, max, &v) == -1 && v == 12345;
}

static void test_sizes(void)
{
	char b[32];
	CHECK(size_is("512", UINT64_MAX, 512), "size: bytes");
	CHECK(size_is("50M", UINT64_MAX, 50ull << 20), "size: 50M");
	CHECK(size_is("50m", UINT64_MAX, 50ull << 20), "size: 50m");
	CHECK(size_is("4K", UINT64_MAX, 4096), "size: 4K");
	CHECK(size_is("2GB", UINT64_MAX, 2ull << 30), "size: 2GB");
	CHECK(size_is("1T", UINT64_MAX, 1ull << 40), "size: 1T");
	CHECK(size_is("1.5G", UINT64_MAX, 3ull << 29), "size: 1.5G");
	CHECK(size_is("0.5K", UINT64_MAX, 512), "size: 0.5K");
	CHECK(size_fails("1.5", UINT64_MAX), "size: a fraction of a byte is refused");
	CHECK(size_fails("", UINT64_MAX), "size: empty");
	CHECK(size_fails("-1M", UINT64_MAX), "size: negative");
	CHECK(size_fails("5X", UINT64_MAX), "size: unknown unit");
	CHECK(size_fails("5MM", UINT64_MAX), "size: two units");
	CHECK(size_fails("M", UINT64_MAX), "size: a unit alone");
	CHECK(size_fails("2G", 1ull << 30), "size: over max");
	CHECK(size_is("1G", 1ull << 30, 1ull << 30), "size: max itself");
	CHECK(size_fails("99999999999999999999", UINT64_MAX), "size: over 2^64");
	CHECK(size_fails("17179869184T", UINT64_MAX), "size: unit overflows");
	format_size(50ull << 20, b, sizeof b);
	CHECK(strcmp(b, "50M") == 0, "format_size: 50M");
	format_size(1536, b, sizeof b);
	CHECK(strcmp(b, "1536") == 0, "format_size: 1536 stays bytes");
	format_size(3ull << 29, b, sizeof b);
	CHECK(strcmp(b, "1536M") == 0, "format_size: 1.5G is 1536M");
	format_size(0, b, sizeof b);
	CHECK(strcmp(b, "0") == 0, "format_size: 0");
}

static void test_cpus(void)
{
	char why[200];
	CHECK(cpus_choose(2, 0, 0, 0, 1024, why, sizeof why) == 2, "cpus: affinity alone");
	CHECK_HAS(why, "2 engines: affinity 2 CPUs, no cgroup CPU quota, SLURM_CPUS_ON_NODE unset", "cpus: says why");
	CHECK(cpus_choose(8, 150000, 100000, 0, 1024, why, sizeof why) == 2, "cpus: quota 1.5 rounds up to 2");
	CHECK_HAS(why, "cgroup quota 1.50", "cpus: names the quota");
	CHECK(cpus_choose(8, 50000, 100000, 0, 1024, why, sizeof why) == 1, "cpus: quota 0.5 gives 1");
	CHECK(cpus_choose(2, 800000, 100000, 0, 1024, why, sizeof why) == 2, "cpus: a quota above the affinity");
	CHECK(cpus_choose(8, 0, 0, 3, 1024, why, sizeof why) == 3, "cpus: SLURM_CPUS_ON_NODE lowers");
	CHECK_HAS(why, "SLURM_CPUS_ON_NODE 3", "cpus: names slurm");
	CHECK(cpus_choose(2, 0, 0, 16, 1024, why, sizeof why) == 2, "cpus: SLURM_CPUS_ON_NODE never raises");
	CHECK(cpus_choose(4, 300000, 100000, 2, 1024, why, sizeof why) == 2, "cpus: the least of the three");
	CHECK(cpus_choose(0, 0, 0, 0, 1024, why, sizeof why) == 1, "cpus: unknown affinity gives 1");
	CHECK(cpus_choose(4096, 0, 0, 0, 1024, why, sizeof why) == 1024, "cpus: at most max");
	CHECK(cpus_choose(1, 1, 100000, 0, 1024, why, sizeof why) == 1, "cpus: a tiny quota gives 1");
}

int main(void)
{
	test_sizes();
	test_cpus();
	test_numbers();
	test_buf();
	test_clean();
	test_names();
	test_jobref();
	test_ids();
	return unit_done();
}
