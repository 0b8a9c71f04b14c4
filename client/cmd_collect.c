/* cmd_collect.c - `spool collect`: wait for a job, print each task's output in task order,
 * summarise failures; or follow results as they come; or print them as JSON. */
#include "cli.h"
#include "json.h"
#include "util.h"

#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct printer {
	int tag, follow, json, tty, warned, nudged;
	size_t unread; /* succeeded tasks whose output could not be read */
	spool_t *sp;
	struct summary sm;
	char **items; /* the job's items, read at its first failure (a job that succeeds never pays) */
	size_t nitems;
	int items_read;
	struct progress pg;
	const char *jobid;
	int cancel_on_int;
};

/* How long a wait goes on with nothing started before it says why (no engine, no controller). */
#define NUDGE_MS 5000

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Ctrl-C while waiting: the job is the spool's, not this process's; say so (or cancel it). */
static void stop_on_interrupt(struct printer *p)
{
	char err[SPOOL_ERRLEN];
	if (p->tty)
		progress_clear(&p->pg);
	fflush(stdout);
	if (!p->cancel_on_int) {
		fprintf(stderr, "spool: interrupted: job %s goes on (see it with 'spool collect %s'; stop it with "
			"'spool cancel %s')\n", p->jobid, p->jobid, p->jobid);
	} else if (spool_cancel(p->sp, p->jobid, 0, err, sizeof err) < 0) {
		fprintf(stderr, "spool: interrupted: could not cancel job %s: %s\n", p->jobid, shown(err));
	} else {
		fprintf(stderr, "spool: interrupted: cancel of job %s requested (--cancel-on-interrupt)\n", p->jobid);
	}
	exit(SPOOL_EXIT_INTERRUPTED);
}

/* A wait where nothing has started after a few seconds: say once why, when it is that no engine
 * is alive or that the controller does not run (it is then not for lack of free engines). */
static void nudge(struct printer *p, const struct spool_job *j)
{
	char st[512], err[SPOOL_ERRLEN];
	struct spool_engine *e;
	size_t n, alive = 0;
	p->nudged = 1;
	if (p->tty)
		progress_clear(&p->pg);
	if (!spool_controller_running(p->sp, st, sizeof st, 0))
		fprintf(stderr, "spool: the controller is not running: start 'spoold -d %s' (job %s waits in the "
			"spool until it does)\n", shown(spool_path(p->sp)), j->id);
	if (spool_engines(p->sp, &e, &n, err, sizeof err) == 0) {
		for (size_t i = 0; i < n; i++)
			alive += strcmp(e[i].state, "dead") != 0;
		spool_engines_free(e);
		if (!alive)
			fprintf(stderr, "spool: no engine is up: start one with 'spool-worker' (job %s waits until one "
				"is; see 'spool workers')\n", j->id);
	}
}

/* While waiting: the progress line on a terminal, and one word after a few seconds if nothing
 * has started because no engine or no controller runs. */
static void on_progress(const struct spool_job *j, uint64_t elapsed_ms, void *arg)
{
	struct printer *p = arg;
	if (interrupted)
		stop_on_interrupt(p);
	uint64_t started = j->counts[SPOOL_TASK_RUNNING];
	for (int s = SPOOL_TASK_SUCCEEDED; s < SPOOL_TASK_NSTATES; s++)
		started += j->counts[s];
	if (!p->nudged && elapsed_ms >= NUDGE_MS && (!j->ntasks || !started))
		nudge(p, j);
	if (p->tty && j->ntasks)
		progress_line(&p->pg, j, elapsed_ms);
}

static void on_result(const struct spool_job *j, const struct spool_task *t, void *arg)
{
	struct printer *p = arg;
	if (interrupted && !j->done)
		stop_on_interrupt(p);
	if (interrupted) { /* while the results of a finished job print: stop printing them */
		fflush(stdout);
		fprintf(stderr, "\nspool: interrupted while printing the results of job %s\n", p->jobid);
		exit(SPOOL_EXIT_INTERRUPTED);
	}
	if (p->json)
		return;
	if (!spool_task_succeeded(t) && !p->items_read) {
		char err[SPOOL_ERRLEN];
		p->items_read = 1;
		if (spool_job_items(p->sp, j->id, &p->items, &p->nitems, err, sizeof err) < 0)
			p->nitems = 0;
	}
	summary_note(&p->sm, t, t->task >= 1 && t->task <= p->nitems ? p->items[t->task - 1] : NULL);
	if (p->tty) /* a progress line may be on the terminal (never with --follow, or off one) */
		progress_clear(&p->pg);
	if (print_task_output(j, t, p->tag, p->follow) < 0)
		p->unread++;
}

int collect_job(spool_t *sp, const char *jobid, const struct collect_flags *f)
{
	struct printer p = { .tag = f->tag, .follow = f->follow, .json = f->json, .sp = sp, .jobid = jobid,
			     .tty = f->wait && !f->json && !f->follow && isatty(2), .cancel_on_int = f->cancel_on_int };
	struct sigaction sa = { .sa_handler = on_sigint }, old;
	struct spool_collect_opts o = { .timeout_ms = f->timeout_ms, .on_result = on_result,
					.on_progress = on_progress, .arg = &p };
	struct spool_job *j;
	char err[SPOOL_ERRLEN] = "";

	if (f->wait)
		o.flags |= SPOOL_COLLECT_WAIT;
	if (f->follow)
		o.flags |= SPOOL_COLLECT_FOLLOW | SPOOL_COLLECT_WAIT;
	p.sm.max = f->all ? SIZE_MAX : SUMMARY_FEW;
	/* No SA_RESTART: the wait's poll and sleep return at once and the next look sees the flag. */
	sigemptyset(&sa.sa_mask);
	if (f->wait)
		sigaction(SIGINT, &sa, &old);
	int rc = spool_collect(sp, jobid, &o, &j, err, sizeof err);
	if (f->wait)
		sigaction(SIGINT, &old, NULL);
	if (interrupted && j && !j->done)
		stop_on_interrupt(&p);
	if (p.tty)
		progress_clear(&p.pg);
	if (!j) {
		cli_error(err);
		summary_free(&p.sm);
		spool_items_free(p.items, p.nitems);
		return rc;
	}
	if (f->json) { /* every task at once: O(tasks) of memory, which a script asking for JSON accepts */
		struct spool_job *full;
		int nf;
		if (spool_job_get(sp, jobid, &full, &nf, err, sizeof err) < 0) {
			cli_error(err);
			rc = nf ? SPOOL_EXIT_NO_JOB : SPOOL_EXIT_ERROR;
		} else {
			struct json js;
			json_init(&js);
			json_job_full(sp, &js, full);
			json_print(&js);
			json_free(&js);
			spool_job_free(full);
		}
	} else if (!j->ntasks && j->accepted) {
		fprintf(stderr, "spool: job %s is accepted; its state is not yet published (in a moment)\n", jobid);
	} else if (!j->ntasks) {
		fprintf(stderr, "spool: job %s is not yet accepted by the controller%s\n", jobid,
			f->timeout_ms ? "" : " (is spoold running? see 'spool status')");
	} else {
		print_summary(j, &p.sm);
	}
	if (err[0] && rc == SPOOL_EXIT_PENDING)
		cli_error(err);
	/* Output that was lost on the way is an I/O error, never a success. */
	if (p.unread && (rc == SPOOL_EXIT_OK || rc == SPOOL_EXIT_TASK_FAILED)) {
		fprintf(stderr, "spool: job %s: the output of %zu succeeded task%s could not be read (see above)\n",
			jobid, p.unread, p.unread == 1 ? "" : "s");
		rc = SPOOL_EXIT_ERROR;
	}
	spool_job_free(j);
	summary_free(&p.sm);
	spool_items_free(p.items, p.nitems);
	return rc;
}

int cmd_collect(int argc, char **argv)
{
	static const struct option opts[] = { { "no-wait", no_argument, NULL, 'n' },
					      { "timeout", required_argument, NULL, 't' },
					      { "follow", no_argument, NULL, 'f' },
					      { "tag", no_argument, NULL, 'g' },
					      { "json", no_argument, NULL, 'j' },
					      { "all", no_argument, NULL, 'a' },
					      { "cancel-on-interrupt", no_argument, NULL, 'C' },
					      { "dir", required_argument, NULL, 'd' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	struct collect_flags f = { .wait = 1 };
	int o;

	while ((o = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		switch (o) {
		case 'n': f.wait = 0; break;
		case 't':
			if (parse_seconds_ms(optarg, 366ull * 86400 * 1000, &f.timeout_ms) < 0 || f.timeout_ms == 0) {
				fprintf(stderr, "spool: --timeout wants a duration (30, 0.5, 90s, 1m, 2h), not '%s'\n", shown(optarg));
				return SPOOL_EXIT_USAGE;
			}
			break;
		case 'f': f.follow = 1; break;
		case 'g': f.tag = 1; break;
		case 'j': f.json = 1; break;
		case 'a': f.all = 1; break;
		case 'C': f.cancel_on_int = 1; break;
		case 'd': cli_spool_dir = optarg; break;
		case 'h':
			printf("usage: spool collect [--no-wait] [--timeout SEC] [--follow] [--tag] [--json] [--all] JOB\n"
			       "\nWait for JOB, print each task's stdout (and its stderr to stderr) in task\n"
			       "order, then a summary of the tasks that did not succeed on stderr: their\n"
			       "counts per state and the first %d of them, one line each.\n"
			       "  --no-wait       print what has finished, say how many are pending, return at once\n"
			       "  --timeout SEC   stop waiting after SEC seconds\n"
			       "  --follow        print each task as it finishes, under a line\n"
			       "                  '==> task N (engine E on NODE): STATE <==' (finished tasks in\n"
			       "                  task order at each look; the order of finishing otherwise)\n"
			       "  --tag           prefix every output line with '[ENGINE NODE] '\n"
			       "  --json          print the job and one object per task as JSON instead\n"
			       "  --all           list every task that did not succeed in the summary\n"
			       "  --cancel-on-interrupt  Ctrl-C cancels the job (else it goes on, and collect\n"
			       "                  says how to cancel it)\n"
			       "On a terminal a waiting collect shows a progress line on stderr. When nothing\n"
			       "has started after a few seconds it says whether no engine or no controller runs.\n\n",
			       SUMMARY_FEW);
			cli_help_end(stdout);
			return 0;
		default: cli_bad_option("collect", argv, "d:h", opts); return SPOOL_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: spool collect [--no-wait] [--timeout SEC] [--follow] [--tag] [--json] [--all] JOB\n"
			"(see 'spool collect --help')\n");
		return SPOOL_EXIT_USAGE;
	}
	cli_jobref_fold(argv[optind]);
	spool_t *sp = cli_open();
	if (!sp)
		return SPOOL_EXIT_ERROR;
	int rc = collect_job(sp, argv[optind], &f);
	spool_close(sp);
	return rc;
}
