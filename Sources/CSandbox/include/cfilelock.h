// Constants Glibc's Swift module does not import because they sit behind _GNU_SOURCE:
// open-file-description locks (fcntl F_OFD_*) and renameat2 flags. LinuxSystem/FileLock.swift
// and LinuxSystem/Links.swift use them.
#ifndef CLOISTER_CFILELOCK_H
#define CLOISTER_CFILELOCK_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>

static inline int cloister_f_ofd_getlk(void) { return F_OFD_GETLK; }
static inline int cloister_f_ofd_setlk(void) { return F_OFD_SETLK; }
static inline int cloister_f_ofd_setlkw(void) { return F_OFD_SETLKW; }

/// renameat2(2) with RENAME_NOREPLACE / RENAME_EXCHANGE, through syscall(2) so older glibc works.
static inline int cloister_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags) {
    return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}
static inline unsigned int cloister_rename_noreplace(void) { return 1u; /* RENAME_NOREPLACE */ }
static inline unsigned int cloister_rename_exchange(void) { return 2u; /* RENAME_EXCHANGE */ }
#endif
