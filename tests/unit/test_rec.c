/* test_rec.c - the record format: encode/decode round trips and every rejection rec_parse makes. */
#include "rec.h"
#include "schema.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#define HDR "spool-record 1 test\n"

/* A small local schema so limits are easy to hit. */
static const struct rec_rule test_rules[] = {
	{ "name", RF_REQ, 8, 0 },
	{ "n", RF_NUM, 20, 0 },
	{ "tag", RF_MULTI, 16, 3 },
	{ "opt", 0, 16, 0 },
};
static const struct rec_schema test_schema = { "test", 64, test_rules, ARRAY_LEN(test_rules) };

/* True when parsing fails, leaves r empty, and the message holds want (details on stderr if not). */
static bool rejects(const char *data, size_t len, const struct rec_schema *s, const char *want)
{
	struct rec r;
	struct err e = { "" };
	int rc = rec_parse(&r, data, len, s, &e);
	bool ok = rc == -1 && r.mem == NULL && r.f == NULL && r.n == 0 && unit_has(e.msg, want);
	if (rc == 0)
		rec_free(&r);
	if (!ok)
		fprintf(stderr, "  rc=%d msg=\"%s\", expected \"%s\"\n", rc, e.msg, want);
	return ok;
}
#define REJECT(data, s, want, name) CHECK(rejects((data), strlen(data), (s), (want)), (name))
#define REJECTN(data, s, want, name) CHECK(rejects((data), sizeof(data) - 1, (s), (want)), (name))

static bool accepts(const char *data, const struct rec_schema *s)
{
	struct rec r;
	struct err e = { "" };
	if (rec_parse(&r, data, strlen(data), s, &e) < 0) {
		fprintf(stderr, "  unexpected error: %s\n", e.msg);
		return false;
	}
	rec_free(&r);
	return true;
}

/* The i-th value of key (0-based), with its decoded length. */
static const char *nth(const struct rec *r, const char *key, size_t i, size_t *len)
{
	for (size_t k = 0; k < r->n; k++)
		if (strcmp(r->f[k].key, key) == 0 && i-- == 0) {
			*len = r->f[k].len;
			return r->f[k].val;
		}
	*len = 0;
	return NULL;
}

static bool same(const char *v, size_t vlen, const char *want, size_t wlen)
{
	return v && vlen == wlen && memcmp(v, want, wlen) == 0;
}

static void test_round_trip_job(void)
{
	static const char tricky[] = "100% done\nnext\tline \x7f caf\xc3\xa9 \xe2\x82\xac %00 %zz\r";
	char all[256];
	struct buf b, again;
	struct rec r;
	struct err e = { "" };
	const char *v;
	size_t len;
	bool clean = true;

	for (int i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	buf_init(&b);
	rec_begin(&b, "job");
	rec_put(&b, "id", "abc123");
	rec_put(&b, "name", "a job name");
	rec_put(&b, "cwd", "/tmp");
	rec_put_u64(&b, "timeout_ms", UINT64_MAX);
	rec_put_u64(&b, "retries", 0);
	rec_put(&b, "arg", "/bin/echo");
	rec_put(&b, "arg", tricky);
	rec_put(&b, "arg", "");
	rec_put(&b, "env", "A=%41");
	rec_putn(&b, "item", all, 255);
	rec_end(&b);

	CHECK(strncmp(b.p, "spool-record 1 job\n", 19) == 0, "encoder writes the header");
	CHECK(b.len >= 4 && strcmp(b.p + b.len - 4, "end\n") == 0, "encoder ends with end line");
	for (size_t i = 0; i < b.len; i++)
		if (((unsigned char)b.p[i] < 0x20 && b.p[i] != '\n') || b.p[i] == 0x7f)
			clean = false;
	CHECK(clean, "encoded record holds no raw control bytes");
	CHECK(unit_has(b.p, "arg 100%25 done%0Anext%09line %7F caf\xc3\xa9 \xe2\x82\xac %2500 %25zz%0D\n"),
	      "encoder escapes %, newline, tab, 0x7f, CR and keeps UTF-8");
	CHECK(unit_has(b.p, "\narg \n"), "empty value encoded as key and space");
	CHECK(unit_has(b.p, "\ntimeout_ms 18446744073709551615\nretries 0\n"), "numbers written in decimal, the largest included");
	{
		struct buf nb;
		buf_init(&nb);
		rec_put_i64(&nb, "low", INT64_MIN);
		rec_put_i64(&nb, "minus", -42);
		rec_put_i64(&nb, "zero", 0);
		CHECK(strcmp(nb.p, "low -9223372036854775808\nminus -42\nzero 0\n") == 0, "signed numbers written in decimal");
		buf_free(&nb);
	}

	CHECK(rec_parse(&r, b.p, b.len, &schema_job, &e) == 0, "job record parses with schema_job");
	if (!r.mem) {
		fprintf(stderr, "  error: %s\n", e.msg);
		buf_free(&b);
		return;
	}
	CHECK(r.format == 1 && strcmp(r.type, "job") == 0, "format and type read back");
	CHECK(r.n == 10, "field count");
	CHECK(strcmp(rec_get(&r, "id"), "abc123") == 0, "id value");
	CHECK(strcmp(rec_get(&r, "name"), "a job name") == 0, "value with spaces");
	CHECK(rec_count(&r, "arg") == 3 && rec_count(&r, "env") == 1 && rec_count(&r, "outdir") == 0,
	      "rec_count");
	CHECK(rec_get(&r, "outdir") == NULL, "rec_get of absent field is NULL");
	CHECK(rec_get_u64(&r, "timeout_ms", 7) == UINT64_MAX, "u64 max round trip");
	CHECK(rec_get_u64(&r, "retries", 7) == 0, "u64 zero round trip");
	CHECK(rec_get_u64(&r, "map", 7) == 7, "rec_get_u64 default when absent");
	v = nth(&r, "arg", 1, &len);
	CHECK(same(v, len, tricky, sizeof tricky - 1), "tricky value decodes byte for byte");
	v = nth(&r, "arg", 2, &len);
	CHECK(same(v, len, "", 0) && v[0] == '\0', "empty value round trip");
	v = nth(&r, "env", 0, &len);
	CHECK(same(v, len, "A=%41", 5), "percent not double-decoded");
	v = nth(&r, "item", 0, &len);
	CHECK(same(v, len, all, 255), "all bytes 0x01..0xff round trip");
	CHECK(r.f[9].line == 11 && r.f[0].line == 2, "field line numbers");

	buf_init(&again);
	rec_begin(&again, r.type);
	for (size_t i = 0; i < r.n; i++)
		rec_putn(&again, r.f[i].key, r.f[i].val, r.f[i].len);
	rec_end(&again);
	CHECK(again.len == b.len && memcmp(again.p, b.p, b.len) == 0, "re-encoding gives identical bytes");
	buf_free(&again);
	rec_free(&r);
	CHECK(r.mem == NULL && r.f == NULL && r.n == 0, "rec_free clears the record");
	buf_free(&b);
}

static void test_round_trip_done(void)
{
	struct buf b;
	struct rec r;
	struct err e = { "" };
	char type[32];

	buf_init(&b);
	rec_begin(&b, "done");
	rec_put(&b, "job", "abc123");
	rec_put_u64(&b, "task", 3);
	rec_put_u64(&b, "attempt", 1);
	rec_put_u64(&b, "engine", 42);
	rec_put(&b, "wid", "w-1");
	rec_put(&b, "node", "node1");
	rec_put(&b, "status", "exited");
	rec_put_u64(&b, "exit", 255);
	rec_put(&b, "reason", "");
	rec_end(&b);
	CHECK(rec_parse(&r, b.p, b.len, &schema_done, &e) == 0, "done record parses with schema_done");
	CHECK(rec_get_u64(&r, "exit", 0) == 255 && rec_get_u64(&r, "engine", 0) == 42, "done numbers");
	CHECK(rec_get(&r, "reason") && rec_get(&r, "reason")[0] == '\0', "done empty reason");
	rec_free(&r);
	CHECK(rec_peek_type(b.p, b.len, type, sizeof type, &e) == 0 && strcmp(type, "done") == 0,
	      "rec_peek_type reads the type");
	CHECK(rejects(b.p, b.len, &schema_job, "expected a job record, found a done record"),
	      "wrong record type vs schema");
	CHECK(rejects(b.p, b.len, &schema_hello, "expected a hello record, found a done record"),
	      "done record refused by schema_hello");
	buf_free(&b);

	REJECT("spool-record 1 done\njob a\ntask 1\nattempt 1\nengine 1\nwid w\nnode n\nend\n", &schema_done,
	       "required field 'status' missing from done record", "done without status");
	REJECT("spool-record 1 done\njob a\ntask 1\nattempt 1\nengine 1\nwid w\nnode n\nstatus ok\nexit 1000\n"
	       "end\n",
	       &schema_done, "field 'exit' is 4 bytes in done record (line 9), limit 3", "done exit too long");
	REJECT("spool-record 1 job\nid a\ncwd /\nend\n", &schema_job, "required field 'arg' missing from job",
	       "job without arg");
	REJECT("spool-record 1 job\nid a\ncwd /\narg x\nmap 2x\nend\n", &schema_job, "field 'map'",
	       "job map not a number");
	CHECK(accepts("spool-record 1 beat\ncount 7\nrunning a\nrunning b\nend\n", &schema_beat),
	      "beat with repeated running parses");
	CHECK(accepts("spool-record 1 cancel\njob abc\nend\n", &schema_cancel), "cancel parses");
}

static void test_local_accepts(void)
{
	static const char exact[] = HDR "name abcdefgh\nopt 0123456789abcdef\nn 12\nend\n";
	struct rec r;
	struct err e = { "" };

	CHECK(sizeof exact - 1 == 64 && accepts(exact, &test_schema), "record of exactly max_size accepted");
	CHECK(accepts(HDR "name %25%25%25%25%25%25%25%25\nend\n", &test_schema),
	      "length limit counts decoded bytes");
	CHECK(accepts(HDR "name x\ntag a\ntag b\ntag c\nend\n", &test_schema), "repeat up to max_count");
	CHECK(accepts(HDR "name x\nn 18446744073709551615\nend\n", &test_schema), "u64 max accepted");
	CHECK(accepts(HDR "name x\nn 00000000000000000007\nend\n", &test_schema), "20 digits with zeros");
	CHECK(rec_parse(&r, HDR "name x\nopt\nend\n", strlen(HDR "name x\nopt\nend\n"), &test_schema, &e) == 0 &&
		      rec_get(&r, "opt") && strcmp(rec_get(&r, "opt"), "") == 0,
	      "key without space is an empty value");
	rec_free(&r);
	CHECK(rec_parse(&r, HDR "anything goes\nend\n", strlen(HDR "anything goes\nend\n"), NULL, &e) == 0 &&
		      strcmp(rec_get(&r, "anything"), "goes") == 0,
	      "NULL schema skips field checks");
	rec_free(&r);
}

static void test_rejects(void)
{
	const struct rec_schema *s = &test_schema;
	static const char nul[] = HDR "name a\0b\nend\n";
	char big[MAX_SMALL_RECORD + 1];

	/* truncation and framing */
	REJECT("spool-record 1 test", s, "truncated record: no complete first line", "no first line");
	REJECT(HDR "name x\n", s, "truncated record: missing 'end' line", "no end line");
	REJECT(HDR, s, "truncated record: missing 'end' line", "header only");
	REJECT(HDR "name x", s, "truncated record: line 2 has no newline and there is no 'end'", "partial line");
	REJECT(HDR "name x\nend", s, "line 3 has no newline", "end without newline");
	REJECT(HDR "name x\nend\nx", s, "data after the 'end' line (line 4)", "data after end");
	REJECT(HDR "name x\nend\nend\n", s, "data after the 'end' line", "second end line");
	/* bytes and escapes */
	REJECTN(nul, s, "record contains a NUL byte", "NUL byte in data");
	REJECT(HDR "name a%00b\nend\n", s, "bad value for field 'name' on line 2", "%00 escape");
	REJECT(HDR "name a%4Gb\nend\n", s, "bad value for field 'name' on line 2", "bad %XX hex digit");
	REJECT(HDR "name a%4\nend\n", s, "bad value for field 'name'", "short %X at end");
	REJECT(HDR "name a%\nend\n", s, "bad value for field 'name'", "lone % at end");
	REJECT(HDR "name a\tb\nend\n", s, "raw control byte", "raw tab");
	REJECT(HDR "name a\x7f\nend\n", s, "raw control byte", "raw 0x7f");
	REJECT(HDR "name x\r\nend\n", s, "raw control byte", "CRLF line ending");
	/* field names */
	REJECT(HDR "Name x\nend\n", s, "bad field name on line 2", "upper-case field name");
	REJECT(HDR " x\nend\n", s, "bad field name on line 2", "empty field name");
	REJECT(HDR "abcdefghijklmnopqrstuvwxyz0123456 v\nend\n", s, "bad field name on line 2",
	       "33-byte field name");
	/* schema checks */
	REJECT(HDR "name x\nbogus 1\nend\n", s, "unknown field 'bogus' in test record (line 3)", "unknown field");
	REJECT(HDR "name x\nname y\nend\n", s, "field 'name' appears twice in test record (line 3)",
	       "duplicate non-repeat field");
	REJECT(HDR "opt x\nend\n", s, "required field 'name' missing from test record", "missing required field");
	REJECT(HDR "name abcdefghi\nend\n", s, "field 'name' is 9 bytes in test record (line 2), limit 8",
	       "too-long value");
	REJECT(HDR "name %25%25%25%25%25%25%25%25%25\nend\n", s, "field 'name' is 9 bytes", "too-long escaped value");
	REJECT(HDR "name x\ntag a\ntag b\ntag c\ntag d\nend\n", s, "too many 'tag' fields in test record (limit 3)",
	       "too many repeated fields");
	REJECT(HDR "name x\nn 12a\nend\n", s, "field 'n' in test record (line 3) is not an unsigned integer",
	       "non-numeric RF_NUM");
	REJECT(HDR "name x\nn -1\nend\n", s, "is not an unsigned integer", "negative RF_NUM");
	REJECT(HDR "name x\nn \nend\n", s, "is not an unsigned integer", "empty RF_NUM");
	REJECT(HDR "name x\nn 18446744073709551616\nend\n", s, "is not an unsigned integer", "overflow u64");
	REJECT(HDR "name x\nn 100000000000000000000\nend\n", s, "field 'n' is 21 bytes", "21-digit number");
	/* sizes */
	REJECT(HDR "name abcdefgh\nopt 0123456789abcdef\nn 123\nend\n", s, "test record is 65 bytes, limit 64",
	       "oversized record vs local max_size");
	memset(big, 'x', sizeof big);
	memcpy(big, "spool-record 1 done\n", 20);
	CHECK(rejects(big, sizeof big, &schema_done, "done record is 65537 bytes, limit 65536"),
	      "oversized record vs schema_done max_size");
	/* header */
	REJECT("spool-record 2 test\nname x\nend\n", s, "record format 2, this program reads up to 1: upgrade",
	       "newer format version");
	REJECT("hello 1 test\nend\n", s, "not a spool record", "bad magic");
	REJECT("spool-record test\nend\n", s, "format number missing", "header without format");
	REJECT("spool-record 1\nend\n", s, "expected a type after the format number", "header without type");
	REJECT("spool-record 1 Te-st\nend\n", s, "invalid record type", "header with bad type");
	REJECT("spool-record 1 test \nend\n", s, "invalid record type", "header with trailing space");
	REJECT("spool-record 0 test\nend\n", s, "format 0 does not exist", "format 0");
	REJECT("spool-record 99999999 test\nend\n", s, "format number too large", "huge format number");
	REJECT("spool-record 1 job\nid a\ncwd /\narg x\nend\n", s, "expected a test record, found a job record",
	       "wrong record type vs local schema");
}

static void test_peek(void)
{
	char type[32] = "";
	struct err e = { "" };
	static const char newer[] = "spool-record 2 done\nend\n";

	CHECK(rec_peek_type(newer, strlen(newer), type, sizeof type, &e) == -1 &&
		      unit_has(e.msg, "record format 2, this program reads up to 1: upgrade"),
	      "rec_peek_type refuses a newer format");
	CHECK(rec_peek_type("spool-record 1 done", 19, type, sizeof type, &e) == -1 &&
		      unit_has(e.msg, "no complete first line"),
	      "rec_peek_type refuses a truncated header");
	CHECK(rec_peek_type("spool-record 1 done\n", 20, type, 4, &e) == -1 &&
		      unit_has(e.msg, "invalid record type"),
	      "rec_peek_type respects the type buffer size");
}

static void test_escape(void)
{
	struct buf b;
	buf_init(&b);
	rec_escape(&b, "a%b\n\x01\x7f\xff z", 9);
	CHECK(strcmp(b.p, "a%25b%0A%01%7F\xff z") == 0, "rec_escape alone");
	buf_reset(&b);
	rec_put_i64(&b, "opt", -5);
	CHECK(strcmp(b.p, "opt -5\n") == 0, "rec_put_i64 negative");
	buf_free(&b);
}

int main(void)
{
	test_round_trip_job();
	test_round_trip_done();
	test_local_accepts();
	test_rejects();
	test_peek();
	test_escape();
	return unit_done();
}
