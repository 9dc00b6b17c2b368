// The child side of a sandboxed spawn: clone into new namespaces, replay a flat list of setup
// steps prepared by Swift, execve. Nothing here allocates; see spawn.c.
//
// Protocol: Swift fills an array of `csandbox_step` (every pointer stays valid until
// `csandbox_spawn` returns) and calls `csandbox_spawn`. The child runs the steps in order; the
// first failing step (unless marked CSANDBOX_IGNORE_ERRORS) is reported back as
// (step index, errno) through a close-on-exec pipe and the child exits with status 127.
// EOF on that pipe means the last step (CSANDBOX_EXEC) replaced the child image.
#ifndef CLOISTER_CSANDBOX_H
#define CLOISTER_CSANDBOX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <signal.h>

/// What one setup step does. Fields of `csandbox_step` used by each are listed.
enum csandbox_op {
    /// open(path, O_WRONLY|O_CLOEXEC|O_NOFOLLOW), write bytes[0..length). For /proc files
    /// (uid_map, gid_map, setgroups, oom_score_adj).
    CSANDBOX_WRITE_EXISTING = 1,
    /// open(path, O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW, 0600), write bytes, fchmod(mode).
    CSANDBOX_CREATE_FILE = 2,
    /// mkdir(path, 0700) then chmod(path, mode), so the umask never decides the mode.
    CSANDBOX_MKDIR = 3,
    /// symlink(path2, path): path2 is the target.
    CSANDBOX_SYMLINK = 4,
    /// chmod(path, mode).
    CSANDBOX_CHMOD = 5,
    /// lchown(path, uid = a, gid = b).
    CSANDBOX_CHOWN = 6,
    /// mount(path2, path, text, mount_flags, bytes): proc, tmpfs, devpts, propagation changes.
    CSANDBOX_MOUNT = 7,
    /// mount(path2, path, MS_BIND|MS_REC) (no MS_REC with CSANDBOX_BIND_ALONE); if mount_flags
    /// asks for MS_RDONLY, MS_NOSUID, MS_NODEV or MS_NOEXEC, then a remount adding them to the
    /// locked flags of the new mount (statfs), as a user namespace demands. With mount_flags 0
    /// the new mount keeps the source mount's flags (a bind copies them), in one call.
    CSANDBOX_BIND = 8,
    /// sethostname(bytes, length).
    CSANDBOX_SETHOSTNAME = 9,
    /// setdomainname(bytes, length).
    CSANDBOX_SETDOMAINNAME = 10,
    /// SIOCSIFFLAGS IFF_UP|IFF_LOOPBACK|IFF_RUNNING on "lo".
    CSANDBOX_LOOPBACK_UP = 11,
    /// chdir(path).
    CSANDBOX_CHDIR = 12,
    /// chdir(path); pivot_root(".", "."); umount2(".", MNT_DETACH); chdir("/").
    CSANDBOX_PIVOT_ROOT = 13,
    /// chroot(path).
    CSANDBOX_CHROOT = 14,
    /// setgroups(id_count, ids) as a raw syscall.
    CSANDBOX_SETGROUPS = 15,
    /// setresgid(a, a, a) as a raw syscall.
    CSANDBOX_SETGID = 16,
    /// setresuid(a, a, a) as a raw syscall.
    CSANDBOX_SETUID = 17,
    /// personality(a).
    CSANDBOX_PERSONALITY = 18,
    /// setrlimit(resource = a, soft = b, hard = c).
    CSANDBOX_RLIMIT = 19,
    /// fd 0 = open(path, O_RDWR) (normally /dev/null), fds 1 and 2 = the log fd.
    CSANDBOX_STDIO = 20,
    /// Mark every fd >= 3 close-on-exec (close_range CLOSE_RANGE_CLOEXEC), so the error pipe
    /// still works until execve.
    CSANDBOX_CLOSE_FDS = 21,
    /// setsid().
    CSANDBOX_SETSID = 22,
    /// prctl(PR_SET_NO_NEW_PRIVS, 1).
    CSANDBOX_NO_NEW_PRIVS = 23,
    /// prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL).
    CSANDBOX_DROP_AMBIENT_CAPS = 24,
    /// execve(path, argv, envp) after unblocking every signal. Must be the last step.
    CSANDBOX_EXEC = 25,
    /// rmdir(path).
    CSANDBOX_RMDIR = 26,
    /// umount2(path, a).
    CSANDBOX_UMOUNT = 27,
    /// link(path2, path): another name for an existing (empty) mount-point file, so that N file
    /// mount points cost one inode, not N; if the inode has too many links (EMLINK), creates
    /// path as CSANDBOX_CREATE_FILE would (empty, mode).
    CSANDBOX_LINK = 28,
    /// unlink(path).
    CSANDBOX_UNLINK = 29,
};

/// A failure of this step is not reported and does not stop the child.
#define CSANDBOX_IGNORE_ERRORS 1u
/// CSANDBOX_BIND without MS_REC: only the source's own mount, none mounted below it.
#define CSANDBOX_BIND_ALONE 2u

/// One setup step; which fields matter depends on `op` (see `csandbox_op`).
typedef struct csandbox_step {
    uint32_t op;
    uint32_t flags;
    const char *path;
    const char *path2;
    const char *text;
    const void *bytes;
    size_t length;
    unsigned long mount_flags;
    uint32_t mode;
    int64_t a, b, c;
    const uint32_t *ids;
    size_t id_count;
    char *const *argv;
    char *const *envp;
} csandbox_step;

/// Everything `csandbox_spawn` needs.
typedef struct csandbox_spawn_request {
    const csandbox_step *steps;
    size_t step_count;
    /// Extra clone flags: CLONE_NEW* namespaces. CLONE_VM|CLONE_VFORK|CLONE_PIDFD|SIGCHLD are
    /// always added.
    unsigned long clone_flags;
    /// Write end of the log pipe; becomes fds 1 and 2 (CSANDBOX_STDIO).
    int log_fd;
    /// Namespaces made ahead (`csandbox_make_namespace`) for the child, or -1: network and
    /// IPC. The calling thread enters each just for the clone (so its CLONE_NEW* flag must not
    /// be in clone_flags) and returns to the daemon's own (`home_*_fd`) right after.
    int network_fd;
    int home_network_fd;
    int ipc_fd;
    int home_ipc_fd;
} csandbox_spawn_request;

/// The outcome of `csandbox_spawn`.
typedef struct csandbox_spawn_result {
    /// 0: the child reached execve; pid and pidfd are set and owned by the caller.
    /// 1: a setup step failed: failed_step and error are set; the child has been reaped.
    /// -1: the parent side failed (pipe, mmap, clone): error is set.
    int status;
    pid_t pid;
    int pidfd;
    int32_t failed_step;
    int32_t error;
} csandbox_spawn_result;

/// Clones the child, lets it replay the steps, and reports what happened. Thread-safe: the
/// calling thread is suspended until the child execs or exits (CLONE_VFORK); other threads run.
csandbox_spawn_result csandbox_spawn(const csandbox_spawn_request *request);

/// A new namespace of `kind` (CLONE_NEWNET or CLONE_NEWIPC) made on the calling thread, which
/// then returns to `home_fd` (its own namespace of that kind, opened before): unshare(kind),
/// for a network namespace SIOCSIFFLAGS IFF_UP|IFF_LOOPBACK|IFF_RUNNING on lo, open
/// /proc/thread-self/ns/{net,ipc}, setns(home_fd). Returns the namespace's fd (close-on-exec)
/// or -errno. Needs CAP_SYS_ADMIN.
int csandbox_make_namespace(unsigned long kind, int home_fd);

/// Kills every process running as `uid` (kill(-1, SIGKILL) as that uid), the way
/// guix-daemon's killUser does, from a vfork-style child. Returns 0 or an errno.
int csandbox_kill_user(uid_t uid);

// Syscalls Swift's Glibc module does not expose (built without _GNU_SOURCE).
int csandbox_pidfd_send_signal(int pidfd, int sig);
int csandbox_pidfd_open(pid_t pid);
/// waitid(P_PIDFD, pidfd, WEXITED | options); fills status (wait-style encoding) or returns -1.
int csandbox_pidfd_wait(int pidfd, int options, int *wstatus);
int csandbox_pipe2(int fds[2], int flags);
int csandbox_close_range(unsigned int first, unsigned int last, unsigned int flags);
int csandbox_unshare(unsigned long flags);
/// prctl(PR_SET_PDEATHSIG, sig): `sig` (0: none) when the thread that started us exits.
int csandbox_set_parent_death_signal(int sig);

// Constants for Swift.
static const unsigned long CSANDBOX_CLONE_NEWNS = 0x00020000;
static const unsigned long CSANDBOX_CLONE_NEWUTS = 0x04000000;
static const unsigned long CSANDBOX_CLONE_NEWIPC = 0x08000000;
static const unsigned long CSANDBOX_CLONE_NEWUSER = 0x10000000;
static const unsigned long CSANDBOX_CLONE_NEWPID = 0x20000000;
static const unsigned long CSANDBOX_CLONE_NEWNET = 0x40000000;
static const int CSANDBOX_O_CLOEXEC = 02000000;
static const int CSANDBOX_O_NONBLOCK = 04000;

#endif
