/* json.c - append-only JSON writer used by the client's --json output. */
#include "json.h"

#include <stdio.h>
#include <string.h>

void json_init(struct json *j)
{
	memset(j, 0, sizeof *j);
	buf_init(&j->b);
}

void json_free(struct json *j)
{
	buf_free(&j->b);
}

static void escape(struct buf *b, const char *s)
{
	buf_addc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': buf_adds(b, "\\\""); break;
		case '\\': buf_adds(b, "\\\\"); break;
		case '\n': buf_adds(b, "\\n"); break;
		case '\t': buf_adds(b, "\\t"); break;
		case '\r': buf_adds(b, "\\r"); break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				buf_printf(b, "\\u%04x", *p);
			} else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
				buf_printf(b, "\\u%04x", p[1]); /* C1 controls: a terminal's CSI too */
				p++;
			} else if (p[0] == 0xe2 && ((p[1] == 0x80 && p[2] >= 0xa8 && p[2] <= 0xae) ||
						    (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9))) {
				/* line separators and bidirectional overrides, as text_clean */
				buf_printf(b, "\\u%04x", 0x2000 | (p[1] & 0x3f) << 6 | (p[2] & 0x3f));
				p += 2;
			} else {
				buf_addc(b, (char)*p);
			}
		}
	}
	buf_addc(b, '"');
}

static void key(struct json *j, const char *k)
{
	if (j->need_comma[j->depth])
		buf_addc(&j->b, ',');
	j->need_comma[j->depth] = true;
	if (k) {
		escape(&j->b, k);
		buf_addc(&j->b, ':');
	}
}

static void open_(struct json *j, const char *k, char c)
{
	key(j, k);
	buf_addc(&j->b, c);
	if (j->depth < 31)
		j->depth++;
	j->need_comma[j->depth] = false;
}

static void close_(struct json *j, char c)
{
	buf_addc(&j->b, c);
	if (j->depth > 0)
		j->depth--;
}

void json_obj_begin(struct json *j, const char *k) { open_(j, k, '{'); }
void json_obj_end(struct json *j) { close_(j, '}'); }
void json_arr_begin(struct json *j, const char *k) { open_(j, k, '['); }
void json_arr_end(struct json *j) { close_(j, ']'); }

void json_str(struct json *j, const char *k, const char *v)
{
	key(j, k);
	if (v)
		escape(&j->b, v);
	else
		buf_adds(&j->b, "null");
}

void json_int(struct json *j, const char *k, int64_t v)
{
	key(j, k);
	buf_printf(&j->b, "%lld", (long long)v);
}

void json_num(struct json *j, const char *k, double v)
{
	key(j, k);
	buf_printf(&j->b, "%.3f", v);
}

void json_bool(struct json *j, const char *k, bool v)
{
	key(j, k);
	buf_adds(&j->b, v ? "true" : "false");
}

void json_null(struct json *j, const char *k)
{
	key(j, k);
	buf_adds(&j->b, "null");
}

void json_int_or_null(struct json *j, const char *k, int64_t v, bool present)
{
	if (present)
		json_int(j, k, v);
	else
		json_null(j, k);
}
