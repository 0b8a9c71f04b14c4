/* cmd_vars.c - `spool push NAME=VALUE...` and `spool pull NAME...`: per-engine variables,
 * ordered with the other work aimed at each engine (DirectView push/pull). */
#include "cli.h"
#include "ids.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int vars_cmd(int argc, char **argv, int push)
{
	static const struct option opts[] = { { "targets", required_argument, NULL, 'T' },
					      { "wait", no_argument, NULL, 'w' },
					      { "tag", no_argument, NULL, 'g' },
					      { "dir", required_argument, NULL, 'd' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	const char *targets = NULL;
	struct collect_flags cf = { .wait = 1 };
	int wait = 0, o;
	int64_t *tids;
	size_t ntids;
	const char *use = push ? "usage: spool push [--targets all|ID,...] [--wait] NAME=VALUE...\n"
			       : "usage: spool pull [--targets all|ID,...] [--wait] [--tag] NAME...\n";

	while ((o = getopt_long(argc, argv, "+d:h", opts, NULL)) != -1) {
		switch (o) {
		case 'T':
			if (targets_parse(optarg, &tids, &ntids) < 0) {
				fprintf(stderr, "spool: --targets wants 'all' or distinct engine ids like 3,4,9, not '%s'\n",
					shown(optarg));
				return SPOOL_EXIT_USAGE;
			}
			free(tids);
			targets = optarg;
			break;
		case 'w': wait = 1; break;
		case 'g': cf.tag = 1; break;
		case 'd': cli_spool_dir = optarg; break;
		case 'h':
			fputs(use, stdout);
			fputs(push ? "\nSet variables on each live engine (or the chosen ones). Tasks see them in\n"
				     "their environment; a task may set new values by writing NAME=VALUE lines to\n"
				     "the file named by $SPOOL_VARS. Ordered with the engine's other work.\n"
				   : "\nPrint a variable's value on each live engine (or the chosen ones), one line\n"
				     "per engine in engine id order (with --wait; else prints the job id).\n",
			      stdout);
			fputs("  --targets IDS    only these engines ('all' or ids like 3,4,9)\n"
			      "  --wait           wait for the job and print its results\n", stdout);
			if (!push)
				fputs("  --tag            with --wait: prefix each line with '[ENGINE NODE] '\n", stdout);
			cli_help_end(stdout);
			return 0;
		default: cli_bad_option(push ? "push" : "pull", argv, "+d:h", opts); return SPOOL_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fputs(use, stderr);
		return SPOOL_EXIT_USAGE;
	}
	spool_t *sp = cli_open();
	if (!sp)
		return SPOOL_EXIT_ERROR;
	char id[16], err[SPOOL_ERRLEN];
	const char *const *args = (const char *const *)(argv + optind);
	size_t n = (size_t)(argc - optind);
	int rc = push ? spool_push(sp, targets, args, n, id, err, sizeof err)
		      : spool_pull(sp, targets, args, n, id, err, sizeof err);
	if (rc < 0) {
		cli_error(err);
		rc = spool_exit_code(rc);
	} else if (wait) {
		rc = collect_job(sp, id, &cf);
	} else {
		printf("%s\n", id);
		rc = 0;
	}
	spool_close(sp);
	return rc;
}

int cmd_push(int argc, char **argv)
{
	return vars_cmd(argc, argv, 1);
}

int cmd_pull(int argc, char **argv)
{
	return vars_cmd(argc, argv, 0);
}
