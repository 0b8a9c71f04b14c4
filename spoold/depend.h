/* depend.h - a job record's dependencies, as the controller accepts it (spool-layout.md 5.5). */
#ifndef SPOOLD_DEPEND_H
#define SPOOLD_DEPEND_H

#include "ctl.h"
#include "rec.h"

/* What accepting a job with dependencies does: rows to add (those not resolved yet), the count
 * every task waits on, or the reason every task ends skipped (an afterok dependency that already
 * ended without succeeding), and the job of an after_each. */
struct dep_plan {
	struct dep_one {
		int64_t on_rid, on_idx;
		bool ok;
	} d[MAX_DEPS + 1];
	size_t n;
	int64_t waits;
	char *skip;
	int64_t each_rid;   /* 0: none */
	bool each_started;  /* some of its tasks ended: look at task i for task i */
};

/* The fields are well formed (validate_job calls it). */
int deps_validate(const struct rec *r, struct err *e);
/* A dependency names a job not in the queue whose record waits in incoming/. */
bool deps_in_incoming(struct ctl *c, const struct rec *r);
/* Inside the transaction, before the job is added: 0, 1 when the job must be refused (a
 * dependency on a job that does not exist or is another owner's; the reason in refuse), -1. */
int deps_plan(struct ctl *c, const struct rec *r, uid_t owner, uint64_t ntasks, struct dep_plan *p,
	      struct err *refuse);
/* Task idx of the job: the dependencies it waits on, or (skip not empty) why it ends skipped. */
int deps_task(struct ctl *c, const struct dep_plan *p, int64_t idx, int64_t *waits, char *skip, size_t sz);
/* Once the job is added as rid: its rows. */
int deps_record(struct ctl *c, int64_t rid, const struct dep_plan *p);
void deps_plan_free(struct dep_plan *p);

#endif
