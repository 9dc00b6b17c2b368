#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "cfilelock.h"

int cloister_f_ofd_getlk(void) { return F_OFD_GETLK; }
int cloister_f_ofd_setlk(void) { return F_OFD_SETLK; }
int cloister_f_ofd_setlkw(void) { return F_OFD_SETLKW; }

int cloister_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags) {
    return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}
unsigned int cloister_rename_noreplace(void) { return 1u; /* RENAME_NOREPLACE */ }
unsigned int cloister_rename_exchange(void) { return 2u; /* RENAME_EXCHANGE */ }
