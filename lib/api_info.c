/* api_info.c - spool_info(): what a spool is and how it fares, for `spool doctor` and
 * `spool status`, so that the command reads no spool directory or record itself. */
#include "spool.h"
#include "fsio.h"
#include "rec.h"
#include "schema.h"
#include "spooldir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Who announced itself as the controller (ctl/controller), if anyone ever did. */
static void read_controller(struct spooldir *sd, struct spool_info *in)
{
	struct buf b;
	struct rec r;
	struct stat st;
	buf_init(&b);
	if (fs_read_file(sd->ctl, "controller", MAX_SMALL_RECORD, &b, &st, NULL) == 0 &&
	    rec_parse(&r, b.p, b.len, &schema_ctlinfo, NULL) == 0) {
		const char *v = rec_get(&r, "version"), *db = rec_get(&r, "database");
		in->controller_ran = 1;
		in->controller_uid = st.st_uid;
		in->controller_pid = (int64_t)rec_get_u64(&r, "pid", 0);
		in->controller_node = xstrdup(rec_get(&r, "node"));
		in->controller_version = xstrdup(v ? v : "");
		in->database = xstrdup(db ? db : "");
		rec_free(&r);
	}
	buf_free(&b);
}

static void count_engines(spool_t *sp, struct spool_info *in)
{
	struct spool_engine *e;
	size_t n;
	char err[SPOOL_ERRLEN];
	if (spool_engines(sp, &e, &n, err, sizeof err) < 0) {
		in->engines_live = in->engines_dead = -1;
		in->engines_error = xstrdup(err);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(e[i].state, "dead") == 0)
			in->engines_dead++;
		else
			in->engines_live++;
	}
	spool_engines_free(e);
}

/* Each rejected record has its RAND.NAME.reason beside it. */
static long count_quarantined(struct spooldir *sd)
{
	char **names;
	long n = fs_list(sd->quarantine, &names, NULL), k = 0;
	if (n < 0)
		return -1;
	for (long i = 0; i < n; i++)
		k += has_suffix(names[i], ".reason");
	fs_list_free(names, n);
	return k;
}

int spool_info(spool_t *sp, int patient, struct spool_info **out)
{
	struct spooldir *sd = api_spooldir(sp);
	struct spool_info *in = xcalloc(1, sizeof *in);
	struct stat st;
	char msg[SPOOL_ERRLEN];

	in->path = sd->path;
	in->layout = sd->layout;
	in->fstype = spooldir_fstype(sd->root, &in->fs_remote);
	in->owner = sd->owner;
	in->shared = sd->shared;
	in->shared_with_all = sd->shared && fstat(sd->root, &st) == 0 && (st.st_mode & 05) != 0;
	in->controller_uid = in->controller_pid = -1;
	read_controller(sd, in);
	if (!in->controller_ran) {
		in->controller_node = xstrdup("");
		in->controller_version = xstrdup("");
		in->database = xstrdup("");
	}
	in->controller_running = spool_controller_running(sp, msg, sizeof msg, patient);
	in->controller_status = xstrdup(msg);
	count_engines(sp, in);
	in->quarantined = count_quarantined(sd);
	*out = in;
	return 0;
}

void spool_info_free(struct spool_info *in)
{
	if (!in)
		return;
	free(in->controller_status);
	free(in->controller_node);
	free(in->controller_version);
	free(in->database);
	free(in->engines_error);
	free(in);
}
