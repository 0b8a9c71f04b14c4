/* test_launch.c - the worker's message to an engine's shepherd (worker/launch.c): what
 * launch_send writes, launch_recv reads back the same, descriptors included; a message that
 * does not add up (its magic, its counts, a string without its end, no descriptors, an
 * impossible length) is refused and its descriptors closed; the end of the stream is told apart.
 *
 * The malformed messages are made from a good one: sent, read raw (bytes and descriptors), one
 * field changed (offsets of struct launch_head: magic 0, len 4, argc 8, envc 12), sent again. */
#include "../../worker/worker.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char *argv_[] = { "sh", "-c", "", NULL };
static char *envp_[] = { "A=1", "SPOOL_JOB=4k7x0qz2ma", NULL };

static struct launch sample(int outfd, int errfd, const char *in)
{
	struct launch l = { .mem = 1u << 30, .grace_ms = 2500, .outfd = outfd, .errfd = errfd, .out_name = "3.1.out",
			    .err_name = "3.1.err", .cwd = "/data/x y", .path = "/usr/bin:/bin", .in = in,
			    .argv = argv_, .envp = envp_ };
	l.cred.uid = 1234;
	l.cred.gid = 99;
	l.cred.ngroups = 2;
	l.cred.groups[0] = 99;
	l.cred.groups[1] = 7;
	l.cred.switch_ids = true;
	l.cred.umask = 027;
	snprintf(l.cred.name, sizeof l.cred.name, "alice");
	return l;
}

static bool same_file(int a, int b)
{
	struct stat x, y;
	return fstat(a, &x) == 0 && fstat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

static bool vec_eq(char **a, char **b)
{
	for (; *a && *b; a++, b++)
		if (strcmp(*a, *b) != 0)
			return false;
	return !*a && !*b;
}

static bool same(const struct launch *a, const struct launch *b)
{
	return a->mem == b->mem && a->grace_ms == b->grace_ms && a->cred.uid == b->cred.uid &&
	       a->cred.gid == b->cred.gid && a->cred.ngroups == b->cred.ngroups && a->cred.groups[1] == b->cred.groups[1] &&
	       a->cred.switch_ids == b->cred.switch_ids && a->cred.umask == b->cred.umask &&
	       strcmp(a->cred.name, b->cred.name) == 0 && strcmp(a->out_name, b->out_name) == 0 &&
	       strcmp(a->err_name, b->err_name) == 0 && strcmp(a->cwd, b->cwd) == 0 && strcmp(a->path, b->path) == 0 &&
	       (a->in ? b->in && strcmp(a->in, b->in) == 0 : !b->in) && vec_eq(a->argv, b->argv) &&
	       vec_eq(a->envp, b->envp);
}

/* A good message, read raw from the socket: its bytes and its two descriptors. */
static size_t raw_message(char *buf, size_t cap, int fds[2])
{
	int sv[2], p[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	if (pipe(p) < 0)
		return 0;
	struct launch l = sample(open("/", O_RDONLY | O_DIRECTORY), p[1], NULL);
	launch_send(sv[0], &l);
	close(sv[0]);
	close(l.outfd);
	close(p[0]);
	close(p[1]);
	char ctl[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
	ssize_t n = recvmsg(sv[1], &m, 0), k;
	memcpy(fds, CMSG_DATA(CMSG_FIRSTHDR(&m)), 2 * sizeof(int));
	while (n > 0 && (k = read(sv[1], buf + n, cap - (size_t)n)) > 0)
		n += k;
	close(sv[1]);
	return n > 0 ? (size_t)n : 0;
}

/* launch_recv of msg (with the descriptors when fds): its result; whether it left no descriptor
 * of the message open when it refused it. */
static int recv_of(const char *msg, size_t len, const int *fds, bool *closed)
{
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	int mine[2] = { -1, -1 };
	if (fds) {
		mine[0] = dup(fds[0]);
		mine[1] = dup(fds[1]);
	}
	char ctl[CMSG_SPACE(2 * sizeof(int))];
	memset(ctl, 0, sizeof ctl);
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fds) {
		m.msg_control = ctl;
		m.msg_controllen = sizeof ctl;
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(2 * sizeof(int));
		memcpy(CMSG_DATA(c), mine, sizeof mine);
	}
	if (len)
		sendmsg(sv[0], &m, 0);
	close(sv[0]);
	for (int i = 0; i < 2; i++)
		if (mine[i] >= 0)
			close(mine[i]);
	struct launch l;
	char *mem;
	int before = dup(0);
	close(before); /* the lowest free descriptor now: a descriptor left open shows as taken */
	int rc = launch_recv(sv[1], &l, &mem), saved = errno;
	if (rc == 1)
		launch_free(&l, mem);
	int probe = dup(0);
	*closed = probe == before;
	close(probe);
	close(sv[1]);
	errno = saved;
	return rc;
}

static void put32(char *msg, size_t off, uint32_t v)
{
	memcpy(msg + off, &v, sizeof v);
}

static uint32_t get32(const char *msg, size_t off)
{
	uint32_t v;
	memcpy(&v, msg + off, sizeof v);
	return v;
}

int main(void)
{
	int sv[2], p[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 && pipe(p) == 0, "a socket pair and a pipe");
	int dir = open("/", O_RDONLY | O_DIRECTORY);
	struct launch a = sample(dir, p[1], "/data/in put"), b;
	char *mem;
	CHECK(launch_send(sv[0], &a) == 0, "launch_send writes a launch");
	CHECK(launch_recv(sv[1], &b, &mem) == 1, "launch_recv reads it");
	CHECK(same(&a, &b), "  ... every field the same: credentials, limits, names, directory, PATH, stdin, argv "
			    "(an empty argument too), environment");
	CHECK(b.outfd >= 0 && b.errfd >= 0 && b.outfd != dir && same_file(b.outfd, dir) && same_file(b.errfd, p[1]),
	      "  ... and the two descriptors: new ones, of the same files");
	CHECK((fcntl(b.outfd, F_GETFD) & FD_CLOEXEC) && (fcntl(b.errfd, F_GETFD) & FD_CLOEXEC),
	      "  ... close-on-exec (no task inherits them)");
	launch_free(&b, mem);
	struct launch c = sample(dir, p[1], NULL);
	launch_send(sv[0], &c);
	CHECK(launch_recv(sv[1], &b, &mem) == 1 && same(&c, &b) && !b.in, "a launch without stdin reads back without it");
	launch_free(&b, mem);
	close(sv[0]);
	CHECK(launch_recv(sv[1], &b, &mem) == 0, "the worker's end closed: launch_recv says so (0), not an error");
	close(sv[1]);
	close(dir);
	close(p[0]);
	close(p[1]);

	char good[4096], bad[4096];
	int fds[2];
	size_t n = raw_message(good, sizeof good, fds);
	bool closed;
	CHECK(n > 20 && recv_of(good, n, fds, &closed) == 1, "the raw good message, sent again, reads");
	struct {
		const char *what;
		size_t off;
		int64_t delta; /* added to the 32-bit field at off */
	} cases[] = {
		{ "a wrong magic", 0, 1 },
		{ "no argument (argc 0)", 8, -3 },
		{ "one environment string more than it holds", 12, 1 },
		{ "one environment string fewer than it holds (bytes left over)", 12, -1 },
		{ "a length beyond the largest message", 4, 1 << 30 },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		memcpy(bad, good, n);
		put32(bad, cases[i].off, (uint32_t)((int64_t)get32(bad, cases[i].off) + cases[i].delta));
		int rc = recv_of(bad, n, fds, &closed);
		char name[200];
		snprintf(name, sizeof name, "refused: %s (and its descriptors closed)", cases[i].what);
		CHECK(rc == -1 && errno == EPROTO && closed, name);
	}
	memcpy(bad, good, n);
	bad[n - 1] = 'x';
	CHECK(recv_of(bad, n, fds, &closed) == -1 && closed, "refused: the last string without its end");
	CHECK(recv_of(good, n - 5, fds, &closed) == -1 && closed, "refused: the stream ends inside the message");
	CHECK(recv_of(good, n, NULL, &closed) == -1 && closed, "refused: a message without its two descriptors");
	close(fds[0]);
	close(fds[1]);
	return unit_done();
}
