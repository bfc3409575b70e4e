/*
 * crimux-spawn: starts the daemon's child processes (runc, tar, zstd, ip …) so the daemon never forks itself.
 *
 * Why: Node (libuv) starts a child with fork(), and fork copies the parent's page tables: the cost grows with the
 * daemon's resident memory (measured here, 30 × `true`: 2.6 ms of CPU per spawn at 43 MiB RSS, 5.8 ms at 148 MiB,
 * 8 ms at 251 MiB), and the event loop is blocked all that time, so every concurrent RPC waits. This helper is
 * small and static: its fork costs the same whatever the daemon's size, and the daemon only writes one message.
 *
 * Protocol, little-endian, on the helper's stdin (requests) and stdout (replies):
 *   request = u8 kind, u32 len, payload[len]
 *     'S' spawn  u32 id, u8 stdio[4] (1 = a socket connected back to the daemon; else /dev/null for 0–2 and
 *                nothing for 3), u8 flags (1 = setsid, as Node's `detached`), u32 argc, u32 envc, then
 *                NUL-terminated strings: cwd ("" = the helper's), file, argv…, env…
 *     'K' kill   u32 id, u32 signal
 *   reply   = u8 kind, u32 id, u32 a, u32 b (13 bytes)
 *     'R' ready (once, first)   'P' started (a = pid)   'E' not started (a = errno)
 *     'X' exited (a = 0: exit code b, 1: killed by signal b)
 * A socket stdio stream is a connection to the unix socket named by argv[1], on which the helper first writes the
 * 32-byte token from CRIMUX_SPAWN_TOKEN, the u32 id and the u8 slot (0–3); it becomes the child's fd `slot` (fd 3:
 * conmon's sync pipe). The child gets exactly the request's environment (PATH looked up in it, as Node does), its
 * stdio fds and nothing else,
 * default signal dispositions and an empty signal mask. Exec failures come back as 'E' with the exec's errno.
 * The helper exits when its stdin ends (the daemon is gone); children it started run on, as Node's would.
 *
 * Build: scripts/build-native.sh (gcc -static).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define TOKEN_LEN 32
#define MAX_FRAME (64u << 20) /* far above ARG_MAX; a bigger frame means a broken daemon */
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

extern char **environ;

struct child {
  pid_t pid;
  uint32_t id;
};

static struct child *children;
static size_t nchildren, capchildren;
static struct sockaddr_un addr;
static char token[TOKEN_LEN];

static void put32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static void reply(char kind, uint32_t id, uint32_t a, uint32_t b) {
  unsigned char r[13];
  r[0] = (unsigned char)kind;
  put32(r + 1, id);
  put32(r + 5, a);
  put32(r + 9, b);
  if (write_all(STDOUT_FILENO, r, sizeof r) < 0) _exit(0); /* the daemon is gone */
}

/* A connection back to the daemon that announces itself as stream `slot` of child `id`; -errno on failure. */
static int connect_back(uint32_t id, unsigned char slot) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  unsigned char hello[TOKEN_LEN + 5];
  memcpy(hello, token, TOKEN_LEN);
  put32(hello + TOKEN_LEN, id);
  hello[TOKEN_LEN + 4] = slot;
  int r;
  do r = connect(fd, (struct sockaddr *)&addr, sizeof addr);
  while (r < 0 && errno == EINTR);
  if (r < 0 || write_all(fd, hello, sizeof hello) < 0) {
    int e = errno ? errno : EPIPE;
    close(fd);
    return -e;
  }
  return fd;
}

/* In the child: stdio in place, every other fd closed at exec, signals as a fresh process has them. */
static void child_exec(int stdio_fd[4], int setsid_, int errfd, const char *cwd, const char *file, char **argv,
                       char **envp) {
  int err = 0;
  /* Every source fd is above 3 (the helper holds 0–2 and its signalfd at 3), so no dup2 clobbers another's source. */
  for (int i = 0; i < 4 && !err; i++)
    if (stdio_fd[i] >= 0 && dup2(stdio_fd[i], i) < 0) err = errno;
  unsigned int first = stdio_fd[3] >= 0 ? 4 : 3;
  if (!err && syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536) max = 65536;
    for (int fd = (int)first; fd < max; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  if (!err && setsid_ && setsid() < 0) err = errno;
  for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL); /* ignored signals would stay ignored across exec */
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  if (!err && cwd[0] != '\0' && chdir(cwd) < 0) err = errno;
  if (!err) {
    environ = envp; /* execvp looks PATH up in the child's own environment, as Node's spawn does */
    execvp(file, argv);
    err = errno;
  }
  int32_t e = err;
  (void)!write(errfd, &e, sizeof e);
  _exit(127);
}

static void track(pid_t pid, uint32_t id) {
  if (nchildren == capchildren) {
    size_t cap = capchildren ? capchildren * 2 : 64;
    struct child *n = realloc(children, cap * sizeof *n);
    if (!n) _exit(1);
    children = n;
    capchildren = cap;
  }
  children[nchildren++] = (struct child){pid, id};
}

static void do_spawn(const unsigned char *p, uint32_t len) {
  if (len < 17) _exit(2);
  uint32_t id = get32(p), argc = get32(p + 9), envc = get32(p + 13);
  const unsigned char *stdio = p + 4, flags = p[8];
  /* The strings: cwd, file, argv[argc], env[envc], each NUL-terminated, exactly filling the frame. */
  uint64_t count = 2 + (uint64_t)argc + envc;
  if (argc == 0 || count > len) _exit(2);
  char **strs = calloc(count + 2, sizeof *strs); /* +2: NULL after argv and after env */
  if (!strs) _exit(1);
  const char *s = (const char *)p + 17, *end = (const char *)p + len;
  for (uint64_t i = 0; i < count; i++) {
    const char *nul = memchr(s, '\0', (size_t)(end - s));
    if (!nul) _exit(2);
    strs[i < 2 + argc ? i : i + 1] = (char *)s;
    s = nul + 1;
  }
  if (s != end) _exit(2);
  char *cwd = strs[0], *file = strs[1], **argv = strs + 2, **envp = strs + 3 + argc;

  int fds[4] = {-1, -1, -1, -1}, err = 0;
  for (unsigned char i = 0; i < 4 && !err; i++) {
    if (stdio[i] == 1) {
      int fd = connect_back(id, i);
      if (fd < 0) err = -fd;
      else fds[i] = fd;
    } else if (i < 3 && (fds[i] = open("/dev/null", (i == 0 ? O_RDONLY : O_WRONLY) | O_CLOEXEC)) < 0) {
      err = errno;
    }
  }
  int pipefd[2] = {-1, -1};
  if (!err && pipe2(pipefd, O_CLOEXEC) < 0) err = errno;
  pid_t pid = -1;
  if (!err) {
    pid = fork();
    if (pid == 0) child_exec(fds, flags & 1, pipefd[1], cwd, file, argv, envp);
    if (pid < 0) err = errno;
  }
  for (int i = 0; i < 4; i++)
    if (fds[i] >= 0) close(fds[i]);
  if (pipefd[1] >= 0) close(pipefd[1]);
  if (pid > 0) {
    /* EOF: exec succeeded (the pipe was close-on-exec); 4 bytes: the errno that stopped it. */
    int32_t e = 0;
    ssize_t n;
    do n = read(pipefd[0], &e, sizeof e);
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof e) {
      err = e ? e : EIO;
      while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
      }
    } else {
      track(pid, id);
    }
  }
  if (pipefd[0] >= 0) close(pipefd[0]);
  free(strs);
  if (err) reply('E', id, (uint32_t)err, 0);
  else reply('P', id, (uint32_t)pid, 0);
}

static void do_kill(const unsigned char *p, uint32_t len) {
  if (len != 8) _exit(2);
  uint32_t id = get32(p), sig = get32(p + 4);
  for (size_t i = 0; i < nchildren; i++)
    if (children[i].id == id) kill(children[i].pid, (int)sig); /* still ours: not reaped yet, so not reused */
}

static void reap(void) {
  for (;;) {
    int st;
    pid_t pid = waitpid(-1, &st, WNOHANG);
    if (pid <= 0) return;
    for (size_t i = 0; i < nchildren; i++) {
      if (children[i].pid != pid) continue;
      uint32_t id = children[i].id;
      children[i] = children[--nchildren];
      if (WIFSIGNALED(st)) reply('X', id, 1, (uint32_t)WTERMSIG(st));
      else reply('X', id, 0, (uint32_t)WEXITSTATUS(st));
      break;
    }
  }
}

int main(int argc, char **argv) {
  const char *tok = getenv("CRIMUX_SPAWN_TOKEN");
  if (argc != 2 || !tok || strlen(tok) != TOKEN_LEN || strlen(argv[1]) >= sizeof addr.sun_path) {
    static const char usage[] = "usage: CRIMUX_SPAWN_TOKEN=<32 chars> crimux-spawn <socket path> (started by crimux)\n";
    (void)!write(STDERR_FILENO, usage, sizeof usage - 1);
    return 2;
  }
  memcpy(token, tok, TOKEN_LEN);
  unsetenv("CRIMUX_SPAWN_TOKEN");
  addr.sun_family = AF_UNIX;
  strcpy(addr.sun_path, argv[1]);
  signal(SIGPIPE, SIG_IGN); /* a closed reply pipe is an EPIPE to act on, not a death */
  /* A Ctrl-C, SIGTERM or SIGHUP sent to the daemon's process group must not take the helper away while the daemon
   * drains (its cleanup still runs commands); the helper ends with its stdin. Children get default dispositions. */
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);

  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) return 1;
  fcntl(STDIN_FILENO, F_SETFD, FD_CLOEXEC);
  fcntl(STDOUT_FILENO, F_SETFD, FD_CLOEXEC);

  size_t cap = 1 << 16, have = 0;
  unsigned char *buf = malloc(cap);
  if (!buf) return 1;
  reply('R', 0, 0, 0); /* ready: the daemon starts using the helper only after this */
  struct pollfd pfd[2] = {{STDIN_FILENO, POLLIN, 0}, {sfd, POLLIN, 0}};
  for (;;) {
    if (poll(pfd, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (pfd[1].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) > 0) {
      }
      reap();
    }
    if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    if (have == cap) {
      if (cap >= MAX_FRAME + 5) return 2;
      cap *= 2;
      unsigned char *n = realloc(buf, cap);
      if (!n) return 1;
      buf = n;
    }
    ssize_t n = read(STDIN_FILENO, buf + have, cap - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0; /* the daemon closed our stdin: it is gone or stopping */
    have += (size_t)n;
    size_t off = 0;
    while (have - off >= 5) {
      uint32_t len = get32(buf + off + 1);
      if (len > MAX_FRAME) return 2;
      if (have - off - 5 < len) break;
      unsigned char kind = buf[off];
      if (kind == 'S') do_spawn(buf + off + 5, len);
      else if (kind == 'K') do_kill(buf + off + 5, len);
      else return 2;
      off += 5 + (size_t)len;
    }
    memmove(buf, buf + off, have - off);
    have -= off;
    if (cap > (1u << 20) && have <= (1u << 16)) { /* a huge request passed: do not fork with its buffer */
      unsigned char *n = realloc(buf, 1 << 16);
      if (n) {
        buf = n;
        cap = 1 << 16;
      }
    }
  }
}
