/* unit.h - a tiny header-only test harness.
 *
 * CHECK(cond, name) prints exactly one line on stdout per check:
 *   PASS: <file-stem>: <name>
 *   FAIL: <file-stem>: <name> (<file>:<line>)
 * CHECK_HAS(text, sub, name) checks that text contains sub; on failure it also
 * prints the actual text on stderr. main() ends with `return unit_done();`.
 */
#ifndef SPOOL_UNIT_H
#define SPOOL_UNIT_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int unit_failures;

static inline bool unit_check(bool ok, const char *name, const char *file, int line)
{
	const char *base = strrchr(file, '/');
	base = base ? base + 1 : file;
	int stem = (int)strcspn(base, ".");
	if (ok) {
		printf("PASS: %.*s: %s\n", stem, base, name);
	} else {
		printf("FAIL: %.*s: %s (%s:%d)\n", stem, base, name, file, line);
		unit_failures++;
	}
	fflush(stdout);
	return ok;
}

static inline bool unit_has(const char *text, const char *sub)
{
	return text && sub && strstr(text, sub) != NULL;
}

#define CHECK(cond, name) unit_check((cond) ? true : false, (name), __FILE__, __LINE__)

#define CHECK_HAS(text, sub, name)                                                           \
	do {                                                                                 \
		const char *unit_t_ = (text);                                                \
		if (!CHECK(unit_has(unit_t_, (sub)), (name)))                                \
			fprintf(stderr, "  expected \"%s\" in \"%s\"\n", (sub),              \
				unit_t_ ? unit_t_ : "(null)");                               \
	} while (0)

static inline int unit_done(void)
{
	return unit_failures ? 1 : 0;
}

#endif
