/*
 * crimux-io: the two stdio bridges Node cannot do itself (it can neither connect SOCK_SEQPACKET sockets nor
 * receive file descriptors). Built statically at setup time by scripts/build-native.sh.
 *
 *   crimux-io attach <socket>
 *     Connects to conmon's attach socket (SOCK_SEQPACKET). stdin is sent to it as packets (conmon writes them to
 *     the container's stdin); stdin EOF shuts down our write side. Every packet from conmon (1 byte stream type,
 *     2 = stdout, 3 = stderr, then data) goes to stdout framed as [u32 big-endian length][packet], so packet
 *     boundaries survive the pipe. Exits 0 when conmon closes the socket (container exited).
 *
 *   crimux-io console <socket> <pid-file> <argv...>
 *     Listens on <socket> (runc's --console-socket), runs argv (`runc exec -d --console-socket <socket> --pid-file
 *     <pid-file> ...`), receives the pty master over SCM_RIGHTS and relays stdin -> master, master -> stdout. fd 3
 *     (optional) carries "rows cols\n" lines that become TIOCSWINSZ on the master. Exits with the exec'd
 *     process's exit code (128 + signal when it was killed), or runc's when runc failed.
 *
 * Socket paths are bound/connected relative to their directory (chdir) so long state dirs do not hit the
 * 108-byte sun_path limit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/* conmon reads client packets into a buffer of this size; a larger SEQPACKET message would be truncated. */
#define STDIN_CHUNK 8192
#define BUF_SIZE 65536
#define INITIAL_SIZE_WAIT_MS 250

static void die(const char *what) {
  fprintf(stderr, "crimux-io: %s: %s\n", what, strerror(errno));
  exit(125);
}

static int write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Fills addr with the basename of path after chdir() to its directory. */
static void unix_addr(const char *path, struct sockaddr_un *addr) {
  char *d = strdup(path), *b = strdup(path);
  if (!d || !b) die("strdup");
  if (chdir(dirname(d)) < 0) die("chdir to the socket's directory");
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  const char *base = basename(b);
  if (strlen(base) >= sizeof addr->sun_path) {
    errno = ENAMETOOLONG;
    die("socket name");
  }
  strcpy(addr->sun_path, base);
  free(d);
  free(b);
}

static int do_attach(const char *path) {
  struct sockaddr_un addr;
  unix_addr(path, &addr);
  int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s < 0) die("socket");
  if (connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect to the attach socket");
  static char buf[BUF_SIZE + 4];
  int in_open = 1;
  for (;;) {
    struct pollfd p[2] = {{.fd = s, .events = POLLIN}, {.fd = in_open ? 0 : -1, .events = POLLIN}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (p[0].revents) {
      ssize_t n = recv(s, buf + 4, BUF_SIZE, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return 0; /* conmon closed the socket: the container exited */
      uint32_t len = (uint32_t)n;
      buf[0] = (char)(len >> 24), buf[1] = (char)(len >> 16), buf[2] = (char)(len >> 8), buf[3] = (char)len;
      if (write_all(1, buf, (size_t)n + 4) < 0) return 0; /* reader went away: detach */
    }
    if (in_open && p[1].revents) {
      ssize_t n = read(0, buf, STDIN_CHUNK);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        in_open = 0;
        shutdown(s, SHUT_WR); /* conmon closes the container's stdin unless it was told to leave it open */
      } else if (send(s, buf, (size_t)n, 0) < 0) {
        return 0;
      }
    }
  }
}

/* Accepts runc's connection and returns the pty master it sends; -1 when the child exited first. */
static int receive_master(int ls, pid_t child, int *status) {
  for (;;) {
    struct pollfd p = {.fd = ls, .events = POLLIN};
    int r = poll(&p, 1, 100);
    if (r < 0 && errno != EINTR) die("poll");
    if (r > 0) break;
    if (waitpid(child, status, WNOHANG) == child) return -1;
  }
  int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0) die("accept");
  char name[4096];
  struct iovec iov = {.iov_base = name, .iov_len = sizeof name};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  ssize_t n;
  do n = recvmsg(c, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) die("recvmsg");
  struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
  if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
    errno = EPROTO;
    die("no pty master received");
  }
  int fd;
  memcpy(&fd, CMSG_DATA(cm), sizeof fd);
  close(c);
  return fd;
}

/* The last size read before the terminal exists, applied as soon as it does. */
static struct winsize early_size;
static int have_early_size;

static void apply_sizes(int master, char *line, size_t *len, int ctl, int *ctl_open) {
  ssize_t n = read(ctl, line + *len, 255 - *len);
  if (n <= 0) {
    if (n < 0 && errno == EINTR) return;
    *ctl_open = 0;
    return;
  }
  *len += (size_t)n;
  line[*len] = 0;
  char *nl;
  while ((nl = strchr(line, '\n'))) {
    unsigned rows, cols;
    *nl = 0;
    if (sscanf(line, "%u %u", &rows, &cols) == 2) {
      struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
      if (master >= 0) ioctl(master, TIOCSWINSZ, &ws);
      else early_size = ws, have_early_size = 1;
    }
    size_t rest = *len - (size_t)(nl + 1 - line);
    memmove(line, nl + 1, rest + 1);
    *len = rest;
  }
  if (*len >= 255) *len = 0; /* garbage without newlines: drop it */
}

static int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

static pid_t read_pid(const char *file) {
  FILE *f = fopen(file, "r");
  long pid = 0;
  if (!f) return -1;
  if (fscanf(f, "%ld", &pid) != 1) pid = -1;
  fclose(f);
  return (pid_t)pid;
}

/* Who the console mode waits for: runc (its success means the pid file is written), then the exec'd process.
 * Children are reaped as they exit, in any order: the exec'd process may exit before runc is seen to. */
struct waits {
  const char *pidfile;
  pid_t runc, target;
  int done, status, n_early;
  pid_t early[16];
  int early_st[16];
};

static void note(struct waits *w, pid_t p, int st) {
  if (p == w->runc) {
    if (exit_code(st) != 0) { /* runc failed: the process never ran, report runc's code */
      w->status = st, w->done = 1;
      return;
    }
    w->target = read_pid(w->pidfile);
    if (w->target <= 0) {
      fprintf(stderr, "crimux-io: runc wrote no pid to %s\n", w->pidfile);
      w->status = 125 << 8, w->done = 1;
      return;
    }
    for (int i = 0; i < w->n_early; i++)
      if (w->early[i] == w->target) w->status = w->early_st[i], w->done = 1;
  } else if (w->target > 0 && p == w->target) {
    w->status = st, w->done = 1;
  } else if (w->target <= 0 && w->n_early < 16) {
    w->early[w->n_early] = p, w->early_st[w->n_early++] = st;
  }
}

/* Reaps every exited child (orphans of runc land on us as the subreaper). */
static void reap(struct waits *w) {
  int st;
  pid_t p;
  while (!w->done && (p = waitpid(-1, &st, WNOHANG)) > 0) note(w, p, st);
}

static int do_console(const char *path, const char *pidfile, char **argv) {
  /* runc exec only hands the terminal to a console socket when detached (-d); the exec'd process is then
   * reparented to the nearest subreaper: us, so we can wait for it and report its exit code. */
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) die("become a subreaper");
  char *cwd = realpath(".", NULL);
  if (!cwd) die("getcwd");
  struct sockaddr_un addr;
  unix_addr(path, &addr);
  unlink(addr.sun_path);
  int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ls < 0) die("socket");
  if (bind(ls, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(ls, 1) < 0) die("listen on the console socket");
  int ctl_open = fcntl(3, F_GETFD) >= 0;
  if (ctl_open) fcntl(3, F_SETFD, FD_CLOEXEC);
  if (chdir(cwd) < 0) die("chdir back");
  free(cwd);
  char line[256];
  size_t line_len = 0;
  /* Clients send the terminal's size right after the session opens: waiting a moment for it lets the process
   * start on that size rather than 0x0 (`stty size` or a shell reading it once would see 0x0 otherwise). */
  struct pollfd first = {.fd = ctl_open ? 3 : -1, .events = POLLIN};
  if (ctl_open && poll(&first, 1, INITIAL_SIZE_WAIT_MS) > 0) apply_sizes(-1, line, &line_len, 3, &ctl_open);
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    /* runc's own output is diagnostics: keep it off the relayed stdout. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, 0);
    dup2(2, 1);
    execvp(argv[0], argv);
    perror("crimux-io: exec");
    _exit(127);
  }
  int status = 0;
  int master = receive_master(ls, child, &status);
  close(ls);
  unlink(addr.sun_path);
  if (master < 0) return exit_code(status);
  if (have_early_size) ioctl(master, TIOCSWINSZ, &early_size); /* runc is still setting up: before the exec */
  /* Relay at once, not after runc exited: the first resize must reach the terminal as early as possible. */
  struct waits w = {.pidfile = pidfile, .runc = child};

  static char buf[BUF_SIZE];
  int in_open = 1;
  for (;;) {
    /* runc sends the master before the container side opens the slave (a master without a slave reads EIO), so
     * the terminal is relayed only once runc reported the process started; resizes apply from the start. */
    int live = w.target > 0 || w.done;
    struct pollfd p[3] = {
        {.fd = live ? master : -1, .events = POLLIN},
        {.fd = live && in_open ? 0 : -1, .events = POLLIN},
        {.fd = ctl_open ? 3 : -1, .events = POLLIN},
    };
    /* Once the process exited, a child of it may still hold the terminal: give its output a moment, not forever. */
    int r = poll(p, 3, w.done ? 200 : 100);
    if (r < 0 && errno != EINTR) die("poll");
    if (r == 0 && w.done) break;
    if (r > 0 && p[0].revents) {
      ssize_t n = read(master, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break; /* EIO: every slave fd closed */
      if (write_all(1, buf, (size_t)n) < 0) break;
    }
    if (r > 0 && in_open && p[1].revents) {
      ssize_t n = read(0, buf, sizeof buf);
      if (n <= 0 && !(n < 0 && errno == EINTR)) in_open = 0; /* the terminal stays; only our input ended */
      if (n > 0) write_all(master, buf, (size_t)n);
    }
    if (r > 0 && ctl_open && p[2].revents) apply_sizes(master, line, &line_len, 3, &ctl_open);
    reap(&w);
  }
  close(master); /* hangs up the terminal: whatever still holds it gets SIGHUP */
  while (!w.done) {
    int st;
    pid_t p = waitpid(-1, &st, 0);
    if (p > 0) note(&w, p, st);
    else if (errno != EINTR) w.status = 255 << 8, w.done = 1; /* no children left: cannot tell */
  }
  return exit_code(w.status);
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc == 3 && strcmp(argv[1], "attach") == 0) return do_attach(argv[2]);
  if (argc >= 5 && strcmp(argv[1], "console") == 0) return do_console(argv[2], argv[3], argv + 4);
  fprintf(stderr, "usage: crimux-io attach <socket> | crimux-io console <socket> <pid-file> <argv...>\n");
  return 2;
}
