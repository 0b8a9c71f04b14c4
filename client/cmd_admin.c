/* cmd_admin.c - `spool init`, `spool config`, `spool cancel` and `spool doctor`. */
#include "cli.h"
#include "ids.h"
#include "json.h"
#include "util.h"

#include <getopt.h>
#include <grp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static const char init_usage[] =
	"usage: spool init [--shared] [--group GROUP] DIR\n\n"
	"Create a spool in DIR: its directories, a commented spool.conf and a random key.\n"
	"Refuses an existing spool.\n\n"
	"  (default)        a personal spool: only you (and root) can use it (DIR is 0700)\n"
	"  --shared         every user who can reach DIR may submit; each sees, cancels and\n"
	"                   collects only their own jobs. Run init, spoold and the workers as\n"
	"                   root (tasks then run as their submitters) or as one service account\n"
	"  --group GROUP    shared with the members of GROUP only (DIR is 0750, group GROUP)\n"
	"  -h, --help       this help\n";

static int group_id(const char *name, gid_t *gid)
{
	struct group *g = getgrnam(name);
	uint64_t v;
	if (g) {
		*gid = g->gr_gid;
		return 0;
	}
	if (parse_u64(name, UINT32_MAX - 1, &v) == 0) {
		*gid = (gid_t)v;
		return 0;
	}
	return -1;
}

int cmd_init(int argc, char **argv)
{
	static const struct option opts[] = { { "shared", no_argument, NULL, 's' },
					      { "group", required_argument, NULL, 'g' },
					      { "dir", required_argument, NULL, 'd' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	struct spool_init_opts io = { .shared = false, .group = (gid_t)-1 };
	struct err e;
	int o;
	while ((o = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		switch (o) {
		case 'h': fputs(init_usage, stdout); return 0;
		case 'd': cli_spool_dir = optarg; break;
		case 's': io.shared = true; break;
		case 'g':
			io.shared = true;
			if (group_id(optarg, &io.group) < 0) {
				fprintf(stderr, "spool init: no group '%s' on this node (see getent group)\n", shown(optarg));
				return SPOOL_EXIT_USAGE;
			}
			break;
		default: fputs(init_usage, stderr); return SPOOL_EXIT_USAGE;
		}
	}
	const char *dir = optind < argc ? argv[optind] : cli_spool_dir;
	if (!dir || optind + 1 < argc) {
		fputs(init_usage, stderr);
		return SPOOL_EXIT_USAGE;
	}
	/* Records in a shared incoming/ are readable by the controller through the spool owner's
	 * own group; if the submitters share that group they could read each other's. */
	if (io.shared && geteuid() != 0 && (io.group == getegid() || io.group == (gid_t)-1)) {
		fprintf(stderr, "spool init: a shared spool made by a non-root account needs --group GROUP "
				"naming the submitters' group, different from your primary group (gid %u), which "
				"the controller keeps to itself; or run spool init as root\n", (unsigned)getegid());
		return SPOOL_EXIT_USAGE;
	}
	if (spooldir_create(dir, &io, &e) < 0) {
		cli_error(e.msg);
		return SPOOL_EXIT_ERROR;
	}
	char *abs = realpath(dir, NULL);
	printf("created %s spool %s\n"
	       "next:\n"
	       "  export SPOOL_DIR=%s\n"
	       "  spoold                      # the controller, once, on one node%s\n"
	       "  spool-worker -n 4           # on every node that runs tasks%s\n"
	       "  spool submit -- hostname    # then: spool collect JOB\n",
	       io.shared ? "a shared" : "a personal", shown(abs ? abs : dir), shown(abs ? abs : dir),
	       io.shared ? " (as the spool's owner or root)" : "", io.shared ? " (as root: tasks run as their submitters)" : "");
	free(abs);
	return 0;
}

/* One cancel: 0 requested, 0 with a word when the job had already finished (nothing to cancel),
 * else the exit code of the failure. */
static int cancel_one(spool_t *sp, const char *ref)
{
	char job[80], err[SPOOL_ERRLEN];
	uint64_t task;
	struct spool_job *j = NULL;
	int nf, rc;
	if (jobref_parse(ref, job, sizeof job, &task) < 0) {
		fprintf(stderr, "spool: '%s' is not JOB or JOB.TASK (tasks count from 1)\n", shown(ref));
		return SPOOL_EXIT_USAGE;
	}
	if (spool_job_summary(sp, job, &j, &nf, err, sizeof err) == 0 && j->done && task <= j->ntasks) {
		fprintf(stderr, "spool: job %s had already finished: nothing to cancel\n", shown(job));
		spool_job_free(j);
		return 0;
	}
	spool_job_free(j);
	if ((rc = spool_cancel(sp, job, task, err, sizeof err)) < 0) {
		cli_error(err);
		return spool_exit_code(rc);
	}
	printf("cancel of %s requested\n", shown(ref));
	return 0;
}

int cmd_cancel(int argc, char **argv)
{
	static const char use[] = "usage: spool cancel JOB|JOB.TASK...\n";
	int rc = only_help(argc, argv, "usage: spool cancel JOB|JOB.TASK...\n\nCancel jobs or single tasks: queued "
					"tasks never start; running ones are killed with their\nwhole process group. A "
					"job that had already finished is left as it is (said on stderr).\n\n"
					"  -d, --dir DIR    the spool (default: $SPOOL_DIR)\n\n"
					"exit codes: 0 requested (or already finished), 2 usage, 3 spool error, 4 no such "
					"job\n(with several, the last failure's)\n");
	if (rc >= 0)
		return rc;
	if (optind >= argc) {
		fputs(use, stderr);
		return SPOOL_EXIT_USAGE;
	}
	spool_t *sp = cli_open();
	if (!sp)
		return SPOOL_EXIT_ERROR;
	rc = 0;
	for (int i = optind; i < argc; i++) {
		int one = cancel_one(sp, argv[i]);
		if (one)
			rc = one;
	}
	spool_close(sp);
	return rc;
}

/* spool hold JOB, spool release JOB: a request the controller takes as it takes a cancel. */
static int hold_common(int argc, char **argv, bool hold)
{
	const char *use = hold ? "usage: spool hold JOB\n" : "usage: spool release JOB\n";
	int rc = only_help(argc, argv, hold ? "usage: spool hold JOB\n\nThe job's queued tasks are not assigned until "
						"'spool release JOB';\nassigned and running ones go on. 'spool status' "
						"says 'held'.\nexit codes: 0 requested, 3 spool error, 4 no such job\n"
					     : "usage: spool release JOB\n\nLet the queued tasks of a job held with "
						"'spool hold' be assigned again.\nexit codes: 0 requested, 3 spool error, "
						"4 no such job\n");
	char job[80], err[SPOOL_ERRLEN];
	uint64_t task;
	if (rc >= 0)
		return rc;
	if (optind != argc - 1) {
		fputs(use, stderr);
		return SPOOL_EXIT_USAGE;
	}
	if (jobref_parse(argv[optind], job, sizeof job, &task) < 0 || task) {
		fprintf(stderr, "spool: '%s' is not a job id (a whole job is held or released)\n", shown(argv[optind]));
		return SPOOL_EXIT_USAGE;
	}
	spool_t *sp = cli_open();
	if (!sp)
		return SPOOL_EXIT_ERROR;
	rc = hold ? spool_hold(sp, job, err, sizeof err) : spool_release(sp, job, err, sizeof err);
	if (rc < 0) {
		cli_error(err);
		rc = spool_exit_code(rc);
	} else {
		printf("%s of %s requested\n", hold ? "hold" : "release", job);
		rc = 0;
	}
	spool_close(sp);
	return rc;
}

int cmd_hold(int argc, char **argv)
{
	return hold_common(argc, argv, true);
}

int cmd_release(int argc, char **argv)
{
	return hold_common(argc, argv, false);
}

/* What doctor found: one check and its outcome, printed as a line or a JSON object. */
struct doctor {
	struct json *js; /* NULL: text */
	int problems;
};

static void doctor_say(struct doctor *d, const char *outcome, const char *check, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void doctor_say(struct doctor *d, const char *outcome, const char *check, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	d->problems += strcmp(outcome, "problem") == 0;
	if (!d->js) {
		printf("%-7s %s\n", strcmp(outcome, "problem") == 0 ? "PROBLEM" : outcome, shown(msg));
		return;
	}
	json_obj_begin(d->js, NULL);
	json_str(d->js, "check", check);
	json_str(d->js, "outcome", outcome);
	json_str(d->js, "message", msg);
	json_obj_end(d->js);
}

static void doctor_checks(struct doctor *d, const struct spool_info *in)
{
	doctor_say(d, "ok", "layout", "spool %s: layout %u and spool.conf are valid", in->path, in->layout);
	doctor_say(d, "info", "filesystem", "filesystem %s%s", in->fstype,
		   in->fs_remote ? ": inotify is blind to other nodes, spool relies on rescans (mount NFS 'hard', actimeo=1)" : "");
	/* Opening the spool has refused unsafe owners and modes already (spooldir.c check_modes). */
	doctor_say(d, "ok", "modes", "owners and modes: files and directories belong to uid %llu, key readable by it alone",
		   (unsigned long long)in->owner);
	if (in->shared) {
		doctor_say(d, "info", "sharing", "shared spool: %s may submit; each user sees, collects and cancels only their own jobs",
			   in->shared_with_all ? "every user of this node" : "members of the spool directory's group");
		if (in->controller_ran && in->controller_uid != 0)
			doctor_say(d, "info", "privacy", "the controller runs as uid %lld, not root: it cannot give job states to their "
				   "owners, so any user of the spool who knows a job id can read its task states (not its "
				   "command or environment); run spoold as root to keep them private",
				   (long long)in->controller_uid);
	} else {
		doctor_say(d, "info", "sharing", "personal spool: only uid %llu (and root) can use it", (unsigned long long)in->owner);
	}
	doctor_say(d, in->controller_running ? "ok" : "problem", "controller", "controller %s", in->controller_status);
	if (in->controller_ran && in->database[0])
		doctor_say(d, "info", "database", "database %s (controller version %s)", in->database,
			   in->controller_version[0] ? in->controller_version : "unknown");
	if (in->engines_error)
		doctor_say(d, "problem", "engines", "engines: %s", in->engines_error);
	else
		doctor_say(d, "info", "engines", "%ld live engine%s (%ld dead)%s", in->engines_live, in->engines_live == 1 ? "" : "s",
			   in->engines_dead, in->engines_live ? "" : ": start some with 'spool-worker -n N' on the nodes");
	if (in->quarantined > 0)
		doctor_say(d, "info", "quarantine", "%ld rejected record%s in %s/quarantine (see the .reason files)", in->quarantined,
			   in->quarantined == 1 ? "" : "s", in->path);
}

int cmd_doctor(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
					      { "dir", required_argument, NULL, 'd' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	int o, as_json = 0;
	while ((o = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		switch (o) {
		case 'j': as_json = 1; break;
		case 'd': cli_spool_dir = optarg; break;
		case 'h':
			fputs("usage: spool doctor [--json]\n\nCheck the spool: layout, spool.conf, key, controller, engines, "
			      "quarantine. Exit 0 when healthy, 3 otherwise.\n\n"
			      "  --json           {\"spool\", \"problems\", \"checks\": [{\"check\", \"outcome\" (ok, info or\n"
			      "                   problem), \"message\"}]}\n"
			      "  -d, --dir DIR    the spool (default: $SPOOL_DIR)\n", stdout);
			return 0;
		default: return SPOOL_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "usage: spool doctor [--json]\n");
		return SPOOL_EXIT_USAGE;
	}
	struct json js;
	struct doctor d = { .js = as_json ? &js : NULL };
	char err[SPOOL_ERRLEN];
	spool_t *sp = spool_open(cli_spool_dir, err, sizeof err);
	struct spool_info *in = NULL;
	if (!sp && !as_json) {
		cli_error(err);
		return SPOOL_EXIT_ERROR;
	}
	if (as_json) {
		json_init(&js);
		json_obj_begin(&js, NULL);
		json_str(&js, "spool", sp ? spool_path(sp) : cli_spool_dir ? cli_spool_dir : getenv("SPOOL_DIR"));
		json_arr_begin(&js, "checks");
	}
	if (sp) {
		spool_info(sp, 1, &in);
		doctor_checks(&d, in);
		spool_info_free(in);
		spool_close(sp);
	} else { /* the spool cannot be opened: that is the one check, and its reason */
		doctor_say(&d, "problem", "open", "%s", err);
	}
	if (as_json) {
		json_arr_end(&js);
		json_int(&js, "problems", d.problems);
		json_obj_end(&js);
		json_print(&js);
		json_free(&js);
	} else {
		printf("%d problem%s found\n", d.problems, d.problems == 1 ? "" : "s");
	}
	return d.problems ? SPOOL_EXIT_ERROR : 0;
}

static const char config_usage[] =
	"usage: spool config --defaults\n\n"
	"Print the default spool.conf: every setting, its default and what it does (spool.conf(5)).\n"
	"Edit DIR/spool.conf of a spool to change them; spoold and the workers read it when they start.\n\n"
	"  --defaults       the default spool.conf, on standard output\n"
	"  -h, --help       this help\n";

int cmd_config(int argc, char **argv)
{
	static const struct option opts[] = { { "defaults", no_argument, NULL, 'D' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	int o, defaults = 0;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (o == 'h') {
			fputs(config_usage, stdout);
			return 0;
		}
		if (o != 'D') {
			fputs(config_usage, stderr);
			return SPOOL_EXIT_USAGE;
		}
		defaults = 1;
	}
	if (!defaults || optind < argc) {
		fputs(config_usage, stderr);
		return SPOOL_EXIT_USAGE;
	}
	fputs(spool_conf_defaults(), stdout);
	return 0;
}
