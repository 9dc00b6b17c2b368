// Constants and calls Glibc's Swift module does not import because they sit behind _GNU_SOURCE:
// open-file-description locks (fcntl F_OFD_*) and renameat2 flags. LinuxSystem/FileLock.swift
// and LinuxSystem/Links.swift use them. The header includes no system header on purpose: a
// header compiled with _GNU_SOURCE would define libc's structs differently from Swift's Glibc
// module, and clang refuses the mismatch. The definitions live in filelock.c.
#ifndef CLOISTER_CFILELOCK_H
#define CLOISTER_CFILELOCK_H

int cloister_f_ofd_getlk(void);
int cloister_f_ofd_setlk(void);
int cloister_f_ofd_setlkw(void);

/// renameat2(2) with RENAME_NOREPLACE / RENAME_EXCHANGE, through syscall(2) so older glibc works.
int cloister_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);
unsigned int cloister_rename_noreplace(void);
unsigned int cloister_rename_exchange(void);
#endif
