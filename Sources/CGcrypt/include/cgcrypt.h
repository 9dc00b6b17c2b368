// A thin C face of libgcrypt for Swift: Swift cannot call its variadic functions
// (gcry_control, gcry_sexp_build), so initialisation and s-expression work live here.
#ifndef CLOISTER_CGCRYPT_H
#define CLOISTER_CGCRYPT_H

#include <stddef.h>
#include <stdint.h>

/// Initialises libgcrypt once (thread-safe; later calls are no-ops). Returns 0 on success.
int cg_init(void);

/// libgcrypt's algorithm numbers for the hashes the store uses (GCRY_MD_*).
enum {
    CG_MD5 = 1,
    CG_SHA1 = 2,
    CG_SHA256 = 8,
    CG_SHA512 = 10,
};

/// An incremental digest; NULL when the algorithm is unavailable.
void *cg_md_open(int algo);
void cg_md_write(void *handle, const void *bytes, size_t length);
/// Copies the digest (`length` bytes) out; the handle stays usable for nothing else but close.
void cg_md_final(void *handle, uint8_t *out, size_t length);
void *cg_md_copy(void *handle);
void cg_md_close(void *handle);
/// One-shot digest.
void cg_md_hash(int algo, const void *bytes, size_t length, uint8_t *out);

#endif
