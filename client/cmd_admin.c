/* cmd_admin.c - `spool init`, `spool config`, `spool cancel` and `spool doctor`. */
#include "cli.h"
#include "ids.h"
#include "json.h"
#include "util.h"

#include <dirent.h>
#include <getopt.h>
#include <sys/stat.h>
#include <grp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A command whose only options are -d and -h: -1 to go on, else its exit code. */
static int only_help(const char *cmd, int argc, char **argv, const char *text)
{
	static const struct option opts[] = { { "dir", required_argument, NULL, 'd' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	int o;
	while ((o = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		if (o == 'h') {
			fputs(text, stdout);
			cli_help_end(stdout);
			return 0;
		}
		if (o == 'd') {
			cli_spool_dir = optarg;
		} else {
			cli_bad_option(cmd, argv, "d:h", opts);
			return SPOOL_EXIT_USAGE;
		}
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
	"DIR may be given with -d instead.\n";

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
		case 'h': fputs(init_usage, stdout); cli_help_end(stdout); return 0;
		case 'd': cli_spool_dir = optarg; break;
		case 's': io.shared = true; break;
		case 'g':
			io.shared = true;
			if (group_id(optarg, &io.group) < 0) {
				fprintf(stderr, "spool init: no group '%s' on this node (see getent group)\n", shown(optarg));
				return SPOOL_EXIT_USAGE;
			}
			break;
		default: cli_bad_option("init", argv, "d:h", opts); return SPOOL_EXIT_USAGE;
		}
	}
	const char *dir = optind < argc ? argv[optind] : cli_spool_dir;
	if (!dir || optind + 1 < argc) {
		fprintf(stderr, "usage: spool init [--shared] [--group GROUP] DIR (see 'spool init --help')\n");
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
	cli_jobref_fold(job);
	if (spool_job_summary(sp, job, &j, &nf, err, sizeof err) == 0 && j->done && task <= j->ntasks) {
		fprintf(stderr, "spool: job %s had already finished: nothing to cancel (%llu of %zu task%s "
			"succeeded; exit code 0)\n", shown(job), (unsigned long long)j->counts[SPOOL_TASK_SUCCEEDED],
			j->ntasks, j->ntasks == 1 ? "" : "s");
		spool_job_free(j);
		return 0;
	}
	spool_job_free(j);
	if ((rc = spool_cancel(sp, job, task, err, sizeof err)) < 0) {
		cli_error(err);
		return spool_exit_code(rc);
	}
	printf("cancel of %s%s%s requested\n", job, task ? "." : "", task ? strchr(ref, '.') + 1 : "");
	return 0;
}

int cmd_cancel(int argc, char **argv)
{
	static const char use[] = "usage: spool cancel JOB|JOB.TASK...\n";
	int rc = only_help("cancel", argc, argv, "usage: spool cancel JOB|JOB.TASK...\n\nCancel jobs or single tasks: queued "
					"tasks never start; running ones are killed with their\nwhole process group. A "
					"job that had already finished is left as it is: said on stderr,\nexit code 0. "
					"With several, the exit code is the last failure's.\n\n");
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
	int rc = only_help(hold ? "hold" : "release", argc, argv,
			   hold ? "usage: spool hold JOB\n\nThe job's queued tasks are not assigned until "
				  "'spool release JOB';\nassigned and running ones go on. 'spool status' "
				  "says 'held'.\n\n"
				: "usage: spool release JOB\n\nLet the queued tasks of a job held with "
				  "'spool hold' be assigned again.\n\n");
	char job[80], err[SPOOL_ERRLEN];
	uint64_t task;
	if (rc >= 0)
		return rc;
	if (optind != argc - 1) {
		fputs(use, stderr);
		return SPOOL_EXIT_USAGE;
	}
	cli_jobref_fold(argv[optind]);
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

/* A number from /proc/sys (a kernel limit), or -1. */
static long long proc_sys_value(const char *path)
{
	FILE *f = fopen(path, "r");
	long long v = -1;
	if (f) {
		if (fscanf(f, "%lld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* inotify instances and watches held by the processes of uid (those /proc lets us see). */
static void inotify_use(uid_t uid, long *instances, long *watches)
{
	DIR *proc = opendir("/proc");
	struct dirent *d;
	*instances = *watches = 0;
	while (proc && (d = readdir(proc))) {
		char path[600], link[64];
		struct stat st;
		if (d->d_name[0] < '0' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s", d->d_name);
		if (stat(path, &st) < 0 || st.st_uid != uid)
			continue;
		snprintf(path, sizeof path, "/proc/%s/fd", d->d_name);
		DIR *fds = opendir(path);
		struct dirent *f;
		while (fds && (f = readdir(fds))) {
			snprintf(path, sizeof path, "/proc/%s/fd/%s", d->d_name, f->d_name);
			ssize_t n = readlink(path, link, sizeof link - 1);
			if (n <= 0)
				continue;
			link[n] = '\0';
			if (strcmp(link, "anon_inode:inotify") != 0)
				continue;
			(*instances)++;
			snprintf(path, sizeof path, "/proc/%s/fdinfo/%s", d->d_name, f->d_name);
			FILE *fi = fopen(path, "r");
			char line[512];
			while (fi && fgets(line, sizeof line, fi))
				*watches += strncmp(line, "inotify wd:", 11) == 0;
			if (fi)
				fclose(fi);
		}
		if (fds)
			closedir(fds);
	}
	if (proc)
		closedir(proc);
}

/* Each waiting client, worker and the controller hold an inotify instance (and a few watches):
 * a node near its limits makes them fall back to slower rescans, or fail. */
#define INOTIFY_INSTANCES_SPARE 16
#define INOTIFY_WATCHES_SPARE 256
static void doctor_inotify(struct doctor *d)
{
	long long maxi = proc_sys_value("/proc/sys/fs/inotify/max_user_instances");
	long long maxw = proc_sys_value("/proc/sys/fs/inotify/max_user_watches");
	long usei, usew;
	if (maxi < 0 || maxw < 0) {
		doctor_say(d, "info", "inotify", "inotify limits unknown (/proc/sys/fs/inotify not readable): spool relies on rescans");
		return;
	}
	inotify_use(geteuid(), &usei, &usew);
	if (maxi - usei < INOTIFY_INSTANCES_SPARE || maxw - usew < INOTIFY_WATCHES_SPARE)
		doctor_say(d, "problem", "inotify",
			   "inotify on this node: uid %u holds %ld of fs.inotify.max_user_instances=%lld and %ld of "
			   "fs.inotify.max_user_watches=%lld; spool needs about %d instances and %d watches free (one per "
			   "waiting client, engine and controller): raise them with sysctl -w fs.inotify.max_user_instances=%lld "
			   "fs.inotify.max_user_watches=%lld (and in /etc/sysctl.d/)", (unsigned)geteuid(), usei, maxi, usew,
			   maxw, INOTIFY_INSTANCES_SPARE, INOTIFY_WATCHES_SPARE, maxi < 1024 ? 1024 : maxi * 2,
			   maxw < 65536 ? 65536 : maxw * 2);
	else
		doctor_say(d, "ok", "inotify", "inotify on this node: uid %u holds %ld of %lld instances and %ld of %lld watches",
			   (unsigned)geteuid(), usei, maxi, usew, maxw);
}

/* unsafe: why the owners and modes are not safe ("" when they are); opening the spool for any
 * other command refuses it, here it is one finding among the others. */
static void doctor_checks(struct doctor *d, const struct spool_info *in, const char *unsafe)
{
	doctor_say(d, "ok", "layout", "spool %s: layout %u and spool.conf are valid", in->path, in->layout);
	doctor_say(d, "info", "filesystem", "filesystem %s%s", in->fstype,
		   in->fs_remote ? ": inotify is blind to other nodes, spool relies on rescans (mount NFS 'hard', actimeo=1)" : "");
	if (unsafe[0])
		doctor_say(d, "problem", "modes", "owners and modes: %s", unsafe);
	else
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
	else if (!in->engines_live)
		doctor_say(d, "problem", "engines", "no live engine (%ld dead): no task can run; start some with "
			   "'spool-worker -n N' on the nodes", in->engines_dead);
	else
		doctor_say(d, "ok", "engines", "%ld live engine%s (%ld dead)", in->engines_live, in->engines_live == 1 ? "" : "s",
			   in->engines_dead);
	doctor_inotify(d);
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
			fputs("usage: spool doctor [--json]\n\nCheck the spool and this node: layout, spool.conf, owners and "
			      "modes (the key's among\nthem), the controller, the engines, inotify limits, quarantined "
			      "records. Each\nfinding is a line: ok, info or PROBLEM and what to do. Exit 0 when healthy, 3\n"
			      "otherwise.\n\n"
			      "  --json           {\"spool\", \"problems\", \"checks\": [{\"check\", \"outcome\" (ok, info or\n"
			      "                   problem), \"message\"}]}\n", stdout);
			cli_help_end(stdout);
			return 0;
		default: cli_bad_option("doctor", argv, "d:h", opts); return SPOOL_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "spool doctor: unexpected argument '%s' (see 'spool doctor --help')\n", argv[optind]);
		return SPOOL_EXIT_USAGE;
	}
	struct json js;
	struct doctor d = { .js = as_json ? &js : NULL };
	char err[SPOOL_ERRLEN], unsafe[SPOOL_ERRLEN];
	/* A spool with unsafe modes (a key others may read) is refused by every other command: here
	 * it is a finding, and the rest is still checked. */
	spool_t *sp = spool_open_inspect(cli_spool_dir, unsafe, sizeof unsafe, err, sizeof err);
	if (as_json) {
		json_init(&js);
		json_obj_begin(&js, NULL);
		json_str(&js, "spool", sp ? spool_path(sp) : cli_spool_dir ? cli_spool_dir : getenv("SPOOL_DIR"));
		json_arr_begin(&js, "checks");
	}
	if (sp) {
		struct spool_info *in;
		spool_info(sp, 1, &in);
		doctor_checks(&d, in, unsafe);
		spool_info_free(in);
		spool_close(sp);
	} else { /* the spool cannot be opened: that is one finding, with its reason */
		doctor_say(&d, "problem", "open", "%s", err);
		doctor_inotify(&d);
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
	"  --defaults       the default spool.conf, on standard output\n";

int cmd_config(int argc, char **argv)
{
	static const struct option opts[] = { { "defaults", no_argument, NULL, 'D' },
					      { "dir", required_argument, NULL, 'd' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	int o, defaults = 0;
	while ((o = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		if (o == 'h') {
			fputs(config_usage, stdout);
			cli_help_end(stdout);
			return 0;
		}
		if (o == 'd') /* accepted as everywhere; the defaults are the same for every spool */
			continue;
		if (o != 'D') {
			cli_bad_option("config", argv, "d:h", opts);
			return SPOOL_EXIT_USAGE;
		}
		defaults = 1;
	}
	if (!defaults || optind < argc) {
		fprintf(stderr, "usage: spool config --defaults (see 'spool config --help')\n");
		return SPOOL_EXIT_USAGE;
	}
	fputs(spool_conf_defaults(), stdout);
	return 0;
}
