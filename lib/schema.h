/* schema.h - the record types of the spool protocol and their limits.
 * spool-layout.md documents each; keep the two in step. */
#ifndef SPOOL_SCHEMA_H
#define SPOOL_SCHEMA_H

#include "rec.h"

#define MAX_ARGS 4096
#define MAX_ARG_LEN (128 * 1024)
#define MAX_ENV 4096
#define MAX_ENV_LEN (128 * 1024)
#define MAX_ITEMS 1000000
#define MAX_ITEM_LEN (64 * 1024)
#define MAX_PATH_LEN 4096
/* A task's files are OUTDIR/TASK.ATTEMPT.{out,err,res,vars}: the name takes at most
 * 1 + 20 + 1 + 20 + 5 bytes, so an output directory of MAX_OUTDIR_LEN keeps every such path
 * (and the done record's stdout/stderr) within MAX_PATH_LEN, and within PATH_MAX with its NUL. */
#define OUTFILE_NAME_MAX 47
#define MAX_OUTDIR_LEN (MAX_PATH_LEN - OUTFILE_NAME_MAX - 1)
#define MAX_LABEL_LEN 128
#define MAX_REASON_LEN 1024
#define MAX_JOB_RECORD (256u * 1024 * 1024)
#define MAX_SMALL_RECORD (64u * 1024)
#define MAX_ASSIGN_RECORD (4u * 1024 * 1024)
#define MAX_STATE_RECORD (512u * 1024 * 1024) /* format 1 job state: every task in one record */
#define MAX_CHUNK_RECORD (32u * 1024 * 1024)  /* format 2: one chunk of 1,024 tasks */
#define MAX_DEPS 64                    /* after + afterok entries of one job (JOB or JOB.TASK each) */
#define MAX_DEP_LEN 96                 /* one of them */
#define MAX_WAITING_LEN 1024           /* a summary's list of the jobs a job waits on */
#define MAX_TARGETS_LEN 8192           /* "all" or engine ids "3,4,9" */
#define MAX_VAR_NAME 64                /* per-engine variables: shell identifiers */
#define MAX_VAR_VALUE (64 * 1024)
#define MAX_VARS 1024                  /* variables per engine */
#define MAX_VARS_BYTES (512 * 1024)    /* all of an engine's NAME=VALUE: every task's environment
				        * holds them, and saved (3x escaped) they fit MAX_VARS_RECORD */
#define MAX_VARS_RECORD (2u * 1024 * 1024)
#define MAX_VARS_FILE (16u * 1024 * 1024) /* a task's $SPOOL_VARS file, read whole before merging */
#define MIN_MEM (1ull << 20)           /* a task's memory limit (--mem), in bytes: 1M .. */
#define MAX_MEM (1ull << 50)           /* .. 1P; 0 is no limit */
#define POISON_LIMIT 3                 /* deaths of spoold in a row while handling one job: it fails */
#define QUARANTINE_MAX_RECORDS 1000    /* beyond this, rejected records are deleted, not kept */

extern const struct rec_schema schema_job;      /* client -> spoold: a submit or a map */
extern const struct rec_schema schema_cancel;   /* client -> spoold */
extern const struct rec_schema schema_hold;     /* client -> spoold: hold or release a job */
extern const struct rec_schema schema_purge;    /* client -> spoold: forget a finished job */
extern const struct rec_schema schema_hello;    /* worker -> spoold: registration request */
extern const struct rec_schema schema_beat;     /* worker -> spoold: heartbeat counter */
extern const struct rec_schema schema_bye;      /* worker -> spoold: clean shutdown */
extern const struct rec_schema schema_reg;      /* spoold -> worker: engine ids, alive or dead */
extern const struct rec_schema schema_assign;   /* spoold -> worker: one task attempt */
extern const struct rec_schema schema_vars;     /* worker: an engine's variables, vars/NODE.SLOT */
extern const struct rec_schema schema_done;     /* worker -> spoold, and the .res file beside the data */
extern const struct rec_schema schema_jobstate; /* spoold -> clients: a job's tasks */
extern const struct rec_schema schema_ctlinfo;  /* spoold -> clients: who runs the controller */
extern const struct rec_schema schema_engines;  /* spoold -> clients: the engine table */
extern const struct rec_schema schema_jobsum;   /* spoold -> clients: a job's summary (ctl/jobs/JOBID.state) */
extern const struct rec_schema schema_jobtasks; /* spoold -> clients: 1,024 of its tasks (ctl/jobs/JOBID.tasks.K) */
extern const struct rec_schema schema_inflight; /* spoold -> itself: the job it was handling (ctl/inflight) */

#endif
