/* ids.h - identifiers: random job and worker ids, the one validator for names
 * that become file names, and facts about this node (hostname, boot id). */
#ifndef SPOOL_IDS_H
#define SPOOL_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define JOBID_LEN 10   /* 50 random bits in Crockford base32, lower case */
#define NAME_MAX_LEN 64 /* worker ids, node names, job ids, anything used as a file name */

/* len bytes from the kernel's random source (getrandom, EINTR retried): 0, or -1 with errno. */
int random_bytes(void *buf, size_t len);
/* Fill out (at least len+1 bytes) with len random base32 characters. */
int id_random(char *out, size_t len);
/* The single check for any name used as a path component: 1..NAME_MAX_LEN bytes of
 * [A-Za-z0-9._-], not starting with '.' or '-' (so no "..", no "/", no control bytes). */
bool name_ok(const char *s);
/* A user label (job name): printable, no control bytes, at most max bytes. */
bool label_ok(const char *s, size_t max);
/* Parse "JOB" or "JOB.TASK" (TASK from 1). *task is 0 when absent. */
int jobref_parse(const char *s, char *job, size_t jobsz, uint64_t *task);

/* "all" (n = 0, meaning every engine) or a comma list of distinct engine ids (at most 1024). */
int targets_parse(const char *s, int64_t **ids, size_t *n);
bool targets_has(const int64_t *ids, size_t n, int64_t id);
/* Per-engine variable names are shell identifiers of at most 64 bytes. */
bool var_name_ok(const char *s, size_t len);

/* This node's short hostname (or "localhost"), boot id, and a process's start time in
 * clock ticks since boot (0 if unknown). Used to prove a local process gone. */
void node_name(char *out, size_t sz);
void boot_id(char *out, size_t sz);
uint64_t proc_start_ticks(pid_t pid);
/* A process's state letter (R, S, Z for a zombie...) and its parent, from /proc/PID/stat; -1
 * when it cannot be read (gone). ppid may be NULL. */
int proc_state(pid_t pid, char *state, pid_t *ppid);

#endif
