/* cmd_submit.c - `spool submit` (one task) and `spool map` (one task per item, one job record). */
#include "cli.h"
#include "ids.h"
#include "json.h"
#include "repl.h"
#include "schema.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

struct strv {
	char **v;
	size_t n, cap;
};

static void strv_add(struct strv *s, char *x)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = xrealloc(s->v, s->cap * sizeof *s->v);
	}
	s->v[s->n++] = x;
}

static void strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

/* Set NAME=VALUE, replacing an earlier entry of the same name. */
static void env_set(struct strv *env, const char *kv)
{
	size_t k = (size_t)(strchr(kv, '=') - kv);
	for (size_t i = 0; i < env->n; i++)
		if (strncmp(env->v[i], kv, k + 1) == 0) {
			free(env->v[i]);
			env->v[i] = xstrdup(kv);
			return;
		}
	strv_add(env, xstrdup(kv));
}

static void env_minimal(struct strv *env)
{
	static const char *keep[] = { "HOME", "USER", "LOGNAME", "LANG" };
	env_set(env, "PATH=/usr/local/bin:/usr/bin:/bin");
	for (size_t i = 0; i < ARRAY_LEN(keep); i++) {
		const char *v = getenv(keep[i]);
		if (v) {
			char *kv = xasprintf("%s=%s", keep[i], v);
			env_set(env, kv);
			free(kv);
		}
	}
}

static int read_items(const char *path, struct strv *items)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (f == stdin && isatty(0)) /* else it would wait without a word */
		fprintf(stderr, "spool: reading items from standard input (one per line; end with Ctrl-D)\n");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	if (!f) {
		fprintf(stderr, "spool: cannot open input file %s: %s\n", shown(path), strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		if (items->n >= MAX_ITEMS) {
			fprintf(stderr, "spool: %s has more than %d items, the limit per job: split it\n", shown(path), MAX_ITEMS);
			free(line);
			if (f != stdin)
				fclose(f);
			return -1;
		}
		strv_add(items, xstrdup(line));
	}
	free(line);
	if (f != stdin)
		fclose(f);
	return 0;
}

/* GNU parallel's input sources after the command (spool-layout.md 3.2): "::: V..." one source of
 * values, ":::: FILE..." one source per file (its lines), ":::+" and "::::+" link the new source
 * to the previous one value by value (same length) instead of multiplying. */
enum { SEP_NONE, SEP_VALUES, SEP_VALUES_LINK, SEP_FILES, SEP_FILES_LINK, SEP_UNKNOWN };

static int sep_kind(const char *a)
{
	static const char *known[] = { ":::", ":::+", "::::", "::::+" };
	for (int i = 0; i < 4; i++)
		if (strcmp(a, known[i]) == 0)
			return SEP_VALUES + i;
	/* Other runs of colons (an optional + after) look like separators: never taken as values. */
	size_t n = strspn(a, ":");
	return n >= 3 && (!a[n] || (a[n] == '+' && !a[n + 1])) ? SEP_UNKNOWN : SEP_NONE;
}

struct source {
	struct strv v;
	int linked; /* to the previous source, pairwise */
};

/* Parse argv[from..argc) into sources: 0, or -1 (usage) / -2 (a file) after a message. */
static int parse_sources(int argc, char **argv, int from, struct source **srcp, size_t *nsrc)
{
	struct source *src = NULL;
	size_t n = 0;
	int kind = SEP_NONE, rc = -1;
	for (int i = from; i < argc; i++) {
		int k = sep_kind(argv[i]);
		if (k == SEP_UNKNOWN) {
			fprintf(stderr, "spool: '%s' is not an input-source separator spool knows (it knows ::: :::+ "
				":::: ::::+); to give it as a value, write it in a file read with :::: or --input\n",
				shown(argv[i]));
			goto out;
		}
		if (k != SEP_NONE) {
			if (i + 1 == argc || sep_kind(argv[i + 1]) != SEP_NONE) {
				fprintf(stderr, "spool: '%s' is followed by no %s\n", argv[i],
					k >= SEP_FILES ? "file" : "value");
				goto out;
			}
			kind = k;
			if (k == SEP_VALUES || k == SEP_VALUES_LINK) {
				src = xrealloc(src, (n + 1) * sizeof *src);
				src[n++] = (struct source){ .linked = k == SEP_VALUES_LINK };
			}
			continue;
		}
		if (kind == SEP_VALUES || kind == SEP_VALUES_LINK) {
			strv_add(&src[n - 1].v, xstrdup(argv[i]));
			continue;
		}
		src = xrealloc(src, (n + 1) * sizeof *src);
		src[n++] = (struct source){ .linked = kind == SEP_FILES_LINK };
		if (read_items(argv[i], &src[n - 1].v) < 0) {
			rc = -2;
			goto out;
		}
		if (!src[n - 1].v.n) {
			fprintf(stderr, "spool: %s (after '%s') holds no lines: no tasks to make from it\n",
				shown(argv[i]), kind == SEP_FILES ? "::::" : "::::+");
			goto out;
		}
	}
	if (n && src[0].linked) {
		fprintf(stderr, "spool: the first input source cannot be linked ('+'): there is none before it\n");
		goto out;
	}
	if (n > REPL_MAX_SOURCES) {
		fprintf(stderr, "spool: %zu input sources, limit %d\n", n, REPL_MAX_SOURCES);
		goto out;
	}
	for (size_t j = 1; j < n; j++)
		if (src[j].linked && src[j].v.n != src[j - 1].v.n) {
			fprintf(stderr, "spool: input source %zu has %zu values but is linked (with '+') to source %zu "
				"of %zu values: linked sources pair their values one by one, so they must be as long "
				"(GNU parallel would drop the extra ones)\n", j + 1, src[j].v.n, j, src[j - 1].v.n);
			goto out;
		}
	rc = 0;
out:
	*srcp = src;
	*nsrc = n;
	return rc;
}

/* The tasks' values, flat (nsrc per task): the product of the groups of linked sources, the
 * last group varying fastest, as GNU parallel orders them. */
static int expand_sources(struct source *src, size_t n, struct strv *items)
{
	size_t ng = 0, *gstart = xmalloc((n + 1) * sizeof *gstart), *pos;
	uint64_t total = 1;
	for (size_t j = 0; j < n; j++)
		if (!src[j].linked) {
			gstart[ng++] = j;
			total *= src[j].v.n;
			if (total > MAX_ITEMS) {
				fprintf(stderr, "spool: the input sources make more than %d tasks, the limit per job: "
					"split the job\n", MAX_ITEMS);
				free(gstart);
				return -1;
			}
		}
	gstart[ng] = n;
	pos = xmalloc((ng ? ng : 1) * sizeof *pos);
	memset(pos, 0, (ng ? ng : 1) * sizeof *pos);
	for (uint64_t t = 0; n && t < total; t++) {
		for (size_t g = 0; g < ng; g++)
			for (size_t j = gstart[g]; j < gstart[g + 1]; j++)
				strv_add(items, xstrdup(src[j].v.v[pos[g]]));
		for (size_t g = ng; g-- > 0;) { /* the odometer */
			if (++pos[g] < src[gstart[g]].v.n)
				break;
			pos[g] = 0;
		}
	}
	free(pos);
	free(gstart);
	return 0;
}

/* "JOB[.TASK][,JOB[.TASK]]...": each one added to deps (spool_submit checks each). */
static int dep_list(struct strv *deps, const char *arg, const char *opt)
{
	char *copy = xstrdup(arg), *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		cli_jobref_fold(t);
		strv_add(deps, xstrdup(t));
	}
	free(copy);
	if (!arg[0] || arg[0] == ',' || arg[strlen(arg) - 1] == ',' || strstr(arg, ",,")) {
		fprintf(stderr, "spool: %s wants JOB[.TASK][,JOB[.TASK]]..., not '%s'\n", opt, shown(arg));
		return -1;
	}
	return 0;
}

/* path made absolute against the current directory, into out (MAX_PATH_LEN + 1 bytes). */
static int abs_path(const char *path, char *out, const char *opt)
{
	if (path[0] == '/') {
		snprintf(out, MAX_PATH_LEN + 1, "%s", path);
		return 0;
	}
	if (!getcwd(out, MAX_PATH_LEN + 1) || strlen(out) + strlen(path) + 2 > MAX_PATH_LEN + 1) {
		fprintf(stderr, "spool: %s %s: cannot make it absolute\n", opt, shown(path));
		return -1;
	}
	strcat(out, "/");
	strcat(out, path);
	return 0;
}

/* Input piped or redirected to the client is never silently dropped: say where it does not go. */
static void stdin_notice(void)
{
	struct stat st;
	if (isatty(0) || fstat(0, &st) < 0 || !(S_ISFIFO(st.st_mode) || S_ISREG(st.st_mode) || S_ISSOCK(st.st_mode)))
		return;
	fprintf(stderr, "spool: standard input is not sent to the task: use --stdin - to send it\n");
}

static int write_full(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* --stdin -: this standard input, copied into OUTDIR/stdin (0600, the caller's) under a job id
 * taken now, becomes the task's --stdin file. 0, or an exit code after a message. */
static int stdin_copy(spool_t *sp, struct spool_job_spec *s, char id[16], char path[MAX_PATH_LEN + 1])
{
	char err[SPOOL_ERRLEN], buf[65536], cwd[MAX_PATH_LEN + 1];
	if (!s->jobid && spool_job_id_new(sp, id, err, sizeof err) < 0) {
		cli_error(err);
		return SPOOL_EXIT_ERROR;
	}
	s->jobid = id;
	if (!s->outdir) {
		if (!s->cwd && !getcwd(cwd, sizeof cwd)) {
			fprintf(stderr, "spool: cannot get the current directory: %s (use --cwd)\n", strerror(errno));
			return SPOOL_EXIT_ERROR;
		}
		const char *c = s->cwd ? s->cwd : cwd;
		if (strlen(c) + 7 + strlen(id) + 7 > MAX_PATH_LEN) {
			fprintf(stderr, "spool: %s/spool-%s/stdin would be too long a path: give --output\n", shown(c), id);
			return SPOOL_EXIT_ERROR;
		}
		strcpy(path, c);
		strcat(path, "/spool-");
		strcat(path, id);
	} else if (strlen(s->outdir) + 7 > MAX_PATH_LEN) {
		fprintf(stderr, "spool: %s/stdin would be too long a path\n", shown(s->outdir));
		return SPOOL_EXIT_ERROR;
	} else {
		strcpy(path, s->outdir);
	}
	int dfd = spool_outdir_open(sp, path, err, sizeof err);
	if (dfd < 0) {
		cli_error(err);
		return SPOOL_EXIT_ERROR;
	}
	strcat(path, "/stdin");
	int fd = openat(dfd, "stdin", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	close(dfd);
	if (fd < 0) {
		fprintf(stderr, "spool: cannot create %s for --stdin -: %s\n", shown(path), strerror(errno));
		return SPOOL_EXIT_ERROR;
	}
	int ok;
	for (;;) {
		ssize_t n = read(0, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || write_full(fd, buf, (size_t)n) < 0) {
			ok = n == 0;
			break;
		}
	}
	if (!ok || fsync(fd) < 0 || close(fd) < 0) {
		fprintf(stderr, "spool: cannot copy standard input to %s: %s (nothing was submitted)\n", shown(path),
			strerror(errno));
		return SPOOL_EXIT_ERROR;
	}
	s->stdin_path = path;
	return 0;
}

enum kind { K_SUBMIT, K_MAP, K_APPLY };

static void usage(FILE *f, int kind)
{
	int is_map = kind == K_MAP;
	if (kind == K_APPLY)
		fprintf(f, "usage: spool apply [OPTIONS] [--targets all|ID,ID...] [--tag] -- CMD [ARG]...\n"
			   "\nRun CMD once on each live engine (or on the chosen ones), like DirectView.apply.\n"
			   "With --wait the results print one per engine in engine id order.\n");
	else if (is_map)
		fprintf(f, "usage: spool map [OPTIONS] [--input FILE|-] -- CMD [ARG]... [::: ITEM...]...\n"
			   "\nOne task per input line or per ITEM, all in one job, with GNU parallel's syntax:\n"
			   "  ::: A B ::: X Y   the product of the sources (A X, A Y, B X, B Y)\n"
			   "  :::+ X Y          links this source to the previous one, value by value\n"
			   "  :::: FILE...      one source per file, its lines (::::+ links)\n"
			   "In the arguments: {} the item, {.} without extension, {/} basename, {//} dirname,\n"
			   "{/.} basename without extension, {N} {N.} {N/} {N//} {N/.} the same for source N,\n"
			   "{#} the task number (from 1), {%%} the engine id (not parallel's slot 1..N).\n"
			   "Without any, the values are appended as the last arguments. Other strings of\n"
			   "GNU parallel's ({=perl=}, {##}, {+/}...) are refused. collect prints results in\n"
			   "input order.\n");
	else
		fprintf(f, "usage: spool submit [OPTIONS] -- CMD [ARG]...\n"
			   "\nRun CMD once (as argv, no shell) on the next free engine. Prints the job id\n"
			   "once the record is durable in the spool.\n");
	fprintf(f, "\noptions:\n"
		   "  --cwd DIR        working directory on the nodes (default: the current one)\n"
		   "  --output DIR     where stdout, stderr and results go: DIR/spool-JOBID (default:\n"
		   "                   CWD/spool-JOBID); jobs given the same DIR never mix their files\n"
		   "  --env NAME=VAL   set a variable for the task (repeatable)\n"
		   "  --no-env         do not pass this environment (default: it is captured, like sbatch)\n"
		   "  --timeout SEC    kill a task after SEC seconds, or 90s, 1m, 2h (TERM, then KILL)\n"
		   "  --retries N      times a task is retried if its node dies (default: spool.conf)\n"
		   "  --mem SIZE       memory limit of each task, as 500M or 2G (K, M, G, T: powers of 1024);\n"
		   "                   a task that exceeds it fails with 'memory limit SIZE exceeded'\n"
		   "  --retry-on-failure  also retry (within --retries) a task that fails or times out;\n"
		   "                   every attempt stays visible (the duplicates of collect's JSON)\n"
		   "  --name NAME      a label for the job\n"
		   "  --wait           wait for the job and print its results, like 'spool collect'\n"
		   "  --tag            with --wait: prefix output lines with '[ENGINE NODE] '\n"
		   "  --json           print {\"job\", \"kind\", \"name\", \"ntasks\", \"cwd\", \"outdir\"} (with\n"
		   "                   --wait: the job and its results, as 'spool collect --json')\n"
		   "  --targets IDS    only these engines ('all' or ids like 3,4,9; see 'spool workers')\n"
		   "  --after JOB[.TASK][,...]    start once those jobs (or tasks) ended, however they ended\n"
		   "  --afterany JOB[.TASK][,...] the same\n"
		   "  --afterok JOB[.TASK][,...]  start only if they all succeeded; else the tasks end skipped\n"
		   "  --priority N     higher first among your own jobs (default 0; engines are shared\n"
		   "                   fairly between users whatever the priorities)\n"
		   "  --max-running N  at most N tasks of this job assigned or running at once\n"
		   "  --stdin FILE     each task reads FILE on its standard input (opened on the node as you);\n"
		   "                   without it a task's standard input is /dev/null\n"
		   "  --stdin -        (submit) send this standard input to the task: it is copied to\n"
		   "                   OUTDIR/stdin (mode 0600) first\n"
		   "  --cancel-on-interrupt  with --wait: Ctrl-C cancels the job (else it goes on)\n");
	if (is_map)
		fprintf(f, "  --after-each JOB task i starts once task i of the map JOB succeeded (else it is\n"
			   "                   skipped): a pipeline over the same items, stage by stage per item\n"
			   "  --input FILE     read items from FILE, one per line ('-': standard input)\n"
			   "  --schedule S     balanced (default: each task to the next free engine) or\n"
			   "                   static (inputs split evenly over the live engines up front)\n");
	cli_help_end(f);
	fprintf(f, "\nA job may depend only on existing jobs of its owner's. While it waits, 'spool status'\n"
		   "says 'waiting on JOB'. Without --wait, 0 means submitted.\n");
}

/* --json without --wait: what a script needs to follow the job. The output directory is the
 * controller's default when none was given (CWD/spool-JOBID, spool-layout.md 4); an apply's
 * tasks are its engines, chosen when the controller accepts it (null here). */
static void submitted_json(const struct spool_job_spec *s, int kind, const char *id)
{
	struct json js;
	char cwd[MAX_PATH_LEN + 1];
	const char *dir = s->cwd ? s->cwd : getcwd(cwd, sizeof cwd);
	char *outdir = s->outdir ? xstrdup(s->outdir) : dir ? xasprintf("%s/spool-%s", dir, id) : NULL;
	json_init(&js);
	json_obj_begin(&js, NULL);
	json_str(&js, "job", id);
	json_str(&js, "kind", kind == K_MAP ? "map" : kind == K_APPLY ? "apply" : "submit");
	json_str(&js, "name", s->name);
	json_int_or_null(&js, "ntasks", kind == K_MAP ? (int64_t)(s->nitems / (s->nsources > 1 ? s->nsources : 1)) : 1,
			 kind != K_APPLY);
	json_str(&js, "cwd", dir);
	json_str(&js, "outdir", outdir);
	json_obj_end(&js);
	json_print(&js);
	json_free(&js);
	free(outdir);
}

static int submit_common(int argc, char **argv, int kind)
{
	int is_map = kind == K_MAP;
	static const struct option opts[] = {
		{ "cwd", required_argument, NULL, 'c' },  { "env", required_argument, NULL, 'e' },
		{ "no-env", no_argument, NULL, 'E' },     { "timeout", required_argument, NULL, 't' },
		{ "name", required_argument, NULL, 'N' }, { "wait", no_argument, NULL, 'w' },
		{ "input", required_argument, NULL, 'i' }, { "output", required_argument, NULL, 'o' },
		{ "retries", required_argument, NULL, 'r' }, { "dir", required_argument, NULL, 'd' },
		{ "targets", required_argument, NULL, 'T' }, { "schedule", required_argument, NULL, 'S' },
		{ "tag", no_argument, NULL, 'g' },        { "help", no_argument, NULL, 'h' },
		{ "after", required_argument, NULL, 'A' }, { "afterany", required_argument, NULL, 'A' },
		{ "afterok", required_argument, NULL, 'K' }, { "after-each", required_argument, NULL, 'P' },
		{ "priority", required_argument, NULL, 'p' }, { "max-running", required_argument, NULL, 'M' },
		{ "stdin", required_argument, NULL, 'I' }, { "retry-on-failure", no_argument, NULL, 'F' },
		{ "json", no_argument, NULL, 'j' },
		{ "cancel-on-interrupt", no_argument, NULL, 'C' },
		{ "mem", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 }
	};
	struct spool_job_spec s = { .retries = -1, .is_map = is_map, .is_apply = kind == K_APPLY };
	struct collect_flags cf = { .wait = 1 };
	struct strv env = { 0 }, extra = { 0 }, items = { 0 }, after = { 0 }, afterok = { 0 };
	const char *input = NULL, *stdin_arg = NULL;
	char stdin_abs[MAX_PATH_LEN + 1];
	int no_env = 0, wait = 0, as_json = 0, o, rc = SPOOL_EXIT_USAGE;
	char cwdabs[MAX_PATH_LEN + 1];
	uint64_t v;
	int64_t *tids;
	size_t ntids;

	while ((o = getopt_long(argc, argv, "+d:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			if (optarg[0] != '/') {
				if (!getcwd(cwdabs, sizeof cwdabs) ||
				    strlen(cwdabs) + strlen(optarg) + 2 > sizeof cwdabs) {
					fprintf(stderr, "spool: --cwd %s: cannot make it absolute\n", shown(optarg));
					goto out;
				}
				strcat(cwdabs, "/");
				strcat(cwdabs, optarg);
				s.cwd = cwdabs;
			} else {
				s.cwd = optarg;
			}
			break;
		case 'e':
			if (!strchr(optarg, '=') || optarg[0] == '=') {
				fprintf(stderr, "spool: --env wants NAME=VALUE, not '%s'\n", shown(optarg));
				goto out;
			}
			strv_add(&extra, xstrdup(optarg));
			break;
		case 'E': no_env = 1; break;
		case 't':
			if (parse_seconds_ms(optarg, 31ull * 86400 * 1000, &v) < 0 || v == 0) {
				fprintf(stderr, "spool: --timeout wants a duration (for example 30, 0.5, 90s, 1m or 2h), not '%s'\n", shown(optarg));
				goto out;
			}
			s.timeout_ms = v;
			break;
		case 'N': s.name = optarg; break;
		case 'w': wait = 1; break;
		case 'i':
			if (!is_map) {
				fprintf(stderr, "spool: --input belongs to 'spool map'\n");
				goto out;
			}
			input = optarg;
			break;
		case 'o': s.outdir = optarg; break;
		case 'r':
			if (parse_u64(optarg, 100, &v) < 0) {
				fprintf(stderr, "spool: --retries wants a number from 0 to 100, not '%s'\n", shown(optarg));
				goto out;
			}
			s.retries = (int)v;
			break;
		case 'T':
			if (targets_parse(optarg, &tids, &ntids) < 0) {
				fprintf(stderr, "spool: --targets wants 'all' or distinct engine ids like 3,4,9, not '%s'\n",
					shown(optarg));
				goto out;
			}
			free(tids);
			s.targets = optarg;
			break;
		case 'S':
			if (!is_map) {
				fprintf(stderr, "spool: --schedule belongs to 'spool map'\n");
				goto out;
			}
			if (strcmp(optarg, "static") != 0 && strcmp(optarg, "balanced") != 0) {
				fprintf(stderr, "spool: --schedule wants static or balanced, not '%s'\n", shown(optarg));
				goto out;
			}
			s.schedule = optarg;
			break;
		case 'A':
		case 'K':
			if (dep_list(o == 'A' ? &after : &afterok, optarg, o == 'A' ? "--after" : "--afterok") < 0)
				goto out;
			break;
		case 'P':
			if (!is_map) {
				fprintf(stderr, "spool: --after-each belongs to 'spool map' (it pairs the tasks of two maps)\n");
				goto out;
			}
			cli_jobref_fold(optarg);
			s.after_each = optarg;
			break;
		case 'p': {
			int64_t pr;
			if (parse_i64(optarg, -1000000000, 1000000000, &pr) < 0) {
				fprintf(stderr, "spool: --priority wants an integer from -1000000000 to 1000000000, not '%s'\n",
					shown(optarg));
				goto out;
			}
			s.priority = (int)pr;
			break;
		}
		case 'M':
			if (parse_u64(optarg, UINT32_MAX, &v) < 0 || v == 0) {
				fprintf(stderr, "spool: --max-running wants a number of tasks from 1, not '%s'\n", shown(optarg));
				goto out;
			}
			s.max_running = (unsigned)v;
			break;
		case 'I':
			if (strcmp(optarg, "-") == 0 && kind != K_SUBMIT) {
				fprintf(stderr, "spool: --stdin - sends your standard input to a single task: use it with "
					"'spool submit' (give a map or apply --stdin FILE)\n");
				goto out;
			}
			if (!optarg[0] || strlen(optarg) > MAX_PATH_LEN) {
				fprintf(stderr, "spool: --stdin wants a file (or '-'), not '%s'\n", shown(optarg));
				goto out;
			}
			stdin_arg = optarg;
			break;
		case 'F': s.retry_on_failure = 1; break;
		case 'C': cf.cancel_on_int = 1; break;
		case 'm':
			if (parse_size(optarg, MAX_MEM, &v) < 0 || v < MIN_MEM) {
				fprintf(stderr, "spool: --mem wants a size from 1M to 1P (for example 500M or 2G; K, M, G, T "
					"are powers of 1024), not '%s'\n", shown(optarg));
				goto out;
			}
			s.mem = v;
			break;
		case 'g': cf.tag = 1; break;
		case 'j': as_json = cf.json = 1; break;
		case 'd': cli_spool_dir = optarg; break;
		case 'h': usage(stdout, kind); rc = 0; goto out;
		default:
			cli_bad_option(kind == K_MAP ? "map" : kind == K_APPLY ? "apply" : "submit", argv, "+d:h", opts);
			goto out;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "spool: no command given (put it after '--'; see 'spool %s --help')\n",
			kind == K_MAP ? "map" : kind == K_APPLY ? "apply" : "submit");
		goto out;
	}
	int cmd_end = argc;
	for (int i = optind; i < argc; i++)
		if (sep_kind(argv[i]) != SEP_NONE) {
			cmd_end = i;
			break;
		}
	if (!is_map && cmd_end != argc) {
		fprintf(stderr, "spool: '%s' belongs to 'spool map' (input sources, as GNU parallel's); this command "
			"takes none\n", argv[cmd_end]);
		goto out;
	}
	if (is_map) {
		struct source *src;
		size_t nsrc;
		int pr = parse_sources(argc, argv, cmd_end, &src, &nsrc);
		if (pr == 0)
			pr = expand_sources(src, nsrc, &items);
		for (size_t j = 0; j < nsrc; j++)
			strv_free(&src[j].v);
		free(src);
		if (pr < 0) {
			rc = pr == -2 ? SPOOL_EXIT_ERROR : SPOOL_EXIT_USAGE;
			goto out;
		}
		s.nsources = nsrc;
		if (input && cmd_end != argc) {
			fprintf(stderr, "spool: give items either after ':::' (or '::::') or with --input, not both\n");
			goto out;
		}
		if (input && read_items(input, &items) < 0) {
			rc = SPOOL_EXIT_ERROR;
			goto out;
		}
		if (!items.n) {
			fprintf(stderr, "spool: map has no input items: give them after ':::' or with --input FILE\n");
			goto out;
		}
	}
	if (cmd_end == optind) {
		fprintf(stderr, "spool: no command given before ':::'\n");
		goto out;
	}
	char outabs[MAX_PATH_LEN + 1], outjob[MAX_PATH_LEN + 1];
	if (s.outdir && s.outdir[0] != '/') {
		if (!getcwd(outabs, sizeof outabs) || strlen(outabs) + strlen(s.outdir) + 2 > sizeof outabs) {
			fprintf(stderr, "spool: --output %s: cannot make it absolute\n", shown(s.outdir));
			goto out;
		}
		strcat(outabs, "/");
		strcat(outabs, s.outdir);
		s.outdir = outabs;
	}
	if (no_env)
		env_minimal(&env);
	else
		for (char **ep = environ; *ep; ep++)
			if (strchr(*ep, '=') && **ep != '=')
				strv_add(&env, xstrdup(*ep));
	for (size_t i = 0; i < extra.n; i++)
		env_set(&env, extra.v[i]);
	s.env = (const char *const *)env.v;
	s.nenv = env.n;
	s.env_set = 1;
	s.argv = (const char *const *)(argv + optind);
	s.argc = (size_t)(cmd_end - optind);
	s.items = (const char *const *)items.v;
	s.nitems = items.n;
	s.after = (const char *const *)after.v;
	s.nafter = after.n;
	s.afterok = (const char *const *)afterok.v;
	s.nafterok = afterok.n;

	if (stdin_arg && strcmp(stdin_arg, "-") != 0) {
		if (abs_path(stdin_arg, stdin_abs, "--stdin") < 0)
			goto out;
		s.stdin_path = stdin_abs;
	} else if (!stdin_arg && !(input && strcmp(input, "-") == 0)) {
		stdin_notice();
	}

	spool_t *sp = cli_open();
	if (!sp) {
		rc = SPOOL_EXIT_ERROR;
		goto out;
	}
	char id[16], err[SPOOL_ERRLEN];
	/* --output DIR: the job's files go to DIR/spool-JOB, as they go to CWD/spool-JOB without it, so
	 * that two jobs given the same DIR never write over each other's TASK.ATTEMPT files. */
	if (s.outdir) {
		if (spool_job_id_new(sp, id, err, sizeof err) < 0) {
			cli_error(err);
			spool_close(sp);
			rc = SPOOL_EXIT_ERROR;
			goto out;
		}
		s.jobid = id;
		size_t len = strlen(s.outdir);
		while (len > 1 && s.outdir[len - 1] == '/')
			len--;
		if (len + 7 + strlen(id) > MAX_PATH_LEN) {
			fprintf(stderr, "spool: --output %s: %.*s/spool-%s would be too long a path (limit %d bytes)\n",
				shown(s.outdir), (int)len, s.outdir, id, MAX_PATH_LEN);
			spool_close(sp);
			rc = SPOOL_EXIT_USAGE;
			goto out;
		}
		snprintf(outjob, sizeof outjob, "%.*s%sspool-%s", (int)len, s.outdir, len == 1 ? "" : "/", id);
		s.outdir = outjob;
	}
	if (stdin_arg && strcmp(stdin_arg, "-") == 0 &&
	    (rc = stdin_copy(sp, &s, id, stdin_abs)) != 0) {
		spool_close(sp);
		goto out;
	}
	if ((rc = spool_submit(sp, &s, id, err, sizeof err)) < 0) {
		cli_error(err);
		rc = spool_exit_code(rc);
	} else if (wait) {
		fprintf(stderr, "spool: job %s submitted, waiting for it\n", id);
		rc = collect_job(sp, id, &cf);
	} else {
		if (as_json)
			submitted_json(&s, kind, id);
		else
			printf("%s\n", id);
		rc = fflush(stdout) == 0 ? 0 : SPOOL_EXIT_ERROR;
	}
	spool_close(sp);
out:
	strv_free(&env);
	strv_free(&extra);
	strv_free(&items);
	strv_free(&after);
	strv_free(&afterok);
	return rc;
}

int cmd_submit(int argc, char **argv)
{
	return submit_common(argc, argv, K_SUBMIT);
}

int cmd_map(int argc, char **argv)
{
	return submit_common(argc, argv, K_MAP);
}

int cmd_apply(int argc, char **argv)
{
	return submit_common(argc, argv, K_APPLY);
}
