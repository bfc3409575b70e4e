/*
 * crimux-layer: the unpack stage of a layer pull, outside the daemon's event loop.
 *
 * Why: a pull is bound by the daemon's one JavaScript thread (bench/results/image-pull-profile.md: the loop is
 * 91–96 % busy while the whole pull keeps 1.4 of 2 cores busy). Every uncompressed byte used to be inflated
 * through zlib's callbacks, hashed, scanned and written into tar's pipe there, and a zstd layer's bytes even
 * crossed the daemon twice (out of zstd, into tar). Here the daemon writes each compressed byte once, into this
 * process, which does the rest with no per-chunk wake-ups of the daemon: it also hashes the compressed blob and,
 * for a download, writes it to the content store's temp file.
 *
 * Usage: crimux-layer [--blob FILE] gzip|zstd|none MAX_BYTES -- tar ARGS...
 *   stdin   the compressed layer, read to its end (bytes after the end of the tar archive are hashed too)
 *   --blob  a new file (created exclusively, never through a symlink) that receives every compressed byte
 *   stdout  and stderr are tar's (its --verbose listing, its diagnostics); this helper's own errors go to stderr
 *   fd 3    on success, one line: "sha256:<hex> <bytes> <0|1> sha256:<hex> <bytes>\n": digest and size of the
 *           uncompressed stream, 1 when ".wh." occurs anywhere in it (the layer may hold whiteouts to convert),
 *           then digest and size of the compressed input
 *   exit    0 done and tar exited 0 · 64 usage · 65 not valid gzip/zstd data (or cut short) · 66 more than
 *           MAX_BYTES uncompressed · 67 tar failed · 70 a system call failed
 * tar is started with argv after "--" as given (looked up in PATH), reading a pipe of 1 MiB; it gets SIGKILL when
 * this helper dies, so the daemon's kill of the helper stops both. gzip follows Node's gunzip: members may be
 * concatenated, and a zero byte after a member starts padding that is ignored to the end; zstd frames (skippable
 * ones too) may be concatenated.
 *
 * Build: scripts/build-native.sh (gcc -static, zlib, libzstd and OpenSSL's libcrypto linked in).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define CHUNK (1u << 20)
#define EXIT_USAGE 64
#define EXIT_DATA 65
#define EXIT_TOO_LARGE 66
#define EXIT_TAR 67
#define EXIT_SYS 70

static const char NEEDLE[] = ".wh.";
#define NEEDLE_LEN (sizeof NEEDLE - 1)

static pid_t tar_pid = -1;
static int tar_fd = -1;        /* write end of tar's stdin, -1 once tar closed it */
static EVP_MD_CTX *diff_ctx, *blob_ctx;
static unsigned long long out_bytes, max_bytes, in_bytes;
static int blob_fd = -1;
static int saw_needle;
static char seam[NEEDLE_LEN - 1]; /* the last bytes of the stream so far, for a needle across two chunks */
static size_t seam_len;

static void stop_tar(void) {
  if (tar_pid > 0) kill(tar_pid, SIGKILL);
}

static void die(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("crimux-layer: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  stop_tar();
  exit(code);
}

/* tar's exit status as a message, or NULL when it exited 0. */
static const char *tar_failure(int status) {
  static char msg[64];
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return NULL;
  if (WIFSIGNALED(status)) snprintf(msg, sizeof msg, "tar killed by signal %d", WTERMSIG(status));
  else snprintf(msg, sizeof msg, "tar exited with %d", WEXITSTATUS(status));
  return msg;
}

static int wait_tar(void) {
  int status;
  while (waitpid(tar_pid, &status, 0) < 0) {
    if (errno != EINTR) die(EXIT_SYS, "waitpid: %s", strerror(errno));
  }
  tar_pid = -1;
  return status;
}

static void scan_needle(const unsigned char *p, size_t n) {
  if (saw_needle || n == 0) return;
  /* Across the seam: the kept tail followed by the first few bytes of this chunk. */
  char joint[2 * NEEDLE_LEN];
  size_t head = n < NEEDLE_LEN - 1 ? n : NEEDLE_LEN - 1;
  memcpy(joint, seam, seam_len);
  memcpy(joint + seam_len, p, head);
  if (memmem(joint, seam_len + head, NEEDLE, NEEDLE_LEN) || memmem(p, n, NEEDLE, NEEDLE_LEN)) {
    saw_needle = 1;
    return;
  }
  size_t total = seam_len + n, keep = total < NEEDLE_LEN - 1 ? total : NEEDLE_LEN - 1;
  if (n >= keep) {
    memcpy(seam, p + n - keep, keep);
  } else {
    memmove(seam, seam + seam_len - (keep - n), keep - n);
    memcpy(seam + keep - n, p, n);
  }
  seam_len = keep;
}

/* One piece of the uncompressed stream: counted, hashed, scanned, and written to tar while tar reads. */
static void emit(const unsigned char *p, size_t n) {
  if (n == 0) return;
  out_bytes += n;
  if (out_bytes > max_bytes) die(EXIT_TOO_LARGE, "more than %llu bytes uncompressed", max_bytes);
  if (EVP_DigestUpdate(diff_ctx, p, n) != 1) die(EXIT_SYS, "sha256 failed");
  scan_needle(p, n);
  while (n > 0 && tar_fd >= 0) {
    ssize_t w = write(tar_fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EPIPE) {
      /* tar stopped reading: at the archive's end (the rest is padding, still hashed) or because it failed. */
      close(tar_fd);
      tar_fd = -1;
      const char *why = tar_failure(wait_tar());
      if (why) die(EXIT_TAR, "%s", why);
      break;
    }
    if (w < 0) die(EXIT_SYS, "write to tar: %s", strerror(errno));
    p += w;
    n -= (size_t)w;
  }
}

static void write_all(int fd, const unsigned char *p, size_t n, const char *what) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) die(EXIT_SYS, "write %s: %s", what, strerror(errno));
    p += w;
    n -= (size_t)w;
  }
}

/* The next piece of the compressed input, hashed and (with --blob) stored before it is decompressed. */
static size_t read_some(unsigned char *buf, size_t cap) {
  for (;;) {
    ssize_t r = read(0, buf, cap);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) die(EXIT_SYS, "read: %s", strerror(errno));
    in_bytes += (size_t)r;
    if (r > 0 && EVP_DigestUpdate(blob_ctx, buf, (size_t)r) != 1) die(EXIT_SYS, "sha256 failed");
    if (blob_fd >= 0) write_all(blob_fd, buf, (size_t)r, "blob");
    return (size_t)r;
  }
}

static void copy_plain(unsigned char *in) {
  size_t n;
  while ((n = read_some(in, CHUNK)) > 0) emit(in, n);
}

static void inflate_gzip(unsigned char *in, unsigned char *out) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) die(EXIT_SYS, "inflateInit2 failed");
  int in_member = 0, any = 0, padding = 0;
  size_t n;
  while ((n = read_some(in, CHUNK)) > 0) {
    z.next_in = in;
    z.avail_in = (uInt)n;
    while (z.avail_in > 0 && !padding) {
      if (!in_member) {
        /* After a member, as Node's gunzip: a zero byte starts padding, and all that follows is ignored (still
         * read, hashed and stored); any other byte starts the next member (or fails as one). */
        if (*z.next_in == 0 && any) {
          padding = 1;
          break;
        }
        if (inflateReset(&z) != Z_OK) die(EXIT_SYS, "inflateReset failed");
        in_member = any = 1;
      }
      z.next_out = out;
      z.avail_out = CHUNK;
      int rc = inflate(&z, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
        die(EXIT_DATA, "not valid gzip data: %s", z.msg ? z.msg : "inflate failed");
      emit(out, CHUNK - z.avail_out);
      if (rc == Z_STREAM_END) in_member = 0;
    }
  }
  /* Output still held by zlib (avail_out ran out exactly at the input's end). */
  while (in_member) {
    z.next_out = out;
    z.avail_out = CHUNK;
    int rc = inflate(&z, Z_FINISH);
    emit(out, CHUNK - z.avail_out);
    if (rc == Z_STREAM_END) in_member = 0;
    else if (z.avail_out != 0) die(EXIT_DATA, "not valid gzip data: unexpected end of file");
  }
  if (!any) die(EXIT_DATA, "not valid gzip data: empty input");
  inflateEnd(&z);
}

static void decompress_zstd(unsigned char *in, unsigned char *out) {
  ZSTD_DCtx *d = ZSTD_createDCtx();
  if (!d) die(EXIT_SYS, "ZSTD_createDCtx failed");
  /* 0 once a frame is whole and flushed; > 0 (a hint of bytes wanted) while one is open. */
  size_t pending = 1, n;
  int any = 0;
  while ((n = read_some(in, CHUNK)) > 0) {
    ZSTD_inBuffer ib = {in, n, 0};
    any = 1;
    for (;;) {
      ZSTD_outBuffer ob = {out, CHUNK, 0};
      pending = ZSTD_decompressStream(d, &ob, &ib);
      if (ZSTD_isError(pending)) die(EXIT_DATA, "not valid zstd data: %s", ZSTD_getErrorName(pending));
      emit(out, ob.pos);
      /* A full output buffer may leave data inside the decoder: call again until it is drained, but not past the
       * end of a frame (with no input left, the decoder would wait for the next frame's header: pending > 0). */
      if (ib.pos == ib.size && (ob.pos < ob.size || pending == 0)) break;
    }
  }
  if (!any || pending != 0) die(EXIT_DATA, "not valid zstd data: unexpected end of file");
  ZSTD_freeDCtx(d);
}

static void start_tar(char **argv) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) die(EXIT_SYS, "pipe: %s", strerror(errno));
  /* One write per MiB instead of sixteen; the default 64 KiB stays when the kernel refuses. */
  (void)fcntl(p[1], F_SETPIPE_SZ, (int)CHUNK);
  pid_t parent = getpid();
  tar_pid = fork();
  if (tar_pid < 0) die(EXIT_SYS, "fork: %s", strerror(errno));
  if (tar_pid == 0) {
    /* tar dies with this helper: a daemon that kills the helper stops the extraction too. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent) _exit(EXIT_SYS);
    if (dup2(p[0], 0) < 0) _exit(EXIT_SYS);
    close(3); /* the result pipe is this helper's alone: its end tells the daemon the helper is done */
    signal(SIGPIPE, SIG_DFL);
    execvp(argv[0], argv);
    fprintf(stderr, "crimux-layer: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(p[0]);
  tar_fd = p[1];
}

static void hex_digest(EVP_MD_CTX *ctx, char out[7 + 64 + 1]) {
  unsigned char md[32];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, md, &len) != 1 || len != 32) die(EXIT_SYS, "sha256 final failed");
  memcpy(out, "sha256:", 7);
  for (int i = 0; i < 32; i++) snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

static EVP_MD_CTX *sha256_ctx(void) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) die(EXIT_SYS, "sha256 init failed");
  return ctx;
}

int main(int argc, char **argv) {
  const char *blob = NULL;
  if (argc > 2 && strcmp(argv[1], "--blob") == 0) {
    blob = argv[2];
    argv += 2;
    argc -= 2;
  }
  if (argc < 5 || strcmp(argv[3], "--") != 0) {
    fprintf(stderr, "usage: crimux-layer [--blob FILE] gzip|zstd|none MAX_BYTES -- tar ARGS...\n");
    return EXIT_USAGE;
  }
  const char *kind = argv[1];
  char *end;
  errno = 0;
  max_bytes = strtoull(argv[2], &end, 10);
  if (errno || *end || end == argv[2]) die(EXIT_USAGE, "MAX_BYTES: not a number: %s", argv[2]);
  if (strcmp(kind, "gzip") && strcmp(kind, "zstd") && strcmp(kind, "none")) die(EXIT_USAGE, "unknown compression %s", kind);
  if (fcntl(3, F_GETFD) < 0) die(EXIT_USAGE, "fd 3 (the result) is not open");
  signal(SIGPIPE, SIG_IGN);

  diff_ctx = sha256_ctx();
  blob_ctx = sha256_ctx();
  if (blob) {
    blob_fd = open(blob, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (blob_fd < 0) die(EXIT_SYS, "create %s: %s", blob, strerror(errno));
  }
  unsigned char *in = malloc(CHUNK), *out = malloc(CHUNK);
  if (!in || !out) die(EXIT_SYS, "out of memory");

  start_tar(argv + 4);
  if (!strcmp(kind, "gzip")) inflate_gzip(in, out);
  else if (!strcmp(kind, "zstd")) decompress_zstd(in, out);
  else copy_plain(in);

  if (tar_fd >= 0) {
    close(tar_fd);
    tar_fd = -1;
    const char *why = tar_failure(wait_tar());
    if (why) die(EXIT_TAR, "%s", why);
  }
  /* Blobs are not fsynced (content-store.ts): every reader verifies them. close() reports a failed write-back. */
  if (blob_fd >= 0 && close(blob_fd) < 0) die(EXIT_SYS, "close %s: %s", blob, strerror(errno));
  char diff[7 + 64 + 1], compressed[7 + 64 + 1], line[256];
  hex_digest(diff_ctx, diff);
  hex_digest(blob_ctx, compressed);
  int at = snprintf(line, sizeof line, "%s %llu %d %s %llu\n", diff, out_bytes, saw_needle, compressed, in_bytes);
  write_all(3, (const unsigned char *)line, (size_t)at, "result");
  return 0;
}
