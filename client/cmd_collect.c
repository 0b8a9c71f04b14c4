/* cmd_collect.c - `spool collect`: wait for a job, print each task's output in task order,
 * summarise failures; or follow results as they come; or print them as JSON. */
#include "cli.h"
#include "json.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct printer {
	int tag, follow, json, tty, warned;
	size_t unread; /* succeeded tasks whose output could not be read */
	spool_t *sp;
	struct summary sm;
	char **items; /* the job's items, read at its first failure (a job that succeeds never pays) */
	size_t nitems;
	int items_read;
};

/* While waiting: the progress line on a terminal, and one warning if the job sits unaccepted
 * because no controller runs. */
static void on_progress(const struct spool_job *j, uint64_t elapsed_ms, void *arg)
{
	struct printer *p = arg;
	if (!j->ntasks && !p->warned && elapsed_ms > 3000) {
		char st[512];
		p->warned = 1;
		if (!spool_controller_running(p->sp, st, sizeof st, 0)) {
			if (p->tty)
				progress_clear();
			fprintf(stderr, "spool: job %s waits in the spool: the controller is %s\n", j->id, st);
		}
	}
	if (p->tty && j->ntasks)
		progress_line(j, elapsed_ms, NULL);
}

static void on_result(const struct spool_job *j, const struct spool_task *t, void *arg)
{
	struct printer *p = arg;
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
		progress_clear();
	if (print_task_output(j, t, p->tag, p->follow) < 0)
		p->unread++;
}

int collect_job(spool_t *sp, const char *jobid, const struct collect_flags *f)
{
	struct printer p = { f->tag, f->follow, f->json, f->wait && !f->json && !f->follow && isatty(2), 0, 0, sp,
			     { { 0 }, { 0 }, 0, 0 }, NULL, 0, 0 };
	struct spool_collect_opts o = { .timeout_ms = f->timeout_ms, .on_result = on_result,
					.on_progress = on_progress, .arg = &p };
	struct spool_job *j;
	char err[SPOOL_ERRLEN] = "";

	if (f->wait)
		o.flags |= SPOOL_COLLECT_WAIT;
	if (f->follow)
		o.flags |= SPOOL_COLLECT_FOLLOW | SPOOL_COLLECT_WAIT;
	int rc = spool_collect(sp, jobid, &o, &j, err, sizeof err);
	if (p.tty)
		progress_clear();
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
		case 'd': cli_spool_dir = optarg; break;
		case 'h':
			printf("usage: spool collect [--no-wait] [--timeout SEC] [--follow] [--tag] [--json] JOB\n"
			       "\nWait for JOB, print each task's stdout (and its stderr to stderr) in task\n"
			       "order, then a summary of the tasks that did not succeed on stderr.\n"
			       "  --no-wait       print what has finished, say how many are pending, return at once\n"
			       "  --timeout SEC   stop waiting after SEC seconds\n"
			       "  --follow        print each task as it finishes, under a line\n"
			       "                  '==> task N (engine E on NODE): STATE <==' (finished tasks in\n"
			       "                  task order at each look; the order of finishing otherwise)\n"
			       "  --tag           prefix every output line with '[ENGINE NODE] '\n"
			       "  --json          print the job and one object per task as JSON instead\n"
			       "On a terminal a waiting collect shows a progress line on stderr.\n"
			       "\nexit codes: 0 every task succeeded, 1 some task failed, timed out, was\n"
			       "cancelled, abandoned or skipped, 3 spool error, 4 no such job, 5 tasks still pending\n");
			return 0;
		default: return SPOOL_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: spool collect [--no-wait] [--timeout SEC] [--follow] [--tag] [--json] JOB\n");
		return SPOOL_EXIT_USAGE;
	}
	spool_t *sp = cli_open();
	if (!sp)
		return SPOOL_EXIT_ERROR;
	int rc = collect_job(sp, argv[optind], &f);
	spool_close(sp);
	return rc;
}
