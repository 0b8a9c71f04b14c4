/* test_assignrec.c - the expanded size of a task, computed without building it, bounds what is
 * built, and assign_check names the limit a job would break. */
#include "assignrec.h"
#include "rec.h"
#include "schema.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

static const struct spool_key key = { { 0 }, true };

static struct assign_tmpl tmpl(const char *argv, size_t argv_len, int is_map)
{
	struct assign_tmpl t = { .id = "j1", .cwd = "/d", .outdir = "/d/spool-j1", .owner = 1000,
				 .is_map = is_map, .argv = argv, .argv_len = argv_len, .env = "A=%\n", .env_len = 5 };
	return t;
}

/* Built size <= measured size, and the same number of arguments, for item. */
static bool bounded(const struct assign_tmpl *t, const char *item, int64_t idx)
{
	struct buf b;
	struct assign_size s;
	struct rec r;
	struct err e;
	size_t n = item ? strlen(item) : 0;
	buf_init(&b);
	assign_build(&b, &key, t, idx, item, 1, 1, 1);
	assign_measure(t, n, item ? rec_escaped_len(item, n) : 0, 20, &s);
	bool ok = b.len <= s.record && rec_parse(&r, b.p, b.len, &schema_assign, &e) == 0;
	if (ok) {
		ok = rec_count(&r, "arg") == s.nargs;
		rec_free(&r);
	}
	buf_free(&b);
	return ok;
}

int main(void)
{
	static const char a1[] = "sh\0-c\0echo {}%{#} {}\0";
	struct assign_tmpl t = tmpl(a1, sizeof a1 - 1, 1);
	CHECK(bounded(&t, "a\nb%", 7), "a map with {}, {#} and escapes: built within the measured size");
	CHECK(bounded(&t, "", 1), "  ... with an empty item");
	static const char a2[] = "echo\0";
	t = tmpl(a2, sizeof a2 - 1, 1);
	CHECK(bounded(&t, "appended", 3), "a map without {}: the item appended, counted");
	t.is_map = 0;
	CHECK(bounded(&t, NULL, 1), "a submit: no substitution");
	t.mem = 1125899906842624; /* MAX_MEM, and a timeout: their lines are counted */
	t.timeout_ms = INT64_MAX;
	CHECK(bounded(&t, NULL, 1), "a submit with a memory limit and a timeout: built within the measured size");
	t.mem = t.timeout_ms = 0;
	/* GNU parallel's strings over items of several values (0x1F between): a dirname may be "."
	 * for each empty value, a string of every value splits its argument, {%} is 20 digits. */
	static const char a3[] = "p\0x{//}y{}\0{1.}{2/}{2//}{/.}{%}{#}\0{}\0";
	t = tmpl(a3, sizeof a3 - 1, 1);
	t.nsrc = 3;
	CHECK(bounded(&t, "\x1f\x1f", 12), "three empty values with {//} and {}: built within the measured size");
	CHECK(bounded(&t, "d/a.c\x1f/x/\x1f%%", 12), "  ... and three values with slashes, dots and escapes");
	t.nsrc = 2;
	CHECK(bounded(&t, "a\x1f" "b", 1), "  ... two values: one argument per value where {} splits it");
	static const char a4[] = "echo\0";
	t = tmpl(a4, sizeof a4 - 1, 1);
	t.nsrc = 3;
	CHECK(bounded(&t, "a\x1f\x1f" "c", 3), "no replacement string: each of the three values appended, counted");
	static const char a5[] = "echo\0{= 1 =}{##}{print}\0";
	t = tmpl(a5, sizeof a5 - 1, 1);
	CHECK(bounded(&t, "it", 3), "strings spool refuses at submit stay literal when built (and the item is appended)");

	struct err e;
	char *big = malloc(2 * 30000 + 8);
	memcpy(big, "echo", 5);
	for (int i = 0; i < 30000; i++)
		memcpy(big + 5 + 2 * i, "{}", 2);
	big[5 + 60000] = '\0';
	t = tmpl(big, 5 + 60000 + 1, 1);
	CHECK(assign_check(&t, 65536, 65536, 2, &e) < 0 &&
		      unit_has(e.msg, "argument 2 of a task would be 1966080000 bytes"),
	      "30,000 {} with 64 KiB items: refused, naming the argument and its size");
	CHECK(assign_check(&t, 2, 2, 2, &e) == 0, "  ... the same template with 2-byte items fits");
	t.outdir = NULL;
	char od[MAX_OUTDIR_LEN + 2];
	memset(od, 'o', sizeof od - 1);
	od[0] = '/';
	od[sizeof od - 1] = '\0';
	t.outdir = od;
	CHECK(assign_check(&t, 1, 1, 1, &e) < 0 && unit_has(e.msg, "output directory is 4049 bytes, limit 4048"),
	      "an output directory one byte past MAX_OUTDIR_LEN is refused");
	od[sizeof od - 2] = '\0';
	CHECK(assign_check(&t, 1, 1, 1, &e) == 0, "  ... and one of exactly MAX_OUTDIR_LEN fits");
	free(big);
	return unit_done();
}
