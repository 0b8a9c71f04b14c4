/* mac.h - the spool key and the MACs that prove a record came from the controller.
 *
 * spoold seals what it hands to workers (assignments, registration replies) with
 * libsodium's crypto_auth (HMAC-SHA-512-256) under the 32-byte spool key, as a last
 * field before "end":
 *
 *   spool-record 1 assign\n ... fields ... mac HEX64\n end\n
 *
 * The MAC covers every byte before the "mac" line. Workers check it before parsing
 * anything else, so a record planted by someone without the key is refused unread.
 */
#ifndef SPOOL_MAC_H
#define SPOOL_MAC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "log.h"
#include "util.h"

#define SPOOL_KEY_BYTES 32

struct spool_key {
	unsigned char k[SPOOL_KEY_BYTES];
	bool loaded;
};

/* Read DIR/key (O_NOFOLLOW, one link, regular, owned by the spool's owner `owner`, mode
 * 0600 or 0400). Messages name the path and say what to do. */
int key_load(int rootfd, const char *spool_path, uid_t owner, struct spool_key *k, struct err *e);

/* Finish a record begun with rec_begin(): append its "mac" line and "end". */
void rec_end_sealed(struct buf *b, const struct spool_key *k);
/* Check the trailing "mac" line of an encoded record. 0 if it is valid; otherwise -1 with
 * a reason in e (missing, malformed, or not matching). */
int mac_check(const struct spool_key *k, const char *data, size_t len, struct err *e);

#endif
