/* notes.c - the IPython parallel notes' walkthrough through spool's C API.
 *
 *   cc notes.c -o notes -lspool -lconfig -lsodium && SPOOL_DIR=/path/to/spool ./notes
 *
 * Prints the engine ids, every engine's hostname (apply), the average of 2 3 5 7 9 on every
 * engine, the squares of 2 3 5 7 9 (map, in order), and the push/apply/pull counter.
 */
#include <spool.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_stdout(const struct spool_job *job, const struct spool_task *t, void *arg)
{
	(void)job;
	(void)arg;
	char line[4096];
	FILE *f = t->stdout_path ? fopen(t->stdout_path, "r") : NULL;
	if (!f)
		return;
	while (fgets(line, sizeof line, f))
		fputs(line, stdout);
	fclose(f);
}

/* Submit a spec, wait for it, print each task's output in task order. */
static int run(spool_t *sp, struct spool_job_spec *spec, const char *title)
{
	char id[16], err[SPOOL_ERRLEN];
	struct spool_collect_opts o = { .flags = SPOOL_COLLECT_WAIT, .on_result = print_stdout };
	printf("%s\n", title);
	if (spool_submit(sp, spec, id, err, sizeof err) < 0) {
		fprintf(stderr, "notes: %s\n", err);
		return -1;
	}
	int rc = spool_collect(sp, id, &o, NULL, err, sizeof err);
	if (rc != SPOOL_EXIT_OK)
		fprintf(stderr, "notes: job %s did not succeed (exit code %d) %s\n", id, rc, err);
	return rc == SPOOL_EXIT_OK ? 0 : -1;
}

int main(void)
{
	char err[SPOOL_ERRLEN], id[16];
	spool_t *sp = spool_open(NULL, err, sizeof err);
	if (!sp) {
		fprintf(stderr, "notes: %s\n", err);
		return 1;
	}
	if (spool_wait_engines(sp, 1, 30000, err, sizeof err) < 0) {
		fprintf(stderr, "notes: %s\n", err);
		return 1;
	}
	struct spool_engine *e;
	size_t n;
	if (spool_engines(sp, &e, &n, err, sizeof err) < 0) {
		fprintf(stderr, "notes: %s\n", err);
		return 1;
	}
	printf("c.ids:");
	for (size_t i = 0; i < n; i++)
		if (strcmp(e[i].state, "dead") != 0)
			printf(" %lld", (long long)e[i].id);
	printf("\n");
	spool_engines_free(e);

	const char *hostname[] = { "hostname" };
	struct spool_job_spec s1 = { .argv = hostname, .argc = 1, .retries = -1, .is_apply = 1 };
	const char *avg[] = { "awk", "BEGIN { print (2+3+5+7+9)/5 }" };
	struct spool_job_spec s2 = { .argv = avg, .argc = 2, .retries = -1, .is_apply = 1 };
	const char *sq[] = { "sh", "-c", "echo $(( {} * {} ))" };
	const char *items[] = { "2", "3", "5", "7", "9" };
	struct spool_job_spec s3 = { .argv = sq, .argc = 3, .retries = -1, .is_map = 1, .items = items, .nitems = 5 };
	if (run(sp, &s1, "dview.apply_sync(get_hostname):") < 0 || run(sp, &s2, "dview.apply_sync(get_average):") < 0 ||
	    run(sp, &s3, "dview.map(get_squared, [2, 3, 5, 7, 9]):") < 0)
		return 1;

	const char *push[] = { "counter=0" };
	const char *inc[] = { "sh", "-c", "echo counter=$((counter + 1)) > \"$SPOOL_VARS\"" };
	struct spool_job_spec s4 = { .argv = inc, .argc = 3, .retries = -1, .is_apply = 1 };
	const char *name[] = { "counter" };
	struct spool_collect_opts o = { .flags = SPOOL_COLLECT_WAIT, .on_result = print_stdout };
	if (spool_push(sp, NULL, push, 1, id, err, sizeof err) < 0 || run(sp, &s4, "increment on every engine") < 0 ||
	    spool_pull(sp, NULL, name, 1, id, err, sizeof err) < 0) {
		fprintf(stderr, "notes: %s\n", err);
		return 1;
	}
	printf("dview.pull('counter'):\n");
	if (spool_collect(sp, id, &o, NULL, err, sizeof err) != SPOOL_EXIT_OK) {
		fprintf(stderr, "notes: pull failed: %s\n", err);
		return 1;
	}
	spool_close(sp);
	return 0;
}
