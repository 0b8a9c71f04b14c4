/* cli.h - the spool command's subcommands, each in its own file. */
#ifndef SPOOL_CLI_H
#define SPOOL_CLI_H

#include "spool.h"
#include "spooldir.h"

#include <stdio.h>

/* The spool chosen with the global -d (NULL: per command -d, else $SPOOL_DIR). */
extern const char *cli_spool_dir;

int cmd_submit(int argc, char **argv);
int cmd_map(int argc, char **argv);
int cmd_collect(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_workers(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_hold(int argc, char **argv);
int cmd_release(int argc, char **argv);
int cmd_apply(int argc, char **argv);
int cmd_push(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_retry(int argc, char **argv);
int cmd_purge(int argc, char **argv);
int cmd_tail(int argc, char **argv);
int cmd_acct(int argc, char **argv);

/* Open the spool or print why not and return NULL. */
spool_t *cli_open(void);
struct collect_flags {
	int wait, follow, tag, json;
	int all;             /* list every task that did not succeed, not only the first few */
	int cancel_on_int;   /* Ctrl-C cancels the job (else it goes on) */
	uint64_t timeout_ms;
};
/* collect's core, shared with submit/map/apply/push/pull --wait. */
int collect_job(spool_t *sp, const char *jobid, const struct collect_flags *f);

/* output.c */
/* s made safe for a terminal (text_clean: control bytes, C1, invalid UTF-8 as %XX). The result
 * lives until eight more calls: enough for one printf. Single-threaded, like the command. */
const char *shown(const char *s);
/* "spool: MSG" on stderr, cleaned: API errors quote paths, names and reasons. */
void cli_error(const char *msg);
struct json;
void describe_task(const struct spool_task *t, char *out, size_t sz);
int print_task_output(const struct spool_job *j, const struct spool_task *t, int tag, int header);
struct summary {
	struct buf fail, warn; /* lines for tasks that did not succeed, and warnings */
	size_t lines, more;
	size_t max;          /* lines kept (SUMMARY_FEW unless --all) */
};
#define SUMMARY_FEW 10
/* item: the task's (a map's), or NULL. */
void summary_note(struct summary *sm, const struct spool_task *t, const char *item);
size_t print_summary(const struct spool_job *j, const struct summary *sm);
void summary_free(struct summary *sm);
void json_job(struct json *js, const struct spool_job *j, int with_tasks);
/* The same with each task's item and values (from spool_job_items: null for a job that is not
 * a map; items NULL: the record could not be read, no such fields). */
void json_job_items(struct json *js, const struct spool_job *j, int with_tasks, char **items, size_t nitems);
/* The job with its tasks and their items (collect --json, status --json JOB). */
void json_job_full(spool_t *sp, struct json *js, const struct spool_job *j);
void json_print(struct json *js);
struct progress {
	int started, shown;        /* a first look taken; a line on the terminal */
	uint64_t done0, t0_ms;     /* terminal tasks and elapsed time at the first look */
};
void progress_line(struct progress *pg, const struct spool_job *j, uint64_t elapsed_ms);
/* Erase the line (pg NULL: whatever is there). */
void progress_clear(struct progress *pg);
/* Every help text ends with this: -d, -h, and the exit codes from their one table. */
void cli_help_end(FILE *f);
/* After getopt_long returned '?' (with opterr 0): one line naming the option, and a hint. */
struct option;
void cli_bad_option(const char *cmd, char **argv, const char *shortopts, const struct option *opts);
/* Job ids are lower case: accept them in any case (JOB or JOB.TASK, changed in place). */
void cli_jobref_fold(char *s);

/* jobsel.c: the jobs status and acct show, and their tables' formats. Each sel_* parses an
 * option's argument into s, or prints why not and returns -1. */
struct job_sel {
	uint64_t *users;      /* --user (several: any of them); none: every job the caller may see */
	size_t nusers;
	uint64_t states;      /* --state bits; 0: any */
	uint64_t since_ms;    /* --since: leave out jobs over before it; 0: none */
};
int sel_user(struct job_sel *s, const char *arg);
int sel_states(struct job_sel *s, const char *arg);
int sel_since(struct job_sel *s, const char *arg);
int sel_match(const struct job_sel *s, const struct spool_job *j);
void sel_free(struct job_sel *s);
uint64_t now_ms(void);
const char *user_name(uint64_t uid, char *buf, size_t sz);   /* the name, else the uid */
const char *clock_text(uint64_t ms, char *buf, size_t sz);   /* HH:MM within a day, else MM-DD */
const char *dur_text(int64_t ms, char *buf, size_t sz);      /* 0.4s 12s 3m02s 2h05m 3d04h; - */
int term_width(void);            /* the tty's columns, else $COLUMNS, else 80 */
void print_fit(const char *s, int width); /* s, cut to width columns with "..." */

#endif
