/* fsio.h - durable and careful file access.
 *
 * Writers publish whole files only: write a temporary in the same directory
 * (a name starting with ".tmp.", which every reader skips), fsync it, rename
 * it into place, fsync the directory. Readers open relative to a directory
 * descriptor with O_NOFOLLOW and accept only a regular file with one link and
 * a bounded size, so a planted symlink or hard link is refused, not followed.
 */
#ifndef SPOOL_FSIO_H
#define SPOOL_FSIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "log.h"
#include "util.h"

enum {
	FSW_NOSYNC = 1,   /* skip the fsyncs (heartbeats: freshness matters, durability does not) */
	FSW_NODIRSYNC = 2, /* caller fsyncs the directory once after a batch */
	/* Rename into place first, then fsync the file and the directory: a reader may take the
	 * file before it is on disk. Only where every reader shares this kernel's page cache (a
	 * local filesystem: spooldir_fs_local), where a renamed file is whole to all of them; a
	 * reader on another node of a network filesystem could see it empty. The fsyncs then run
	 * while the reader works. */
	FSW_VISIBLE_FIRST = 4
};
/* What fs_write_atomic returns when the file was renamed into place but a sync after the rename
 * failed (the file's with FSW_VISIBLE_FIRST, its directory's, or syncfs): a reader may have
 * taken it. Any other failure is -1, and nothing was put in place. */
#define FSW_IN_PLACE (-2)

/* All of data to fd, a short write continued and EINTR retried: 0, or -1 with errno. */
int fs_write_fd(int fd, const void *data, size_t len);
/* Exactly len bytes from fd: 0, or -1 (errno; or the end came first). */
int fs_read_fd(int fd, void *data, size_t len);
int fs_write_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode, unsigned flags,
		    struct err *e);
/* The same, the file given to `owner` (fchown, needs root) before it is renamed into place. */
int fs_write_atomic_owned(int dirfd, const char *name, const void *data, size_t len, mode_t mode, uid_t owner,
			  unsigned flags, struct err *e);
/* A file that is new as a rule, created under its own name (O_EXCL, O_NOFOLLOW) and written,
 * not synced: for a file no one reads before the writer says it is complete by another record
 * (a task's .res, before its done record). One already there is replaced whole through a
 * temporary (fs_write_atomic, which sets mode exactly); a new one gets mode less the umask, so
 * pass a mode the umask leaves as it is. A failed write removes what it created. */
int fs_write_new(int dirfd, const char *name, const void *data, size_t len, mode_t mode, struct err *e);
/* Read a whole regular file (O_NOFOLLOW, one link, at most max bytes). Returns 0, or -1 with
 * errno set (ENOENT when absent) and e filled. st, if not NULL, receives its fstat. */
int fs_read_file(int dirfd, const char *name, size_t max, struct buf *out, struct stat *st, struct err *e);
/* A small file holding one decimal number and a newline (counters, ids); -1 if absent or bad. */
int fs_read_u64(int dirfd, const char *name, uint64_t *v);
int fs_fsync_dir(int dirfd, struct err *e);
/* Open a directory relative to dirfd without following a final symlink. */
int fs_open_dir(int dirfd, const char *name, struct err *e);
/* mkdir that accepts an existing directory. */
int fs_mkdir(int dirfd, const char *name, mode_t mode, struct err *e);
/* mkdir -p of an absolute path. */
int fs_mkdir_p(const char *path, mode_t mode, struct err *e);
/* Names the readers of a spool directory ignore: ".", "..", dot files (temporaries). */
bool fs_skip_name(const char *name);
/* Collect the entry names of a directory (skipping fs_skip_name), sorted; returns count or -1. */
long fs_list(int dirfd, char ***names, struct err *e);
void fs_list_free(char **names, long n);
/* The names an inotify watch saw arrive in a directory, so that the next pass reads those files
 * instead of listing it: at most FS_NOTED_MAX, and then the caller lists it all. */
#define FS_NOTED_MAX 256
struct fs_noted {
	char **v;
	size_t n;
};
/* false: the list is full (list the directory instead). A name fs_skip_name skips is left out. */
bool fs_noted_add(struct fs_noted *l, const char *name);
/* The names, sorted as fs_list sorts a listing, handed over (free them with fs_list_free); l is
 * empty after. */
long fs_noted_take(struct fs_noted *l, char ***names);
void fs_noted_clear(struct fs_noted *l);
/* Remove a directory tree below dirfd without following links, with two descriptors open
 * whatever its depth (it climbs back through "..", checked against where it came from).
 * Returns 0 when gone, -1 on error (errno). */
int fs_remove_tree(int dirfd, const char *name);
/* The same, stopping after `budget` removals (0: no bound): returns 1 when some of the tree
 * remains (call again), so a huge tree is removed over several passes of a loop. */
int fs_remove_tree_some(int dirfd, const char *name, size_t budget);

#endif
