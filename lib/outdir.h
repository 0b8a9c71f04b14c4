/* outdir.h - a job's output directory beside the data, verified (owner, mode, not a link), and
 * the files made in it relative to that descriptor. Used by the worker (as the task's user) and
 * by the client library (spool_outdir_open, as the caller). */
#ifndef SPOOL_OUTDIR_H
#define SPOOL_OUTDIR_H

#include <stddef.h>
#include <sys/types.h>

int outdir_open(const char *path, char *why, size_t whysz); /* as the acting user: verified fd or -1 */
int outdir_create(int dirfd, const char *name, mode_t mode); /* async-signal-safe; -1 with errno */
const char *outdir_why(int err);
int outdir_vars_clear(int dirfd, const char *name);        /* before the task: 0 or -1 with errno */
struct stat;
int outdir_vars_open(int dirfd, const char *name, uid_t uid, struct stat *st); /* after: fd or -1 (ENOENT: none) */

#endif
