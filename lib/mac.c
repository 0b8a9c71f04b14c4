/* mac.c - the spool key and record MACs (libsodium crypto_auth). Only the daemons link it: a
 * new key comes from getrandom in spooldir.c, so the client loads no libsodium at start. */
#include "mac.h"
#include "fsio.h"
#include "rec.h"
#include "spooldir.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>

#define MAC_HEX (2 * crypto_auth_BYTES)
/* "mac " HEX "\n" "end\n" */
#define MAC_TAIL (4 + MAC_HEX + 1 + 4)

static int sodium_ready(struct err *e)
{
	if (sodium_init() < 0)
		return err_set(e, "libsodium failed to initialise (no random source?)");
	return 0;
}

int key_load(int rootfd, const char *spool_path, uid_t owner, struct spool_key *k, struct err *e)
{
	struct buf b;
	struct stat st;
	struct err fe;
	size_t binlen = 0;
	int rc = -1;

	memset(k, 0, sizeof *k);
	if (sodium_ready(e) < 0)
		return -1;
	buf_init(&b);
	if (fs_read_file(rootfd, "key", 256, &b, &st, &fe) < 0) {
		if (errno == EACCES)
			err_set(e, "cannot read the spool key %s/key: permission denied: run this program as "
				   "the spool's owner (uid %u) or root", spool_path, (unsigned)owner);
		else
			err_set(e, "cannot read the spool key %s/key: %s (run 'spool doctor')", spool_path, fe.msg);
		goto out;
	}
	if (st.st_uid != owner) {
		err_set(e, "unsafe spool key %s/key: owned by uid %u, expected the spool's owner uid %u "
			   "(chown %u %s/key)", spool_path, (unsigned)st.st_uid, (unsigned)owner, (unsigned)owner,
			spool_path);
		goto out;
	}
	if (st.st_mode & 077) {
		err_set(e, "unsafe mode %04o on the spool key %s/key: expected 0600, readable by its owner only "
			   "(chmod 600 %s/key)", (unsigned)(st.st_mode & 07777), spool_path, spool_path);
		goto out;
	}
	if (b.len != 2 * SPOOL_KEY_BYTES + 1 || b.p[2 * SPOOL_KEY_BYTES] != '\n' ||
	    sodium_hex2bin(k->k, sizeof k->k, b.p, 2 * SPOOL_KEY_BYTES, NULL, &binlen, NULL) < 0 ||
	    binlen != SPOOL_KEY_BYTES) {
		err_set(e, "the spool key %s/key is damaged: expected 64 hex digits and a newline", spool_path);
		goto out;
	}
	k->loaded = true;
	rc = 0;
out:
	if (b.p)
		sodium_memzero(b.p, b.len);
	buf_free(&b);
	return rc;
}

void rec_end_sealed(struct buf *b, const struct spool_key *k)
{
	unsigned char tag[crypto_auth_BYTES];
	char hex[MAC_HEX + 1];
	crypto_auth(tag, (const unsigned char *)b->p, b->len, k->k);
	sodium_bin2hex(hex, sizeof hex, tag, sizeof tag);
	rec_put(b, "mac", hex);
	rec_end(b);
}

int mac_check(const struct spool_key *k, const char *data, size_t len, struct err *e)
{
	unsigned char tag[crypto_auth_BYTES];
	size_t binlen = 0;
	if (len < MAC_TAIL + 1 || memcmp(data + len - 4, "end\n", 4) != 0 ||
	    memcmp(data + len - MAC_TAIL, "mac ", 4) != 0 || data[len - MAC_TAIL - 1] != '\n')
		return err_set(e, "no MAC: the record was not sealed by this spool's controller");
	const char *hex = data + len - MAC_TAIL + 4;
	if (hex[MAC_HEX] != '\n' ||
	    sodium_hex2bin(tag, sizeof tag, hex, MAC_HEX, NULL, &binlen, NULL) < 0 || binlen != sizeof tag)
		return err_set(e, "malformed MAC line: expected 'mac' and %d hex digits", MAC_HEX);
	if (crypto_auth_verify(tag, (const unsigned char *)data, len - MAC_TAIL, k->k) != 0)
		return err_set(e, "bad MAC: the record was forged or altered, or sealed with another spool key");
	return 0;
}

int spooldir_load_key(struct spooldir *sd, struct err *e)
{
	return key_load(sd->root, sd->path, sd->owner, &sd->key, e);
}
