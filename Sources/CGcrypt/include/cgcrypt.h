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

// Signatures (signature.c). Every function returns 0 on success, CG_BAD_SIGNATURE when a
// well-formed signature does not verify, or another libgcrypt error code (see cg_strerror)
// when an input is malformed; callers never see a libgcrypt handle.

/// gcry_err_code_t of a signature that is well formed but wrong (GPG_ERR_BAD_SIGNATURE).
enum { CG_BAD_SIGNATURE = 8 };

/// A short English description of an error code returned below.
const char *cg_strerror(int code);

/// Ed25519 (RFC 8032, pure EdDSA): the 32-byte public key of a 32-byte secret seed.
int cg_ed25519_public_from_seed(const uint8_t *seed32, uint8_t *public32);
/// Ed25519: the 64-byte signature (R || S) of `message` under the key derived from `seed32`.
int cg_ed25519_sign(const uint8_t *seed32, const void *message, size_t length, uint8_t *signature64);
/// Ed25519: 0 when `signature64` signs `message` under `public32`.
int cg_ed25519_verify(const uint8_t *public32, const void *message, size_t length, const uint8_t *signature64);

/// gcry_pk_verify over three s-expressions (canonical or advanced form, each `length` bytes):
/// `(sig-val …)`, `(data …)` and `(public-key …)`. This is how Guix checks its narinfo and
/// archive signatures; the curve and scheme come from the key and the data's flags.
int cg_sexp_verify(const void *signature, size_t signature_length,
                   const void *data, size_t data_length,
                   const void *key, size_t key_length);

// Guix archive keys and signatures. Inputs are s-expressions in any form libgcrypt reads;
// outputs are malloc'd (release with cg_free) and not NUL-terminated.

/// Releases a buffer returned below.
void cg_free(void *buffer);
/// The s-expression in libgcrypt's advanced (readable) form, exactly as gcry_sexp_sprint
/// prints it: what Guix writes for keys, signatures and the ACL (canonical-sexp->string).
int cg_sexp_render_advanced(const void *sexp, size_t length, uint8_t **out, size_t *out_length);
/// gcry_pk_sign of `(data …)` with `(private-key …)`: the `(sig-val …)` in canonical form.
int cg_sexp_sign(const void *data, size_t data_length, const void *key, size_t key_length,
                 uint8_t **out, size_t *out_length);
/// gcry_pk_genkey with `(genkey …)` parameters: the `(key-data …)` pair in canonical form.
int cg_sexp_genkey(const void *parameters, size_t length, uint8_t **out, size_t *out_length);

#endif
