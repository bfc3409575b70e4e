/*
 * vmhelper: what the Node guest agent cannot do itself (an ioctl Node has no API for, a reaping PID 1). Built
 * static by scripts/build-vm-guest.sh onto the tools disk (/tools/bin/vmhelper); the agent works without it, only
 * less well (no forced CRNG reseed). Terminals for tty execs come from runc, through crimux-io on the same disk.
 *
 *   vmhelper reseed          force a CRNG reseed (RNDRESEEDCRNG) after the host's seed was written to
 *                            /dev/urandom: clones of one template snapshot then stop sharing random output at once.
 *   vmhelper pause           PID 1 of the pod's shared PID namespace (CRI namespace_options.pid=POD): sleeps and
 *                            reaps the orphans re-parented to it, like the pause container of a runc pod.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

static int reseed(void) {
  int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
  if (fd < 0 || ioctl(fd, RNDRESEEDCRNG) < 0) {
    perror("vmhelper: RNDRESEEDCRNG");
    return 1;
  }
  return 0;
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
  fprintf(stderr, "usage: vmhelper reseed | vmhelper pause\n");
  return 2;
}
