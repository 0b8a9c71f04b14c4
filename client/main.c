/* spool - the user's command: submit work to a spool, collect results, look at the queue. */
#include "cli.h"
#include "log.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *cli_spool_dir;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: spool [-d DIR] COMMAND [OPTIONS] [ARGS]\n"
		"\n"
		"Run commands on the engines of a spool shared by the nodes of a cluster.\n"
		"\n"
		"commands:\n"
		"  init DIR                 create a spool in DIR\n"
		"  submit [OPTS] -- CMD...  run one task; prints the job id\n"
		"  map [OPTS] -- CMD... [::: ITEM...]   one task per item ({} {.} {/} {#}...)\n"
		"  apply [OPTS] -- CMD...   one task on every live engine (or --targets)\n"
		"  collect [--no-wait|--follow] [--json] JOB   wait for a job and print its output\n"
		"  status [--json] [--user U] [--state S] [--since T] [JOB]   the queue, or one job's tasks\n"
		"  acct [--user U] [--since T] [--json] [JOB...]   what jobs used: CPU, memory, time\n"
		"  workers [--all] [--wait N] [--json]   the engines\n"
		"  cancel JOB|JOB.TASK      cancel a job or one task\n"
		"  hold JOB                 keep a job's queued tasks from starting\n"
		"  release JOB              let a held job's tasks start again\n"
		"  retry [--failed|--timed-out|--cancelled...] JOB   run those tasks again as a new job\n"
		"  tail [-f] [--stderr] JOB.TASK   a task's output as it is written\n"
		"  purge [--older-than AGE] [--results] [JOB...]   forget finished jobs\n"
		"  push NAME=VALUE...       set per-engine variables\n"
		"  pull NAME...             read per-engine variables\n"
		"  doctor [--json]          check the spool and say what is wrong\n"
		"  config --defaults        print the default spool.conf, every setting explained\n"
		"  help [COMMAND]           this text, or a command's ('spool COMMAND --help')\n"
		"\n"
		"  -V, --version    print the version\n");
	cli_help_end(f);
}

spool_t *cli_open(void)
{
	char err[SPOOL_ERRLEN];
	spool_t *sp = spool_open(cli_spool_dir, err, sizeof err);
	if (!sp)
		cli_error(err);
	return sp;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "dir", required_argument, NULL, 'd' },
					      { "help", no_argument, NULL, 'h' },
					      { "version", no_argument, NULL, 'V' },
					      { NULL, 0, NULL, 0 } };
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = { { "submit", cmd_submit }, { "map", cmd_map },         { "apply", cmd_apply },
		     { "collect", cmd_collect }, { "status", cmd_status }, { "workers", cmd_workers },
		     { "cancel", cmd_cancel }, { "push", cmd_push },       { "pull", cmd_pull },
		     { "init", cmd_init },     { "doctor", cmd_doctor }, { "hold", cmd_hold },
		     { "release", cmd_release }, { "config", cmd_config }, { "retry", cmd_retry },
		     { "purge", cmd_purge },     { "tail", cmd_tail },       { "acct", cmd_acct } };
	int o;

	log_open("spool", false, LOG_LVL_INFO);
	opterr = 0; /* each command says in one line what was wrong: cli_bad_option */
	while ((o = getopt_long(argc, argv, "+d:hV", opts, NULL)) != -1) {
		switch (o) {
		case 'd': cli_spool_dir = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("spool %s\n", SPOOL_VERSION); return 0;
		default:
			if (optopt == 'd' || (optopt == 0 ? 0 : strcmp(argv[optind - 1], "--dir") == 0))
				fprintf(stderr, "spool: option '%s' needs a value (see 'spool --help')\n", argv[optind - 1]);
			else
				fprintf(stderr, "spool: unknown option '%s' (see 'spool --help')\n", shown(argv[optind - 1]));
			return SPOOL_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return SPOOL_EXIT_USAGE;
	}
	/* spool help [COMMAND]: the same as spool --help, or spool COMMAND --help. */
	if (strcmp(argv[optind], "help") == 0) {
		if (optind + 1 >= argc) {
			usage(stdout);
			return 0;
		}
		if (argv[optind + 1][0] == '-' || strcmp(argv[optind + 1], "help") == 0) { /* spool help --help */
			printf("usage: spool help [COMMAND]\n\nThe list of commands, or COMMAND's help (the same as "
			       "'spool COMMAND --help').\n\n");
			cli_help_end(stdout);
			return 0;
		}
		if (optind + 2 < argc) {
			fprintf(stderr, "spool help: one command at a time (see 'spool help')\n");
			return SPOOL_EXIT_USAGE;
		}
		static char help_opt[] = "--help";
		argv[optind] = argv[optind + 1];
		argv[optind + 1] = help_opt;
	}
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (strcmp(argv[optind], cmds[i].name) == 0) {
			argv += optind;
			argc -= optind;
			optind = 1; /* reset getopt for the command's own options */
			return cmds[i].fn(argc, argv);
		}
	fprintf(stderr, "spool: unknown command '%s' (see 'spool help')\n", argv[optind]);
	return SPOOL_EXIT_USAGE;
}
