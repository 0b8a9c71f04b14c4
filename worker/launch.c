/* launch.c - what the worker tells an engine's shepherd to start: one writer (launch_send, in
 * the worker) and one reader (launch_recv, in the shepherd) of the message on their socket.
 *
 * The shepherd lives as long as its engine (shepherd.c), so a task's description can no longer
 * reach it through the memory of a fork: it is sent. Both ends are the same program, so the
 * fixed part is a struct; the strings follow it, each ending in a NUL; the task's verified output
 * directory and the write end of its start pipe travel as SCM_RIGHTS. The reader still checks
 * every length and count: a message that does not add up is refused, not half-used.
 */
#include "worker.h"
#include "fsio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LAUNCH_MAGIC 0x73706c31u /* "spl1" */
#define LAUNCH_MAX (64u << 20)   /* more than any record and engine variables together */

struct launch_head {
	uint32_t magic;
	uint32_t len; /* bytes of strings after this head */
	uint32_t argc, envc;
	uint32_t has_in;
	uint64_t mem, grace_ms;
	struct task_cred cred;
};

static void put_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s) + 1);
}

int launch_send(int sock, const struct launch *l)
{
	struct launch_head h = { .magic = LAUNCH_MAGIC, .has_in = l->in != NULL, .mem = l->mem, .grace_ms = l->grace_ms,
				 .cred = l->cred };
	struct buf b;
	buf_init(&b);
	buf_add(&b, (const char *)&h, sizeof h);
	put_str(&b, l->out_name);
	put_str(&b, l->err_name);
	put_str(&b, l->cwd);
	put_str(&b, l->path);
	if (l->in)
		put_str(&b, l->in);
	for (; l->argv[h.argc]; h.argc++)
		put_str(&b, l->argv[h.argc]);
	for (; l->envp[h.envc]; h.envc++)
		put_str(&b, l->envp[h.envc]);
	h.len = (uint32_t)(b.len - sizeof h);
	memcpy(b.p, &h, sizeof h);

	int fds[2] = { l->outfd, l->errfd };
	char ctl[CMSG_SPACE(sizeof fds)];
	memset(ctl, 0, sizeof ctl);
	struct iovec iov = { .iov_base = b.p, .iov_len = sizeof h };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof fds);
	memcpy(CMSG_DATA(c), fds, sizeof fds);
	ssize_t n;
	do
		n = sendmsg(sock, &m, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	/* The head carries the descriptors; the rest is plain bytes (a stream socket). */
	int rc = n < 0 ? -1 : fs_write_fd(sock, b.p + n, b.len - (size_t)n);
	int saved = errno;
	buf_free(&b);
	errno = saved;
	return rc;
}

/* The next string of [*p, end), or NULL when none is left whole. */
static const char *take_str(const char **p, const char *end)
{
	const char *s = *p, *z = memchr(s, '\0', (size_t)(end - s));
	if (!z)
		return NULL;
	*p = z + 1;
	return s;
}

int launch_recv(int sock, struct launch *l, char **mem)
{
	struct launch_head h;
	int fds[2] = { -1, -1 };
	char ctl[CMSG_SPACE(sizeof fds)];
	struct iovec iov = { .iov_base = &h, .iov_len = sizeof h };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
	ssize_t n;
	*mem = NULL;
	do
		n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n == 0 ? 0 : -1; /* 0: the worker closed its end */
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof fds))
		memcpy(fds, CMSG_DATA(c), sizeof fds);
	if ((size_t)n < sizeof h && fs_read_fd(sock, (char *)&h + n, sizeof h - (size_t)n) < 0)
		goto bad;
	if (h.magic != LAUNCH_MAGIC || h.len > LAUNCH_MAX || fds[0] < 0 || fds[1] < 0)
		goto bad;
	char *s = xmalloc((size_t)h.len + 1);
	*mem = s;
	if (fs_read_fd(sock, s, h.len) < 0)
		goto bad;
	const char *p = s, *end = s + h.len;
	memset(l, 0, sizeof *l);
	l->cred = h.cred;
	l->mem = h.mem;
	l->grace_ms = h.grace_ms;
	l->outfd = fds[0];
	l->errfd = fds[1];
	l->out_name = take_str(&p, end);
	l->err_name = take_str(&p, end);
	l->cwd = take_str(&p, end);
	l->path = take_str(&p, end);
	l->in = h.has_in ? take_str(&p, end) : NULL;
	if (!l->path || (h.has_in && !l->in) || h.argc == 0 || h.argc > h.len || h.envc > h.len)
		goto bad;
	/* the vectors after the strings, in the same allocation's tail */
	char **v = xcalloc((size_t)h.argc + h.envc + 2, sizeof *v);
	l->argv = v;
	l->envp = v + h.argc + 1;
	for (uint32_t i = 0; i < h.argc; i++)
		if (!(l->argv[i] = (char *)take_str(&p, end)))
			goto bad_vec;
	for (uint32_t i = 0; i < h.envc; i++)
		if (!(l->envp[i] = (char *)take_str(&p, end)))
			goto bad_vec;
	if (p != end)
		goto bad_vec;
	return 1;
bad_vec:
	free(v);
bad:
	free(*mem);
	*mem = NULL;
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	errno = EPROTO;
	return -1;
}

void launch_free(struct launch *l, char *mem)
{
	free(l->argv);
	free(mem);
	close(l->outfd);
	close(l->errfd);
	l->argv = l->envp = NULL;
}
