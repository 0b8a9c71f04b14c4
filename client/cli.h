/* cli.h - the spool command's subcommands, each in its own file. */
#ifndef SPOOL_CLI_H
#define SPOOL_CLI_H

#include "spool.h"
#include "spooldir.h"

/* The spool chosen with the global -d (NULL: per command -d, else $SPOOL_DIR). */
extern const char *cli_spool_dir;

int cmd_submit(int argc, char **argv);
int cmd_map(int argc, char **argv);
int cmd_collect(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_workers(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_doctor(int argc, char **argv);

/* Open the spool or print why not and return NULL. */
spool_t *cli_open(void);
struct spooldir *spool_dir(spool_t *sp);
/* collect's core, shared with submit --wait. */
int collect_job(spool_t *sp, const char *jobid, int wait, uint64_t timeout_ms);
/* "running (pid N on NODE)" or "NOT RUNNING ..." ; returns 1 when running. */
int controller_status(struct spooldir *sd, char *out, size_t outsz, int patient);

#endif
