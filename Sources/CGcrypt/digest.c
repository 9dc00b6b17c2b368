#include "cgcrypt.h"
#include <gcrypt.h>
#include <pthread.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_status = -1;

static void do_init(void) {
    if (!gcry_check_version(GCRYPT_VERSION)) return;
    // No secure memory: the daemon holds no long-lived secrets in this process.
    gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
    gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
    init_status = 0;
}

int cg_init(void) {
    pthread_once(&once, do_init);
    return init_status;
}

void *cg_md_open(int algo) {
    if (cg_init() != 0) return NULL;
    gcry_md_hd_t h = NULL;
    if (gcry_md_open(&h, algo, 0) != 0) return NULL;
    return h;
}

void cg_md_write(void *handle, const void *bytes, size_t length) {
    gcry_md_write((gcry_md_hd_t)handle, bytes, length);
}

void cg_md_final(void *handle, uint8_t *out, size_t length) {
    gcry_md_hd_t h = (gcry_md_hd_t)handle;
    unsigned char *d = gcry_md_read(h, 0);
    for (size_t i = 0; i < length; i++) out[i] = d[i];
}

void *cg_md_copy(void *handle) {
    gcry_md_hd_t copy = NULL;
    if (gcry_md_copy(&copy, (gcry_md_hd_t)handle) != 0) return NULL;
    return copy;
}

void cg_md_close(void *handle) { gcry_md_close((gcry_md_hd_t)handle); }

void cg_md_hash(int algo, const void *bytes, size_t length, uint8_t *out) {
    cg_init();
    gcry_md_hash_buffer(algo, out, bytes, length);
}
