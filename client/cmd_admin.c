/* cmd_admin.c - `spool init`, `spool cancel` and `spool doctor`. */
#include "cli.h"
#include "fsio.h"
#include "ids.h"
#include "util.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int only_help(int argc, char **argv, const char *text)
{
	static const struct option opts[] = { { "dir", required_argument, NULL, 'd' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	int o;
	while ((o = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		if (o == 'h') {
			fputs(text, stdout);
			return 0;
		}
		if (o == 'd')
			cli_spool_dir = optarg;
		else
			return SPOOL_EXIT_USAGE;
	}
	return -1;
}

int cmd_init(int argc, char **argv)
{
	int rc = only_help(argc, argv, "usage: spool init DIR\n\nCreate a spool in DIR: its directories, a "
					"commented spool.conf and a random key. Refuses an existing spool.\n");
	struct err e;
	if (rc >= 0)
		return rc;
	const char *dir = optind < argc ? argv[optind] : cli_spool_dir;
	if (!dir || optind + 1 < argc) {
		fprintf(stderr, "usage: spool init DIR\n");
		return SPOOL_EXIT_USAGE;
	}
	if (spooldir_create(dir, &e) < 0) {
		fprintf(stderr, "spool: %s\n", e.msg);
		return SPOOL_EXIT_ERROR;
	}
	char *abs = realpath(dir, NULL);
	printf("created spool %s\n"
	       "next:\n"
	       "  export SPOOL_DIR=%s\n"
	       "  spoold                      # the controller, once, on one node\n"
	       "  spool-worker -n 4           # on every node that runs tasks\n"
	       "  spool submit -- hostname    # then: spool collect JOB\n",
	       abs ? abs : dir, abs ? abs : dir);
	free(abs);
	return 0;
}

int cmd_cancel(int argc, char **argv)
{
	int rc = only_help(argc, argv, "usage: spool cancel JOB | JOB.TASK\n\nQueued tasks never start; running "
					"ones are killed with their whole process group.\n"
					"exit codes: 0 requested, 3 spool error, 4 no such job\n");
	char job[80], err[SPOOL_ERRLEN];
	uint64_t task;
	if (rc >= 0)
		return rc;
	if (optind != argc - 1) {
		fprintf(stderr, "usage: spool cancel JOB | JOB.TASK\n");
		return SPOOL_EXIT_USAGE;
	}
	if (jobref_parse(argv[optind], job, sizeof job, &task) < 0) {
		fprintf(stderr, "spool: '%s' is not JOB or JOB.TASK (tasks count from 1)\n", argv[optind]);
		return SPOOL_EXIT_USAGE;
	}
	spool_t *sp = cli_open();
	if (!sp)
		return SPOOL_EXIT_ERROR;
	if (spool_cancel(sp, job, task, err, sizeof err) < 0) {
		fprintf(stderr, "spool: %s\n", err);
		rc = strstr(err, "no job") || strstr(err, "not a job") || strstr(err, "no task") ? SPOOL_EXIT_NO_JOB
											 : SPOOL_EXIT_ERROR;
	} else {
		printf("cancel of %s requested\n", argv[optind]);
		rc = 0;
	}
	spool_close(sp);
	return rc;
}

int cmd_doctor(int argc, char **argv)
{
	int rc = only_help(argc, argv, "usage: spool doctor\n\nCheck the spool: layout, spool.conf, key, "
					"controller, engines, quarantine. Exit 0 when healthy, 3 otherwise.\n");
	if (rc >= 0)
		return rc;
	spool_t *sp = cli_open();
	if (!sp)
		return SPOOL_EXIT_ERROR;
	struct spooldir *sd = spool_dir(sp);
	struct stat st;
	char msg[512];
	int problems = 0, remote;
	printf("ok      spool %s: layout and spool.conf are valid\n", sd->path);
	printf("%-7s filesystem %s%s\n", "info", spooldir_fstype(sd->root, &remote),
	       remote ? ": inotify is blind to other nodes, spool relies on rescans (mount NFS 'hard', actimeo=1)" : "");
	if (fstatat(sd->root, "key", &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode)) {
		printf("PROBLEM key file %s/key is missing: recreate the spool with 'spool init'\n", sd->path);
		problems++;
	} else if (st.st_mode & 0007) {
		printf("PROBLEM key file %s/key is readable by everyone (mode %03o): chmod o-rwx it\n", sd->path,
		       st.st_mode & 0777);
		problems++;
	} else {
		printf("ok      key file mode %03o\n", st.st_mode & 0777);
	}
	if (spool_controller_running(sp, msg, sizeof msg, 1)) {
		printf("ok      controller %s\n", msg);
	} else {
		printf("PROBLEM controller %s\n", msg);
		problems++;
	}
	char **names;
	long n = fs_list(sd->quarantine, &names, NULL);
	if (n > 0) {
		printf("info    %ld rejected record%s in %s/quarantine (see the .reason files)\n", n / 2,
		       n / 2 == 1 ? "" : "s", sd->path);
		fs_list_free(names, n);
	} else if (n == 0) {
		free(names);
	}
	spool_close(sp);
	printf("%d problem%s found\n", problems, problems == 1 ? "" : "s");
	return problems ? SPOOL_EXIT_ERROR : 0;
}
