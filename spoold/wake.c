/* wake.c - ctl/wake: how a client waiting on a job on this machine learns at once that spoold
 * published job states, instead of polling for them.
 *
 * The file holds a 32-bit counter at offset 0 (SPOOLDIR_WAKE_SIZE bytes in all), mapped shared by spoold
 * and, read-only, by waiting clients (lib/api_wait.c). After each pass that renamed job states
 * into place, spoold increments the counter and wakes every futex waiter on it. A client reads
 * the counter, then stats its job's state file, and sleeps on the futex only while the counter
 * still has the value it read: a state renamed between the two is never slept through. Polling
 * cost a short job a wake-up every 0.1-0.3 ms and up to 0.3 ms of delay; inotify costs an SRCU
 * grace period when its descriptor is closed (4-15 ms here), longer than such a job.
 *
 * A futex joins processes of one kernel only: clients use it when the spool is on a local
 * filesystem, and elsewhere (NFS) poll and watch as before. Anyone who can read the file can
 * wake its waiters (FUTEX_WAKE needs no write access): that costs them a stat, no more.
 */
#include "ctl.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The file is kept from one run to the next (not truncated): a client still mapping the one
 * an earlier spoold made is woken by this one. Anything else under the name (a link, a
 * directory, a file of another account: nobody else writes in ctl/, but should one be there)
 * is removed and a new file made. */
static int wake_fd(struct ctl *c)
{
	for (int tries = 0; tries < 2; tries++) {
		int fd = openat(c->sd.ctl, SPOOLDIR_WAKE, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
		struct stat st;
		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && st.st_nlink == 1)
			return fd;
		if (fd >= 0)
			close(fd);
		if (unlinkat(c->sd.ctl, SPOOLDIR_WAKE, 0) < 0 && errno != ENOENT)
			unlinkat(c->sd.ctl, SPOOLDIR_WAKE, AT_REMOVEDIR);
	}
	return -1;
}

void wake_open(struct ctl *c)
{
	c->wake = NULL;
	int fd = wake_fd(c);
	struct stat st;
	void *m = MAP_FAILED;
	if (fd >= 0 && fstat(fd, &st) == 0 && (st.st_size == SPOOLDIR_WAKE_SIZE || ftruncate(fd, SPOOLDIR_WAKE_SIZE) == 0) &&
	    fchmod(fd, 0644) == 0)
		m = mmap(NULL, SPOOLDIR_WAKE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED && c->sd.local_fs)
		log_warn("cannot set up %s/ctl/%s: %s (clients waiting on a job poll for it instead)", c->sd.path,
			 SPOOLDIR_WAKE, strerror(errno));
	if (fd >= 0)
		close(fd);
	if (m != MAP_FAILED)
		c->wake = m;
}

void wake_ring(struct ctl *c)
{
	if (!c->wake)
		return;
	__atomic_add_fetch(c->wake, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, c->wake, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

void wake_close(struct ctl *c)
{
	if (c->wake) {
		wake_ring(c); /* waiters look again (and see this spoold gone, if they check) */
		munmap((void *)c->wake, SPOOLDIR_WAKE_SIZE);
	}
	c->wake = NULL;
}
