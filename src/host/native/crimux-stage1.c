/*
 * crimux-stage1: the privileged steps of the rkt backend's built-in stage1 that must not trust a path or an
 * environment coming from an image or a request (issue #19).
 *
 *   crimux-stage1 exec [--uid=N] [--caps=N,N,...] [--seccomp=FILE] -- ENVFILE ROOT WORKDIR ARGV...
 *       Reads the app's environment from ENVFILE (NUL-separated NAME=value entries written by crimux), chroots
 *       into ROOT, changes to WORKDIR, limits the capability bounding set to the listed capability numbers (only
 *       after the chroot, so a request may drop CAP_SYS_CHROOT and CAP_SETUID too: issue #20), loads the seccomp
 *       filter described by FILE (read before the chroot; format below), drops to uid N and execs ARGV with
 *       exactly that environment. The
 *       environment therefore never appears on a command line (where `env` took an entry "--split-string=…" as
 *       its own option and ran it as root) and reaches no program but the app (no LD_PRELOAD for the privileged
 *       setpriv/unshare steps of the chain).
 *   crimux-stage1 bind [--recursive] [--readonly] [--nodev] [--create=dir|file] -- ROOT TARGET SOURCE
 *       Bind SOURCE (a trusted path of the caller's namespace) onto TARGET resolved inside ROOT.
 *   crimux-stage1 fs --type=proc|tmpfs-mask -- ROOT TARGET
 *       Mount a fresh proc (nosuid,noexec,nodev) or an empty read-only tmpfs (masking a directory) on TARGET.
 *   crimux-stage1 mask -- ROOT TARGET        Hide TARGET (read-only empty tmpfs on a dir, /dev/null on a file).
 *   crimux-stage1 readonly -- ROOT TARGET    Make TARGET a read-only bind of itself.
 *   crimux-stage1 setattr [--readonly] [--nodev] -- ROOT   Add mount attributes to the mount at ROOT.
 *   crimux-stage1 mkdir -- ROOT PATH         mkdir -p of PATH inside ROOT.
 *   crimux-stage1 pause                      Sleep until a signal ends it: the pod's root process. Not `sleep`,
 *       because apps sharing the pod's PID namespace see it, and a process named "sleep" there is mistaken for
 *       one of theirs (`pgrep sleep` after a timed-out ExecSync, issue #20), as Kubernetes' pause is not.
 * mask and readonly succeed without doing anything when TARGET does not exist.
 *
 * How paths are made safe (the runc CVE-2021-30465 class): TARGET is resolved with openat2(RESOLVE_IN_ROOT |
 * RESOLVE_NO_MAGICLINKS) from an fd of ROOT, so every symlink (absolute or "..") stays inside ROOT, and the mount
 * is made on the resulting O_PATH fd — by the new mount API (open_tree + mount_setattr + move_mount), or through
 * /proc/self/fd/N for filesystems — in this same process: a container that swaps a path component for a symlink
 * after the resolution changes nothing, because the fd already names the inode. Attributes (read-only, nodev) are
 * set on the detached tree before it is attached, so the copy that propagates into the pod has them too.
 *
 * The seccomp FILE is crimux's rendering of an OCI seccomp section (src/backends/rkt/stage1/seccomp.ts), one
 * directive per line, compiled here with libseccomp (linked statically):
 *   default ACTION ERRNO                          ERRNO is used by SCMP_ACT_ERRNO/TRACE only
 *   arch NAME                                     libseccomp architecture name (x86_64, x86, x32, ...)
 *   rule ACTION ERRNO SYSCALL N [INDEX OP VALUE VALUE2]*N
 * Unknown syscall names are skipped (as runc does: the profile lists syscalls of newer kernels). The filter is
 * loaded before the uid drop (it needs CAP_SYS_ADMIN when no_new_privs is off, as runc does then), or right
 * before the exec when no_new_privs is set.
 *
 * Exit status: 0 done; 1 a setup step failed (message on stderr); 2 usage; for exec, 126/127 as a shell would when
 * ARGV cannot be run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <seccomp.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_ENV_BYTES (4 * 1024 * 1024)
#define MAX_ENV_ENTRIES 65536
#define MAX_LINK_DEPTH 40
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const char *cmd = "crimux-stage1";

static void die(const char *fmt, ...) {
  va_list ap;
  int e = errno;
  fprintf(stderr, "crimux-stage1 %s: ", cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  if (e != 0) fprintf(stderr, ": %s", strerror(e));
  fputc('\n', stderr);
  exit(1);
}

static long openat2_(int dirfd, const char *p, int flags, unsigned long long resolve) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (unsigned long long)flags;
  how.resolve = resolve;
  return syscall(SYS_openat2, dirfd, p, &how, sizeof how);
}

/* Resolves p (absolute or not: always taken from ROOT) inside root; an O_PATH fd or -1 with errno. */
static int in_root(int rootfd, const char *p, int extra) {
  while (*p == '/') p++;
  if (*p == '\0') return (int)openat2_(rootfd, ".", O_PATH | O_CLOEXEC | extra, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
  return (int)openat2_(rootfd, p, O_PATH | O_CLOEXEC | extra, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

static int open_root(const char *root) {
  int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) die("open root %s", root);
  return fd;
}

/* Splits p into its parent ("" for the root) and last component; returns 0 for a path naming the root itself. */
static int split_last(const char *p, char *parent, size_t n, const char **last) {
  size_t len = strlen(p);
  while (len > 0 && p[len - 1] == '/') len--;
  if (len == 0) return 0;
  size_t start = len;
  while (start > 0 && p[start - 1] != '/') start--;
  if (start >= n || len - start >= 256) {
    errno = ENAMETOOLONG;
    die("path too long");
  }
  memcpy(parent, p, start);
  parent[start] = '\0';
  static char name[256];
  memcpy(name, p + start, len - start);
  name[len - start] = '\0';
  *last = name;
  return 1;
}

/*
 * mkdir -p of p inside root, one component at a time: each parent is resolved inside root (symlinks included) and
 * the next component is created relative to that parent's fd, never by a path another process could redirect. A
 * dangling symlink on the way is followed (inside root) and what it names is created.
 */
static int mkdir_in_root(int rootfd, const char *p, int depth) {
  char buf[4096];
  size_t len = strlen(p);
  if (len >= sizeof buf || depth > MAX_LINK_DEPTH) {
    errno = len >= sizeof buf ? ENAMETOOLONG : ELOOP;
    die("mkdir %s", p);
  }
  memcpy(buf, p, len + 1);
  int fd = in_root(rootfd, "", O_DIRECTORY);
  if (fd < 0) die("open root");
  char *s = buf;
  while (*s != '\0') {
    while (*s == '/') s++;
    if (*s == '\0') break;
    char *e = s;
    while (*e != '\0' && *e != '/') e++;
    char saved = *e;
    *e = '\0';
    int next = in_root(rootfd, buf, O_DIRECTORY);
    if (next < 0 && errno == ENOENT) {
      if (mkdirat(fd, s, 0755) != 0 && errno == EEXIST) {
        char link[4096], again[8192];
        ssize_t n = readlinkat(fd, s, link, sizeof link - 1);
        if (n < 0) die("mkdir %s", buf);
        link[n] = '\0';
        *s = '\0';
        const char *restp = saved == '\0' ? "" : e + 1;
        if (link[0] == '/') snprintf(again, sizeof again, "%s/%s", link, restp);
        else snprintf(again, sizeof again, "%s/%s/%s", buf, link, restp);
        close(fd);
        return mkdir_in_root(rootfd, again, depth + 1);
      }
      next = in_root(rootfd, buf, O_DIRECTORY);
    }
    if (next < 0) die("mkdir %s", buf);
    close(fd);
    fd = next;
    *e = saved;
    s = e;
  }
  return fd;
}

/*
 * The target inside root, created when missing (create: 0 no, 'd' directory, 'f' empty file). A dangling symlink
 * is followed (inside root) to where it points and that is created, as runc's securejoin would.
 */
static int target_fd(int rootfd, const char *p, int create, int depth) {
  int fd = in_root(rootfd, p, 0);
  if (fd >= 0 || errno != ENOENT || create == 0) return fd;
  if (depth > MAX_LINK_DEPTH) {
    errno = ELOOP;
    return -1;
  }
  char parent[4096];
  const char *last;
  if (!split_last(p, parent, sizeof parent, &last)) return in_root(rootfd, "", 0);
  /* An O_PATH fd serves as dirfd of the *at() calls below. */
  int dfd = mkdir_in_root(rootfd, parent, 0);
  int made;
  if (create == 'd') {
    made = mkdirat(dfd, last, 0755);
  } else {
    made = openat(dfd, last, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
    if (made >= 0) made = close(made);
  }
  if (made != 0 && errno == EEXIST) {
    /* Something is there but does not resolve: a dangling symlink. Create what it points to, inside root. */
    char link[4096];
    ssize_t n = readlinkat(dfd, last, link, sizeof link - 1);
    if (n < 0) die("resolve %s", p);
    link[n] = '\0';
    char next[8192];
    if (link[0] == '/') snprintf(next, sizeof next, "%s", link);
    else snprintf(next, sizeof next, "%s/%s", parent, link);
    close(dfd);
    return target_fd(rootfd, next, create, depth + 1);
  }
  if (made != 0) die("create %s", p);
  close(dfd);
  return in_root(rootfd, p, 0);
}

static long open_tree_(int dfd, const char *p, unsigned flags) { return syscall(SYS_open_tree, dfd, p, flags); }

static long move_mount_(int from, int to) {
  return syscall(SYS_move_mount, from, "", to, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
}

static void set_attrs(int mfd, unsigned long long attrs, int recursive, const char *what) {
  if (attrs == 0) return;
  struct mount_attr a;
  memset(&a, 0, sizeof a);
  a.attr_set = attrs;
  if (syscall(SYS_mount_setattr, mfd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a, sizeof a) != 0) {
    die("set attributes of %s", what);
  }
}

/* Clone the tree at srcfd, give it attrs while detached, attach it on dstfd. */
static void bind_fd(int srcfd, int dstfd, int recursive, unsigned long long attrs, const char *what) {
  int mfd = (int)open_tree_(srcfd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0));
  if (mfd < 0) die("clone %s", what);
  set_attrs(mfd, attrs, recursive, what);
  if (move_mount_(mfd, dstfd) != 0) die("attach %s", what);
  close(mfd);
}

static void fs_mount(int dstfd, const char *type, const char *what) {
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", dstfd);
  int rc;
  if (strcmp(type, "proc") == 0) rc = mount("proc", proc, "proc", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL);
  else if (strcmp(type, "tmpfs-mask") == 0) rc = mount("tmpfs", proc, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0");
  else {
    errno = EINVAL;
    rc = -1;
  }
  if (rc != 0) die("mount %s on %s", type, what);
}

/* The environment file: NUL-separated entries, a regular file of bounded size, never a FIFO or a symlink. */
static char **read_env(const char *file) {
  int fd = open(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) die("open %s", file);
  struct stat st;
  if (fstat(fd, &st) != 0) die("stat %s", file);
  if (!S_ISREG(st.st_mode) || st.st_size > MAX_ENV_BYTES) {
    errno = EINVAL;
    die("%s is not a regular file of at most %d bytes", file, MAX_ENV_BYTES);
  }
  size_t size = (size_t)st.st_size;
  char *buf = malloc(size + 1);
  if (buf == NULL) die("read %s", file);
  size_t got = 0;
  while (got < size) {
    ssize_t n = read(fd, buf + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die("read %s", file);
    got += (size_t)n;
  }
  close(fd);
  buf[size] = '\0';
  size_t count = 0;
  for (size_t i = 0; i < size; i++) count += buf[i] == '\0';
  if (size > 0 && buf[size - 1] != '\0') count++;
  if (count > MAX_ENV_ENTRIES) {
    errno = E2BIG;
    die("%s", file);
  }
  char **env = calloc(count + 1, sizeof *env);
  if (env == NULL) die("read %s", file);
  size_t k = 0;
  for (size_t i = 0; i < size; i += strlen(buf + i) + 1) {
    if (buf[i] != '\0' && strchr(buf + i, '=') != NULL && buf[i] != '=') env[k++] = buf + i;
  }
  env[k] = NULL;
  return env;
}

static const char *env_path(char **env) {
  for (char **e = env; *e != NULL; e++) {
    if (strncmp(*e, "PATH=", 5) == 0) return *e + 5;
  }
  return DEFAULT_PATH;
}

/* execvpe with the app's own PATH (not this process's): as an OCI runtime looks the command up. */
static int exec_app(char **argv, char **env) {
  const char *file = argv[0];
  if (strchr(file, '/') != NULL) {
    execve(file, argv, env);
    return errno == ENOENT || errno == ENOTDIR ? 127 : 126;
  }
  const char *p = env_path(env);
  int denied = 0;
  char cand[4096];
  while (1) {
    const char *colon = strchr(p, ':');
    size_t len = colon ? (size_t)(colon - p) : strlen(p);
    if (len == 0) snprintf(cand, sizeof cand, "%s", file);
    else snprintf(cand, sizeof cand, "%.*s/%s", (int)len, p, file);
    execve(cand, argv, env);
    if (errno == EACCES) denied = 1;
    else if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP && errno != ENAMETOOLONG) return 126;
    if (!colon) break;
    p = colon + 1;
  }
  errno = denied ? EACCES : ENOENT;
  return denied ? 126 : 127;
}

static uint32_t seccomp_action(const char *name, const char *err) {
  char *end;
  errno = 0;
  long e = strtol(err, &end, 10);
  if (*err == '\0' || *end != '\0' || errno != 0 || e < 0 || e > 4095) {
    errno = EINVAL;
    die("seccomp errno %s", err);
  }
  if (strcmp(name, "SCMP_ACT_ALLOW") == 0) return SCMP_ACT_ALLOW;
  if (strcmp(name, "SCMP_ACT_ERRNO") == 0) return SCMP_ACT_ERRNO((uint16_t)e);
  if (strcmp(name, "SCMP_ACT_KILL") == 0 || strcmp(name, "SCMP_ACT_KILL_THREAD") == 0) return SCMP_ACT_KILL_THREAD;
  if (strcmp(name, "SCMP_ACT_KILL_PROCESS") == 0) return SCMP_ACT_KILL_PROCESS;
  if (strcmp(name, "SCMP_ACT_TRAP") == 0) return SCMP_ACT_TRAP;
  if (strcmp(name, "SCMP_ACT_TRACE") == 0) return SCMP_ACT_TRACE((uint16_t)e);
  if (strcmp(name, "SCMP_ACT_LOG") == 0) return SCMP_ACT_LOG;
  errno = EINVAL;
  die("seccomp action %s", name);
  return 0;
}

static enum scmp_compare seccomp_op(const char *name) {
  static const struct {
    const char *name;
    enum scmp_compare op;
  } ops[] = {{"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT}, {"SCMP_CMP_LE", SCMP_CMP_LE},
             {"SCMP_CMP_EQ", SCMP_CMP_EQ}, {"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
             {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ}};
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (strcmp(name, ops[i].name) == 0) return ops[i].op;
  errno = EINVAL;
  die("seccomp operator %s", name);
  return SCMP_CMP_EQ;
}

static uint64_t seccomp_u64(const char *s) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (*s == '\0' || *end != '\0' || errno != 0) {
    errno = EINVAL;
    die("seccomp value %s", s);
  }
  return (uint64_t)v;
}

#define MAX_SECCOMP_BYTES (1024 * 1024)

/* Compiles the filter FILE describes (see the header); loaded later by seccomp_load. */
static scmp_filter_ctx read_seccomp(const char *file) {
  FILE *f = fopen(file, "re");
  if (f == NULL) die("open %s", file);
  scmp_filter_ctx ctx = NULL;
  char line[8192];
  size_t total = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    total += strlen(line);
    if (total > MAX_SECCOMP_BYTES || strchr(line, '\n') == NULL) {
      errno = EFBIG;
      die("%s", file);
    }
    char *tok[4 + 4 * 6];
    int nt = 0;
    for (char *save = NULL, *t = strtok_r(line, " \n", &save); t != NULL && nt < (int)(sizeof tok / sizeof tok[0]);
         t = strtok_r(NULL, " \n", &save))
      tok[nt++] = t;
    if (nt == 0) continue;
    errno = EINVAL;
    if (strcmp(tok[0], "default") == 0 && nt == 3 && ctx == NULL) {
      ctx = seccomp_init(seccomp_action(tok[1], tok[2]));
      if (ctx == NULL) die("seccomp_init");
      /* no_new_privs is the request's to set (setpriv --nnp), never a side effect of the filter. */
      if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) != 0) die("seccomp no_new_privs attribute");
      continue;
    }
    if (ctx == NULL) die("%s: the first directive must be default", file);
    if (strcmp(tok[0], "arch") == 0 && nt == 2) {
      uint32_t arch = seccomp_arch_resolve_name(tok[1]);
      if (arch == 0) die("seccomp architecture %s", tok[1]);
      int rc = seccomp_arch_add(ctx, arch);
      if (rc != 0 && rc != -EEXIST) {
        errno = -rc;
        die("seccomp architecture %s", tok[1]);
      }
      continue;
    }
    if (strcmp(tok[0], "rule") == 0 && nt >= 5) {
      uint32_t act = seccomp_action(tok[1], tok[2]);
      int nr = seccomp_syscall_resolve_name(tok[3]);
      long nargs = strtol(tok[4], NULL, 10);
      if (nargs < 0 || nargs > 6 || nt != 5 + 4 * nargs) die("%s: rule for %s", file, tok[3]);
      if (nr == __NR_SCMP_ERROR) continue;
      struct scmp_arg_cmp args[6];
      int same_index = nargs > 1;
      for (long i = 0; i < nargs; i++) {
        char **a = tok + 5 + 4 * i;
        uint64_t index = seccomp_u64(a[0]);
        if (index > 5) die("%s: rule for %s: argument index %s", file, tok[3], a[0]);
        args[i] = (struct scmp_arg_cmp){(unsigned int)index, seccomp_op(a[1]), seccomp_u64(a[2]), seccomp_u64(a[3])};
        if (i > 0 && args[i].arg != args[0].arg) same_index = 0;
      }
      int rc = 0;
      /* Several conditions on one argument are alternatives (one rule each), as runc and containerd read them. */
      if (same_index) {
        for (long i = 0; i < nargs && rc == 0; i++) rc = seccomp_rule_add_array(ctx, act, nr, 1, &args[i]);
      } else {
        rc = seccomp_rule_add_array(ctx, act, nr, (unsigned int)nargs, args);
      }
      if (rc != 0) {
        errno = -rc;
        die("seccomp rule for %s", tok[3]);
      }
      continue;
    }
    die("%s: bad directive %s", file, tok[0]);
  }
  if (ferror(f)) die("read %s", file);
  fclose(f);
  if (ctx == NULL) {
    errno = EINVAL;
    die("%s: empty", file);
  }
  return ctx;
}

static void load_seccomp(scmp_filter_ctx ctx) {
  int rc = seccomp_load(ctx);
  if (rc != 0) {
    errno = -rc;
    die("load seccomp filter");
  }
  seccomp_release(ctx);
}

/* Keeps only the capabilities listed ("N,N,..." numbers; "" keeps none) in the bounding set. */
static void limit_bounding_set(const char *list) {
  unsigned char keep[64] = {0};
  for (const char *p = list; *p != '\0';) {
    char *end;
    errno = 0;
    unsigned long c = strtoul(p, &end, 10);
    if (end == p || errno != 0 || c >= 64 || (*end != ',' && *end != '\0')) {
      errno = EINVAL;
      die("capability list %s", list);
    }
    keep[c] = 1;
    p = *end == ',' ? end + 1 : end;
  }
  for (int c = 0; c < 64; c++) {
    if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) < 0) break; /* past the kernel's last capability */
    if (!keep[c] && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0) die("drop capability %d from the bounding set", c);
  }
}

static int do_exec(const char *uid, const char *caps, const char *seccomp, char **rest, int n) {
  if (n < 4) return 2;
  char **env = read_env(rest[0]);
  scmp_filter_ctx filter = seccomp != NULL ? read_seccomp(seccomp) : NULL;
  if (chroot(rest[1]) != 0) die("chroot %s", rest[1]);
  if (chdir("/") != 0) die("chdir /");
  if (chdir(rest[2]) != 0) die("chdir %s", rest[2]);
  if (caps != NULL) limit_bounding_set(caps);
  int nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1;
  if (filter != NULL && !nnp) {
    load_seccomp(filter);
    filter = NULL;
  }
  if (uid != NULL) {
    char *end;
    errno = 0;
    unsigned long u = strtoul(uid, &end, 10);
    if (*uid == '\0' || *end != '\0' || errno != 0 || u > 0xfffffffeUL) {
      errno = EINVAL;
      die("uid %s", uid);
    }
    if (setuid((uid_t)u) != 0) die("setuid %lu", u);
  }
  if (filter != NULL) load_seccomp(filter);
  int code = exec_app(rest + 3, env);
  fprintf(stderr, "crimux-stage1 exec: %s: %s\n", rest[3], strerror(errno));
  return code;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  cmd = argv[1];
  if (strcmp(cmd, "pause") == 0) {
    if (argc != 2) return 2;
    for (;;) pause(); /* default dispositions: SIGTERM/SIGKILL end it */
  }
  const char *uid = NULL, *create = NULL, *type = NULL, *caps = NULL, *seccomp = NULL;
  int recursive = 0;
  unsigned long long attrs = 0;
  int i = 2;
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    const char *a = argv[i];
    if (strncmp(a, "--uid=", 6) == 0) uid = a + 6;
    else if (strncmp(a, "--caps=", 7) == 0) caps = a + 7;
    else if (strncmp(a, "--seccomp=", 10) == 0) seccomp = a + 10;
    else if (strncmp(a, "--create=", 9) == 0) create = a + 9;
    else if (strncmp(a, "--type=", 7) == 0) type = a + 7;
    else if (strcmp(a, "--recursive") == 0) recursive = 1;
    else if (strcmp(a, "--readonly") == 0) attrs |= MOUNT_ATTR_RDONLY;
    else if (strcmp(a, "--nodev") == 0) attrs |= MOUNT_ATTR_NODEV;
    else {
      fprintf(stderr, "crimux-stage1 %s: unknown option %s\n", cmd, a);
      return 2;
    }
  }
  if (i >= argc) {
    fprintf(stderr, "crimux-stage1 %s: missing --\n", cmd);
    return 2;
  }
  char **rest = argv + i + 1;
  int n = argc - i - 1;
  if (strcmp(cmd, "exec") == 0) return do_exec(uid, caps, seccomp, rest, n);
  if (n < 1) return 2;
  int rootfd = open_root(rest[0]);
  if (strcmp(cmd, "setattr") == 0) {
    int fd = in_root(rootfd, "", 0);
    if (fd < 0) die("open %s", rest[0]);
    set_attrs(fd, attrs, 0, rest[0]);
    return 0;
  }
  if (n < 2) return 2;
  const char *target = rest[1];
  if (strcmp(cmd, "mkdir") == 0) {
    close(mkdir_in_root(rootfd, target, 0));
    return 0;
  }
  if (strcmp(cmd, "bind") == 0) {
    if (n < 3) return 2;
    int c = create == NULL ? 0 : strcmp(create, "dir") == 0 ? 'd' : strcmp(create, "file") == 0 ? 'f' : -1;
    if (c < 0) return 2;
    int src = open(rest[2], O_PATH | O_CLOEXEC);
    if (src < 0) die("open source %s", rest[2]);
    int dst = target_fd(rootfd, target, c, 0);
    if (dst < 0) die("resolve %s in %s", target, rest[0]);
    bind_fd(src, dst, recursive, attrs, target);
    return 0;
  }
  if (strcmp(cmd, "fs") == 0) {
    if (type == NULL) return 2;
    int dst = target_fd(rootfd, target, 'd', 0);
    if (dst < 0) die("resolve %s in %s", target, rest[0]);
    fs_mount(dst, type, target);
    return 0;
  }
  if (strcmp(cmd, "mask") == 0 || strcmp(cmd, "readonly") == 0) {
    int dst = in_root(rootfd, target, 0);
    if (dst < 0 && errno == ENOENT) return 0;
    if (dst < 0) die("resolve %s in %s", target, rest[0]);
    if (strcmp(cmd, "readonly") == 0) {
      bind_fd(dst, dst, 1, MOUNT_ATTR_RDONLY, target);
      return 0;
    }
    struct stat st;
    if (fstat(dst, &st) != 0) die("stat %s", target);
    if (S_ISDIR(st.st_mode)) {
      fs_mount(dst, "tmpfs-mask", target);
    } else {
      int null = open("/dev/null", O_PATH | O_CLOEXEC);
      if (null < 0) die("open /dev/null");
      bind_fd(null, dst, 0, 0, target);
    }
    return 0;
  }
  fprintf(stderr, "crimux-stage1: unknown command %s\n", cmd);
  return 2;
}
