/* rec.h - the spool record format: versioned, line-oriented, strictly parsed.
 *
 *   spool-record FORMAT TYPE\n
 *   KEY SP VALUE\n          (repeated; KEY is [a-z0-9_]{1,32})
 *   end\n
 *
 * VALUE bytes 0x00-0x1f, 0x7f and '%' are written as %XX; %00 is refused on
 * input, so a decoded value never holds a NUL. Nothing may follow "end".
 * Every record read from the spool is untrusted: rec_parse() checks it against
 * a schema (allowed keys, which are required or repeatable, lengths, counts).
 */
#ifndef SPOOL_REC_H
#define SPOOL_REC_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "util.h"

#define REC_FORMAT 1 /* highest record format this build reads and the one it writes */

struct rec_field {
	const char *key;
	const char *val;
	size_t len;
	unsigned line;
};

struct rec_schema;

struct rec {
	char type[32];
	unsigned format;
	struct rec_field *f;
	size_t n;
	char *mem;
	const struct rec_schema *schema; /* what it was checked against (NULL: none) */
	size_t *counts, *first;          /* per rule of the schema: occurrences, index of the first */
};

enum {
	RF_REQ = 1,   /* must be present */
	RF_MULTI = 2, /* may repeat (up to max_count) */
	RF_NUM = 4,   /* decimal unsigned integer */
};

struct rec_rule {
	const char *key;
	unsigned flags;
	size_t max_len;   /* bytes of the decoded value */
	size_t max_count; /* for RF_MULTI */
};

struct rec_schema {
	const char *type;
	size_t max_size; /* bytes of the whole encoded record */
	const struct rec_rule *rules;
	size_t nrules;
};

/* Parse and validate; on failure fill e with a reason naming the line, return -1. */
int rec_parse(struct rec *r, const char *data, size_t len, const struct rec_schema *s, struct err *e);
/* Only read the header (format and type), for dispatch on type. */
int rec_peek_type(const char *data, size_t len, char *type, size_t typesz, struct err *e);
void rec_free(struct rec *r);

const char *rec_get(const struct rec *r, const char *key);
size_t rec_count(const struct rec *r, const char *key);
/* Value of a numeric field, or dflt when absent (the schema has checked the syntax). */
uint64_t rec_get_u64(const struct rec *r, const char *key, uint64_t dflt);

void rec_begin(struct buf *b, const char *type);
void rec_put(struct buf *b, const char *key, const char *val);
void rec_putn(struct buf *b, const char *key, const char *val, size_t n);
void rec_put_u64(struct buf *b, const char *key, uint64_t v);
void rec_put_i64(struct buf *b, const char *key, int64_t v);
void rec_end(struct buf *b);

/* The escaping alone, for values embedded in other text (published task lines). */
void rec_escape(struct buf *b, const char *val, size_t n);
/* How many bytes rec_escape writes for these n bytes (sizes computed without building). */
size_t rec_escaped_len(const char *val, size_t n);

#endif
