/* json.h - a minimal JSON writer for --json output (strings escaped per RFC 8259). */
#ifndef SPOOL_JSON_H
#define SPOOL_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

/* Each call appends one element; the writer inserts commas itself. */
struct json {
	struct buf b;
	int depth;
	bool need_comma[32];
};

void json_init(struct json *j);
void json_free(struct json *j);
void json_obj_begin(struct json *j, const char *key); /* key NULL inside arrays / at top */
void json_obj_end(struct json *j);
void json_arr_begin(struct json *j, const char *key);
void json_arr_end(struct json *j);
void json_str(struct json *j, const char *key, const char *val);   /* NULL val -> null */
void json_int(struct json *j, const char *key, int64_t val);
void json_num(struct json *j, const char *key, double val);
void json_bool(struct json *j, const char *key, bool val);
void json_null(struct json *j, const char *key);
/* val when present, else null (for fields a task may not have: exit code, signal, engine...). */
void json_int_or_null(struct json *j, const char *key, int64_t val, bool present);

#endif
