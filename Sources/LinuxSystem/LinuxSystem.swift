/// The one Swift module that makes system calls: file descriptors, safe tree walks through
/// directory fds, locks, mounts, namespaces, peer credentials, signals.
