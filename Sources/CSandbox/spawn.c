// The sandboxed spawn: clone(CLONE_VM|CLONE_VFORK|CLONE_PIDFD + namespaces) onto a private
// stack, replay the setup steps in the child, execve.
//
// Async-signal-safety. The child shares the daemon's memory (CLONE_VM) while the calling thread
// is suspended (CLONE_VFORK), and other daemon threads keep running and may hold any lock
// (malloc, stdio, the Swift runtime). So the child:
//   - writes only to its own stack (and errno, which is the suspended thread's TLS slot);
//   - calls only async-signal-safe functions or raw syscalls: no malloc, no stdio, no Swift;
//   - uses raw syscalls for set*id/setgroups, because glibc's wrappers broadcast the change to
//     every thread of what they believe is the current process — the daemon's threads;
//   - never returns from child_main: it ends in execve or _exit(127).
// It does not share signal handlers (no CLONE_SIGHAND), so resetting them to SIG_DFL in the
// child leaves the daemon's handlers alone. Every signal is blocked from just before clone until
// execve, so no daemon handler can run on the child's stack.
//
// Why vfork-style even with a user namespace: the id maps guix-daemon uses are single-id
// (`30001 <uid> 1`), which the child may write itself, so the parent never has to run between
// clone and the child's setup. This keeps spawn cost independent of the daemon's RSS.
#define _GNU_SOURCE
#include "csandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

enum { CHILD_STACK_SIZE = 256 * 1024 };

/// What the child reads from the parent's memory (CLONE_VM: no copy is made).
struct child_args {
    const csandbox_spawn_request *request;
    int error_fd;
};

/// Reports (step, errno) to the parent and exits. write(2) and _exit(2) are async-signal-safe.
static void child_fail(int error_fd, size_t step, int error) {
    int32_t message[2] = {(int32_t)step, (int32_t)error};
    ssize_t ignored = write(error_fd, message, sizeof message);
    (void)ignored;
    _exit(127);
}

/// write(2) all of `length` bytes, retrying short writes and EINTR.
static int write_all(int fd, const void *bytes, size_t length) {
    const char *p = bytes;
    while (length > 0) {
        ssize_t n = write(fd, p, length);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += n;
        length -= (size_t)n;
    }
    return 0;
}

/// Moves `fd` to a number >= 3 so the dup2 calls of CSANDBOX_STDIO cannot clobber it.
static int fd_above_stdio(int fd) {
    if (fd < 0 || fd > 2) return fd;
    return fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

/// Mount flags a user namespace locks on a bind mount: a remount must repeat them or the kernel
/// refuses it with EPERM (and a read-only source stays read-only). statfs(2) reports them in f_flags (ST_* == MS_* values).
static unsigned long locked_mount_flags(const char *path, int *error) {
    struct statfs st;
    if (statfs(path, &st) < 0) {
        *error = errno;
        return 0;
    }
    return (unsigned long)st.f_flags &
           (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME);
}

/// Closes every fd >= 3 except `keep_a` and `keep_b`, at once. Our copy of the fd table holds
/// references to the daemon's open files (lock files above all: an OFD lock lives as long as
/// any fd of its open file description), which must not outlive the daemon's own close just
/// because this child is still setting up. Errors are ignored: CSANDBOX_CLOSE_FDS is the check.
static void close_all_but(int keep_a, int keep_b) {
    int low = keep_a < keep_b ? keep_a : keep_b;
    int high = keep_a < keep_b ? keep_b : keep_a;
    unsigned int next = 3;
    int keep[2] = {low, high};
    for (int i = 0; i < 2; i++) {
        if (keep[i] < 3 || (unsigned int)keep[i] < next) continue;
        if ((unsigned int)keep[i] > next) syscall(SYS_close_range, next, (unsigned int)keep[i] - 1, 0u);
        next = (unsigned int)keep[i] + 1;
    }
    syscall(SYS_close_range, next, ~0u, 0u);
}

/// SIOCSIFFLAGS IFF_UP|IFF_LOOPBACK|IFF_RUNNING on "lo" of the caller's network namespace.
static int loopback_up(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, "lo", 3);
    ifr.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING;
    int rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
    int error = errno;
    close(fd);
    return rc < 0 ? error : 0;
}

int csandbox_make_namespace(unsigned long kind, int home_fd) {
    if (kind != CLONE_NEWNET && kind != CLONE_NEWIPC) return -EINVAL;
    if (unshare((int)kind) < 0) return -errno;
    int error = kind == CLONE_NEWNET ? loopback_up() : 0;
    int fd = error == 0 ? open(kind == CLONE_NEWNET ? "/proc/thread-self/ns/net" : "/proc/thread-self/ns/ipc",
                               O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0 && error == 0) error = errno;
    if (setns(home_fd, (int)kind) < 0) {
        // Stuck in the new namespace: nothing of the daemon may run on this thread any more.
        if (fd >= 0) close(fd);
        return -(errno == 0 ? EIO : errno);
    }
    return error == 0 ? fd : -error;
}

/// Enters the namespaces made ahead for the child (`enter`), or returns home. 0 or an errno.
static int switch_namespaces(const csandbox_spawn_request *request, int enter) {
    if (request->network_fd >= 0 && setns(enter ? request->network_fd : request->home_network_fd, CLONE_NEWNET) < 0) return errno;
    if (request->ipc_fd >= 0 && setns(enter ? request->ipc_fd : request->home_ipc_fd, CLONE_NEWIPC) < 0) return errno;
    return 0;
}

/// Runs one step. Returns 0 or an errno.
static int run_step(const csandbox_step *s, int log_fd) {
    switch (s->op) {
    case CSANDBOX_WRITE_EXISTING: {
        int fd = open(s->path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) return errno;
        int rc = write_all(fd, s->bytes, s->length);
        int error = errno;
        close(fd);
        return rc < 0 ? error : 0;
    }
    case CSANDBOX_CREATE_FILE: {
        int fd = open(s->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) return errno;
        int rc = s->length > 0 ? write_all(fd, s->bytes, s->length) : 0;
        if (rc == 0) rc = fchmod(fd, (mode_t)s->mode);
        int error = errno;
        close(fd);
        return rc < 0 ? error : 0;
    }
    case CSANDBOX_MKDIR:
        if (mkdir(s->path, 0700) < 0) return errno;
        return chmod(s->path, (mode_t)s->mode) < 0 ? errno : 0;
    case CSANDBOX_SYMLINK:
        return symlink(s->path2, s->path) < 0 ? errno : 0;
    case CSANDBOX_CHMOD:
        return chmod(s->path, (mode_t)s->mode) < 0 ? errno : 0;
    case CSANDBOX_CHOWN:
        return lchown(s->path, (uid_t)s->a, (gid_t)s->b) < 0 ? errno : 0;
    case CSANDBOX_MOUNT:
        return mount(s->path2, s->path, s->text, s->mount_flags, s->bytes) < 0 ? errno : 0;
    case CSANDBOX_BIND: {
        unsigned long recursive = (s->flags & CSANDBOX_BIND_ALONE) ? 0 : MS_REC;
        if (mount(s->path2, s->path, NULL, MS_BIND | recursive, NULL) < 0) return errno;
        unsigned long wanted = s->mount_flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
        if (wanted == 0) return 0;
        int error = 0;
        unsigned long locked = locked_mount_flags(s->path, &error);
        if (error != 0) return error;
        return mount(NULL, s->path, NULL, MS_BIND | MS_REMOUNT | locked | wanted, NULL) < 0 ? errno : 0;
    }
    case CSANDBOX_SETHOSTNAME:
        return sethostname(s->bytes, s->length) < 0 ? errno : 0;
    case CSANDBOX_SETDOMAINNAME:
        return setdomainname(s->bytes, s->length) < 0 ? errno : 0;
    case CSANDBOX_LOOPBACK_UP:
        // Only meaningful inside a fresh network namespace: outside it, as root, this would
        // touch the host's lo (the Swift side emits it only with CLONE_NEWNET).
        return loopback_up();
    case CSANDBOX_CHDIR:
        return chdir(s->path) < 0 ? errno : 0;
    case CSANDBOX_PIVOT_ROOT:
        // pivot_root(".", ".") stacks the old root on top of the new one at "/"; detaching "."
        // then removes the old root without needing a directory for it inside the new root.
        if (chdir(s->path) < 0) return errno;
        if (syscall(SYS_pivot_root, ".", ".") < 0) return errno;
        if (umount2(".", MNT_DETACH) < 0) return errno;
        return chdir("/") < 0 ? errno : 0;
    case CSANDBOX_CHROOT:
        return chroot(s->path) < 0 ? errno : 0;
    case CSANDBOX_SETGROUPS:
        return syscall(SYS_setgroups, s->id_count, s->ids) < 0 ? errno : 0;
    case CSANDBOX_SETGID:
        return syscall(SYS_setresgid, (gid_t)s->a, (gid_t)s->a, (gid_t)s->a) < 0 ? errno : 0;
    case CSANDBOX_SETUID:
        return syscall(SYS_setresuid, (uid_t)s->a, (uid_t)s->a, (uid_t)s->a) < 0 ? errno : 0;
    case CSANDBOX_PERSONALITY:
        return personality((unsigned long)s->a) < 0 ? errno : 0;
    case CSANDBOX_RLIMIT: {
        struct rlimit limit = {(rlim_t)s->b, (rlim_t)s->c};
        return setrlimit((int)s->a, &limit) < 0 ? errno : 0;
    }
    case CSANDBOX_STDIO: {
        int null_fd = open(s->path, O_RDWR);
        if (null_fd < 0) return errno;
        if (null_fd != 0) {
            if (dup2(null_fd, 0) < 0) return errno;
            if (null_fd > 2) close(null_fd);
        }
        int out = log_fd >= 0 ? log_fd : 0;
        if (dup2(out, 1) < 0 || dup2(out, 2) < 0) return errno;
        return 0;
    }
    case CSANDBOX_CLOSE_FDS:
        // Close-on-exec rather than close: the error pipe must survive until execve.
        if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) == 0) return 0;
        if (errno != ENOSYS && errno != EINVAL) return errno;
        for (int fd = 3; fd < 65536; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
        return 0;
    case CSANDBOX_SETSID:
        return setsid() < 0 ? errno : 0;
    case CSANDBOX_NO_NEW_PRIVS:
        return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? errno : 0;
    case CSANDBOX_DROP_AMBIENT_CAPS:
        return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 ? errno : 0;
    case CSANDBOX_EXEC: {
        // Unblock everything with the raw syscall: glibc's sigprocmask would keep its internal
        // signals in whatever state it likes; the builder starts with an empty mask.
        sigset_t empty;
        sigemptyset(&empty);
        syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty, NULL, _NSIG / 8);
        execve(s->path, s->argv, s->envp);
        return errno;
    }
    case CSANDBOX_RMDIR:
        return rmdir(s->path) < 0 ? errno : 0;
    case CSANDBOX_UMOUNT:
        return umount2(s->path, (int)s->a) < 0 ? errno : 0;
    case CSANDBOX_LINK: {
        if (link(s->path2, s->path) == 0) return 0;
        if (errno != EMLINK) return errno;
        int fd = open(s->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) return errno;
        int rc = fchmod(fd, (mode_t)s->mode);
        int error = errno;
        close(fd);
        return rc < 0 ? error : 0;
    }
    case CSANDBOX_UNLINK:
        return unlink(s->path) < 0 ? errno : 0;
    default:
        return EINVAL;
    }
}

/// The child: reset signal dispositions, replay the steps, never return.
static int child_main(void *raw) {
    const struct child_args *args = raw;
    const csandbox_spawn_request *request = args->request;
    int error_fd = fd_above_stdio(args->error_fd);
    int log_fd = fd_above_stdio(request->log_fd);
    if (error_fd < 0) _exit(127);
    if (log_fd < 0 && request->log_fd >= 0) child_fail(error_fd, 0, errno);
    close_all_but(error_fd, log_fd);

    // The daemon may ignore SIGPIPE or catch SIGCHLD; the builder starts from the defaults.
    // sigaction(2) is async-signal-safe; it fails harmlessly for SIGKILL, SIGSTOP and glibc's
    // reserved signals.
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < _NSIG; sig++) sigaction(sig, &dfl, NULL);

    for (size_t i = 0; i < request->step_count; i++) {
        const csandbox_step *step = &request->steps[i];
        int error = run_step(step, log_fd);
        if (error != 0 && !(step->flags & CSANDBOX_IGNORE_ERRORS)) child_fail(error_fd, i, error);
    }
    // No exec step, or it was marked to ignore errors: still never return into clone's caller.
    child_fail(error_fd, request->step_count, ENOEXEC);
    return 127;
}

csandbox_spawn_result csandbox_spawn(const csandbox_spawn_request *request) {
    csandbox_spawn_result result = {.status = -1, .pid = -1, .pidfd = -1};
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) < 0) {
        result.error = errno;
        return result;
    }
    // A private stack with a guard page below it, freed once the child has exec'd or exited.
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *stack = mmap(NULL, CHILD_STACK_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        result.error = errno;
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        return result;
    }
    mprotect(stack, page, PROT_NONE);
    char *stack_top = stack + CHILD_STACK_SIZE;

    struct child_args args = {.request = request, .error_fd = pipe_fds[1]};
    unsigned long flags = request->clone_flags | CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD;

    // Block every signal so that no handler of the daemon runs in the child before it has
    // reset them; the child inherits this mask and clears it just before execve.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int pidfd = -1;
    pid_t pid = -1;
    int clone_error = switch_namespaces(request, 1);
    if (clone_error == 0) {
        pid = clone(child_main, stack_top, (int)flags, &args, &pidfd);
        clone_error = errno;
    }
    {
        // Back home at once: nothing else may run on this thread in the build's namespaces.
        // (setns to the fd of our own namespace, as the root that just left it, cannot fail
        // short of ENOMEM; if it ever did, the spawn fails rather than hide it.)
        int home_error = switch_namespaces(request, 0);
        if (home_error != 0) {
            clone_error = home_error;
            if (pid > 0) {
                csandbox_pidfd_send_signal(pidfd, SIGKILL);
                int ignored = 0;
                csandbox_pidfd_wait(pidfd, 0, &ignored);
                close(pidfd);
            }
            pid = -1;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    // CLONE_VFORK: we only get here after the child exec'd or exited, so its stack is free.
    munmap(stack, CHILD_STACK_SIZE);
    close(pipe_fds[1]);

    if (pid < 0) {
        close(pipe_fds[0]);
        result.error = clone_error;
        return result;
    }

    int32_t message[2];
    size_t got = 0;
    while (got < sizeof message) {
        ssize_t n = read(pipe_fds[0], (char *)message + got, sizeof message - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(pipe_fds[0]);

    if (got == 0) {
        result.status = 0;
        result.pid = pid;
        result.pidfd = pidfd;
        return result;
    }
    // A step failed (or the message was cut short, which only a dying child can do): reap it.
    int wstatus = 0;
    csandbox_pidfd_wait(pidfd, 0, &wstatus);
    close(pidfd);
    result.status = 1;
    result.failed_step = got == sizeof message ? message[0] : -1;
    result.error = got == sizeof message ? message[1] : EPIPE;
    return result;
}

/// The killUser child: become `uid` (raw syscall, see the top of this file) and SIGKILL every
/// process of that uid. kill(-1) never hits the caller itself and signals every target in one
/// pass; it keeps "succeeding" on unreaped zombies, so it cannot be looped until ESRCH. A second
/// pass catches anything a target forked while the first was under way.
static int kill_user_child(void *raw) {
    uid_t uid = *(const uid_t *)raw;
    if (syscall(SYS_setresuid, uid, uid, uid) < 0) _exit(1);
    for (int pass = 0; pass < 2; pass++) {
        while (kill(-1, SIGKILL) < 0) {
            if (errno == ESRCH) _exit(0);
            if (errno != EINTR) _exit(2);
        }
    }
    _exit(0);
}

int csandbox_kill_user(uid_t uid) {
    if (uid == 0) return EPERM;  // kill(-1) as root would take the whole machine down.
    char *stack = mmap(NULL, CHILD_STACK_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) return errno;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int pidfd = -1;
    pid_t pid = clone(kill_user_child, stack + CHILD_STACK_SIZE,
                      CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &uid, &pidfd);
    int error = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    munmap(stack, CHILD_STACK_SIZE);
    if (pid < 0) return error;
    int wstatus = 0;
    int rc = csandbox_pidfd_wait(pidfd, 0, &wstatus);
    close(pidfd);
    if (rc < 0) return errno;
    if (!WIFEXITED(wstatus)) return EINTR;
    switch (WEXITSTATUS(wstatus)) {
    case 0: return 0;
    case 1: return EPERM;
    default: return EAGAIN;
    }
}
