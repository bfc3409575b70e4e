/*
 * vmhelper: the two things the Node guest agent cannot do itself, because they need ioctls Node has no API for.
 * Built static by scripts/build-vm-guest.sh onto the tools disk (/tools/bin/vmhelper); the agent works without it,
 * only less well (no pty, no forced CRNG reseed).
 *
 *   vmhelper reseed          force a CRNG reseed (RNDRESEEDCRNG) after the host's seed was written to
 *                            /dev/urandom: clones of one template snapshot then stop sharing random output at once.
 *   vmhelper pty CMD ARGS…   run CMD on a new pseudo-terminal (its controlling tty); relay stdin → pty and
 *                            pty → stdout; fd 3 carries resize requests as text lines "ROWS COLS". Exit code of CMD
 *                            (128+signal when killed). Stdin EOF is passed on as ^D.
 *   vmhelper pause           PID 1 of the pod's shared PID namespace (CRI namespace_options.pid=POD): sleeps and
 *                            reaps the orphans re-parented to it, like the pause container of a runc pod.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static int reseed(void) {
  int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
  if (fd < 0 || ioctl(fd, RNDRESEEDCRNG) < 0) {
    perror("vmhelper: RNDRESEEDCRNG");
    return 1;
  }
  return 0;
}

static void write_all(int fd, const char *p, ssize_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, (size_t)n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return; /* reader gone: drop, the session is ending */
    }
    p += w;
    n -= w;
  }
}

/* Apply complete "ROWS COLS\n" lines from the resize channel. */
static void resize(int master, char *buf, size_t *len) {
  char *nl;
  while ((nl = memchr(buf, '\n', *len)) != NULL) {
    *nl = '\0';
    struct winsize ws = {0};
    unsigned rows = 0, cols = 0;
    if (sscanf(buf, "%u %u", &rows, &cols) == 2) {
      ws.ws_row = (unsigned short)rows;
      ws.ws_col = (unsigned short)cols;
      ioctl(master, TIOCSWINSZ, &ws);
    }
    size_t used = (size_t)(nl - buf) + 1;
    memmove(buf, nl + 1, *len - used);
    *len -= used;
  }
  if (*len >= 64) *len = 0; /* garbage without newline: drop */
}

static int pty(char **argv) {
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
    perror("vmhelper: openpt");
    return 127;
  }
  const char *name = ptsname(master);
  pid_t pid = fork();
  if (pid < 0) return 127;
  if (pid == 0) {
    setsid();
    int slave = open(name, O_RDWR);
    if (slave < 0 || ioctl(slave, TIOCSCTTY, 0) < 0) _exit(127);
    dup2(slave, 0);
    dup2(slave, 1);
    dup2(slave, 2);
    if (slave > 2) close(slave);
    close(3);
    execvp(argv[0], argv);
    _exit(127);
  }
  signal(SIGPIPE, SIG_IGN);
  char buf[65536];
  char rbuf[64];
  size_t rlen = 0;
  int in_open = 1, rs_open = fcntl(3, F_GETFD) >= 0;
  for (;;) {
    struct pollfd fds[3] = {{in_open ? 0 : -1, POLLIN, 0}, {master, POLLIN, 0}, {rs_open ? 3 : -1, POLLIN, 0}};
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(master, buf, sizeof buf);
      if (n <= 0) break; /* EIO: every slave fd is closed, the command is done */
      write_all(1, buf, n);
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(0, buf, sizeof buf);
      if (n <= 0) {
        in_open = 0;
        write_all(master, "\x04", 1);
      } else {
        write_all(master, buf, n);
      }
    }
    if (fds[2].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(3, rbuf + rlen, sizeof rbuf - rlen);
      if (n <= 0) rs_open = 0;
      else {
        rlen += (size_t)n;
        resize(master, rbuf, &rlen);
      }
    }
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

static _Noreturn void pause_forever(void) {
  struct sigaction sa = {0};
  sa.sa_handler = reap;
  sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
  sigaction(SIGCHLD, &sa, NULL);
  signal(SIGTERM, SIG_DFL); /* PID 1 of a namespace ignores signals without a handler: nothing to do here */
  for (;;) pause();
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "pause") == 0) pause_forever();
  if (argc >= 2 && strcmp(argv[1], "reseed") == 0) return reseed();
  if (argc >= 3 && strcmp(argv[1], "pty") == 0) return pty(argv + 2);
  fprintf(stderr, "usage: vmhelper reseed | vmhelper pty CMD [ARGS...]\n");
  return 2;
}
