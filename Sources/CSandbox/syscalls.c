// Thin wrappers for syscalls Swift's Glibc module does not expose (it is built without
// _GNU_SOURCE): pidfds, waitid(P_PIDFD), pipe2, close_range, unshare, and prctl (variadic).
#define _GNU_SOURCE
#include "csandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

int csandbox_pidfd_send_signal(int pidfd, int sig) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

int csandbox_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

int csandbox_pidfd_wait(int pidfd, int options, int *wstatus) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    for (;;) {
        if (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &info, WEXITED | options) == 0) break;
        if (errno != EINTR) return -1;
    }
    if (info.si_pid == 0) return 0;  // WNOHANG and still running.
    switch (info.si_code) {
    case CLD_EXITED: *wstatus = (info.si_status & 0xff) << 8; break;
    case CLD_KILLED: *wstatus = info.si_status & 0x7f; break;
    case CLD_DUMPED: *wstatus = (info.si_status & 0x7f) | 0x80; break;
    default: *wstatus = 0; break;
    }
    return 1;
}

int csandbox_pipe2(int fds[2], int flags) {
    return pipe2(fds, flags);
}

int csandbox_close_range(unsigned int first, unsigned int last, unsigned int flags) {
    return (int)syscall(SYS_close_range, first, last, flags);
}

int csandbox_unshare(unsigned long flags) {
    return unshare((int)flags);
}

int csandbox_set_parent_death_signal(int sig) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0, 0, 0);
}
