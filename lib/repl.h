/* repl.h - GNU parallel's replacement strings in a map's arguments (spool-layout.md 3.2).
 *
 * A map task's item holds one value per input source, separated by REPL_SEP (0x1F, which no
 * value may hold). In an argument, the controller replaces
 *   {}  {.}  {/}  {//}  {/.}     every value (joined by spaces), as is / without extension /
 *                                basename / dirname / basename without extension
 *   {N} {N.} {N/} {N//} {N/.}    the same for the value of source N (1-based)
 *   {#}                          the task number (from 1)
 *   {%}                          the engine id (not GNU parallel's slot 1..N: see 3.2)
 * Other strings GNU parallel would read as its own ({=perl=}, {##}, {+/}, {1..3}...) are refused at
 * submit and at ingest; anything else in braces ({print $1}) stays literal.
 */
#ifndef SPOOL_REPL_H
#define SPOOL_REPL_H

#include <stddef.h>

#include "log.h"
#include "util.h"

#define REPL_SEP '\x1f'
#define REPL_MAX_SOURCES 32 /* input sources of a map ({1}..{32}) */

enum repl_kind { REPL_NONE, REPL_ITEM, REPL_SEQ, REPL_ENGINE, REPL_BAD };
enum repl_op { REPL_ALL, REPL_NOEXT, REPL_BASE, REPL_DIR, REPL_BASE_NOEXT };

struct repl {
	enum repl_kind kind;
	enum repl_op op;
	size_t src; /* REPL_ITEM: 0 every value, else the source (1-based) */
	size_t len; /* bytes of the string in the argument (REPL_NONE: 0) */
};

/* What starts at p (p[0] == '{' for anything but REPL_NONE). */
void repl_at(const char *p, struct repl *r);
/* Does the argument hold a replacement string? (Without one in any argument, a map appends the
 * values as its last arguments, one argument each, as GNU parallel does.) */
int repl_in(const char *arg);
/* Append the value of an item string r of item (len bytes). */
void repl_value(struct buf *out, const char *item, size_t len, const struct repl *r);
/* How many values the item holds (REPL_SEP count + 1). */
size_t repl_nsrc(const char *item, size_t len);
/* 0 when every replacement string of arg is supported with nsrc sources; else -1 with e naming
 * the string (argument number argno) and what spool supports. */
int repl_check(const char *arg, size_t argno, size_t nsrc, struct err *e);

#endif
