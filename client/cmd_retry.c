/* cmd_retry.c - `spool retry JOB`: the tasks of JOB that did not succeed, submitted again as a
 * new job (spool_retry reads the job's record; nothing of it is parsed here). */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: spool retry [--failed] [--timed-out] [--cancelled] [--abandoned] [--skipped] [--wait] JOB\n"
		   "\nSubmit again, as a new job linked to JOB (its record says retry_of JOB), exactly the\n"
		   "tasks of JOB that ended in those states, with their items, command, environment and\n"
		   "working directory. Without a state: --failed --timed-out --abandoned. Prints the new\n"
		   "job id (with --wait: waits and prints its results, as collect).\n"
		   "  --failed --timed-out --cancelled --abandoned --skipped   the states to run again\n"
		   "  --wait           wait for the new job and print its results, like 'spool collect'\n");
	cli_help_end(f);
}

int cmd_retry(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "failed", no_argument, NULL, 'f' },    { "timed-out", no_argument, NULL, 't' },
		{ "cancelled", no_argument, NULL, 'c' }, { "abandoned", no_argument, NULL, 'a' },
		{ "skipped", no_argument, NULL, 's' },   { "wait", no_argument, NULL, 'w' },
		{ "dir", required_argument, NULL, 'd' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int which = 0, wait = 0, o;
	while ((o = getopt_long(argc, argv, "+d:h", opts, NULL)) != -1) {
		switch (o) {
		case 'f': which |= SPOOL_RETRY_FAILED; break;
		case 't': which |= SPOOL_RETRY_TIMEDOUT; break;
		case 'c': which |= SPOOL_RETRY_CANCELLED; break;
		case 'a': which |= SPOOL_RETRY_ABANDONED; break;
		case 's': which |= SPOOL_RETRY_SKIPPED; break;
		case 'w': wait = 1; break;
		case 'd': cli_spool_dir = optarg; break;
		case 'h': usage(stdout); return 0;
		default: cli_bad_option("retry", argv, "+d:h", opts); return SPOOL_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: spool retry [--failed|--timed-out|--cancelled|--abandoned|--skipped]... [--wait] JOB "
			"(see 'spool retry --help')\n");
		return SPOOL_EXIT_USAGE;
	}
	cli_jobref_fold(argv[optind]);
	spool_t *sp = cli_open();
	if (!sp)
		return SPOOL_EXIT_ERROR;
	char id[16], err[SPOOL_ERRLEN];
	int rc = spool_retry(sp, argv[optind], which, id, err, sizeof err);
	if (rc < 0) {
		cli_error(err);
		rc = spool_exit_code(rc);
	} else if (wait) {
		struct collect_flags cf = { .wait = 1 };
		fprintf(stderr, "spool: job %s (retry of %s) submitted, waiting for it\n", id, argv[optind]);
		rc = collect_job(sp, id, &cf);
	} else {
		printf("%s\n", id);
		rc = fflush(stdout) == 0 ? 0 : SPOOL_EXIT_ERROR;
	}
	spool_close(sp);
	return rc;
}
