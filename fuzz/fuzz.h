/* fuzz.h - shared checks for the libFuzzer targets in fuzz/ (see fuzz/README.md).
 *
 * Each fuzz_TARGET.c defines LLVMFuzzerTestOneInput. Built with clang's -fsanitize=fuzzer it
 * is a fuzzer; linked with fuzz/replay.c (any compiler) it replays saved inputs, which is how
 * `make check` keeps every crash once found from coming back.
 *
 * A failed check aborts, so the fuzzer saves the input and the replay test fails.
 */
#ifndef SPOOL_FUZZ_H
#define SPOOL_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "rec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort with the failed condition: an invariant of the code under test does not hold. */
#define FUZZ_CHECK(cond)                                                                        \
	do {                                                                                    \
		if (!(cond))                                                                    \
			fuzz_fail(__FILE__, __LINE__, #cond);                                   \
	} while (0)
void fuzz_fail(const char *file, int line, const char *what) __attribute__((noreturn));

/* Parse data with schema s the way every reader does, and check what rec.h promises:
 * on failure a reason and an empty record; on success every field allowed by the schema,
 * within its limits, NUL-free, readable through rec_get/rec_count/rec_get_u64, and the
 * record encoded again with rec_put* parses back to the same fields. Returns rec_parse's
 * result; on 0 the caller reads r and frees it with rec_free. */
int fuzz_rec_parse(struct rec *r, const uint8_t *data, size_t size, const struct rec_schema *s);

/* Every value of a repeated key: at most max of them (the schema's bound), each read. */
void fuzz_use_each(const struct rec *r, const char *key, size_t max);

/* fuzz_rec_parse, then, for an accepted record, use(r) and rec_free. */
void fuzz_try(const uint8_t *data, size_t size, const struct rec_schema *s, void (*use)(const struct rec *));

/* rec_peek_type on the same bytes: a header it accepts is one rec_parse accepts too. */
void fuzz_rec_peek(const uint8_t *data, size_t size);

/* Some bytes derived from a string, so the compiler cannot drop the reads that ASan checks. */
void fuzz_use(const char *s);

/* A private directory for targets that need files (conf_load reads a path, vars a directory):
 * under /dev/shm when there is one (no disk writes at thousands of runs a second), else $TMPDIR.
 * Created on first use, removed at exit. */
const char *fuzz_tmpdir(void);

#endif
