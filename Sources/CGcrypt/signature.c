// Signatures over libgcrypt: Nix's Ed25519 (RFC 8032 pure EdDSA, as libsodium's
// crypto_sign_detached) and Guix's s-expression signatures (gcry_pk_verify, formats.md §5.4).
// Kept in C because gcry_sexp_build is variadic. Every libgcrypt object is released before a
// call returns; secure memory is off (cg_init), so a seed passes through ordinary heap memory.
#include "cgcrypt.h"
#include <gcrypt.h>
#include <stdlib.h>
#include <string.h>

const char *cg_strerror(int code) { return gcry_strerror((gcry_error_t)code); }

static int code_of(gcry_error_t err) { return (int)gcry_err_code(err); }

// Copies a byte-string element (index 1) of `(name value)` out of `sexp`, right-aligned into
// `out` of `size` bytes: libgcrypt drops leading zero bytes of numbers.
static int copy_token(gcry_sexp_t sexp, const char *name, uint8_t *out, size_t size) {
    gcry_sexp_t token = gcry_sexp_find_token(sexp, name, 0);
    if (!token) return GPG_ERR_INV_SEXP;
    size_t length = 0;
    const char *data = gcry_sexp_nth_data(token, 1, &length);
    int status = 0;
    if (!data || length > size) {
        status = GPG_ERR_INV_SEXP;
    } else {
        memset(out, 0, size - length);
        memcpy(out + size - length, data, length);
    }
    gcry_sexp_release(token);
    return status;
}

int cg_ed25519_public_from_seed(const uint8_t *seed32, uint8_t *public32) {
    if (cg_init() != 0) return GPG_ERR_NOT_INITIALIZED;
    gcry_sexp_t key = NULL;
    gcry_error_t err = gcry_sexp_build(&key, NULL, "(private-key (ecc (curve Ed25519) (flags eddsa) (d %b)))",
                                       32, (const char *)seed32);
    if (err) return code_of(err);
    gcry_ctx_t ctx = NULL;
    err = gcry_mpi_ec_new(&ctx, key, NULL);
    gcry_sexp_release(key);
    if (err) return code_of(err);
    // "q@eddsa" makes libgcrypt derive the public point from d (SHA-512 of the seed, clamped)
    // and return its 32-byte RFC 8032 encoding as an opaque MPI.
    gcry_mpi_t q = gcry_mpi_ec_get_mpi("q@eddsa", ctx, 1);
    gcry_ctx_release(ctx);
    if (!q) return GPG_ERR_BAD_SECKEY;
    unsigned int bits = 0;
    const void *bytes = gcry_mpi_get_opaque(q, &bits);
    int status = 0;
    if (!bytes || bits != 256) status = GPG_ERR_BAD_SECKEY;
    else memcpy(public32, bytes, 32);
    gcry_mpi_release(q);
    return status;
}

int cg_ed25519_sign(const uint8_t *seed32, const void *message, size_t length, uint8_t *signature64) {
    uint8_t public32[32];
    int status = cg_ed25519_public_from_seed(seed32, public32);
    if (status) return status;
    gcry_sexp_t key = NULL, data = NULL, signature = NULL;
    gcry_error_t err = gcry_sexp_build(&key, NULL, "(private-key (ecc (curve Ed25519) (flags eddsa) (q %b) (d %b)))",
                                       32, (const char *)public32, 32, (const char *)seed32);
    if (!err)
        err = gcry_sexp_build(&data, NULL, "(data (flags eddsa) (hash-algo sha512) (value %b))",
                              (int)length, (const char *)message);
    if (!err) err = gcry_pk_sign(&signature, data, key);
    if (!err) {
        status = copy_token(signature, "r", signature64, 32);
        if (!status) status = copy_token(signature, "s", signature64 + 32, 32);
    } else {
        status = code_of(err);
    }
    gcry_sexp_release(signature);
    gcry_sexp_release(data);
    gcry_sexp_release(key);
    return status;
}

// The group order L = 2^252 + 27742317777372353535851937790883648493, little-endian.
static const uint8_t group_order[32] = {
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
};

// Whether the little-endian scalar is below L. libgcrypt reduces S and so accepts S + L, a
// second spelling of a valid signature; libsodium (what Nix verifies with) refuses it, so do we.
static int scalar_is_canonical(const uint8_t *s) {
    for (int i = 31; i >= 0; i--) {
        if (s[i] < group_order[i]) return 1;
        if (s[i] > group_order[i]) return 0;
    }
    return 0;  // equal to L
}

int cg_ed25519_verify(const uint8_t *public32, const void *message, size_t length, const uint8_t *signature64) {
    if (cg_init() != 0) return GPG_ERR_NOT_INITIALIZED;
    if (!scalar_is_canonical(signature64 + 32)) return CG_BAD_SIGNATURE;
    gcry_sexp_t key = NULL, data = NULL, signature = NULL;
    gcry_error_t err = gcry_sexp_build(&key, NULL, "(public-key (ecc (curve Ed25519) (flags eddsa) (q %b)))",
                                       32, (const char *)public32);
    if (!err)
        err = gcry_sexp_build(&data, NULL, "(data (flags eddsa) (hash-algo sha512) (value %b))",
                              (int)length, (const char *)message);
    if (!err)
        err = gcry_sexp_build(&signature, NULL, "(sig-val (eddsa (r %b) (s %b)))",
                              32, (const char *)signature64, 32, (const char *)signature64 + 32);
    if (!err) err = gcry_pk_verify(signature, data, key);
    gcry_sexp_release(signature);
    gcry_sexp_release(data);
    gcry_sexp_release(key);
    return code_of(err);
}

int cg_sexp_verify(const void *signature, size_t signature_length,
                   const void *data, size_t data_length,
                   const void *key, size_t key_length) {
    if (cg_init() != 0) return GPG_ERR_NOT_INITIALIZED;
    gcry_sexp_t s = NULL, d = NULL, k = NULL;
    // autodetect = 1: canonical, advanced or base64 transport form alike.
    gcry_error_t err = gcry_sexp_new(&s, signature, signature_length, 1);
    if (!err) err = gcry_sexp_new(&d, data, data_length, 1);
    if (!err) err = gcry_sexp_new(&k, key, key_length, 1);
    if (!err) err = gcry_pk_verify(s, d, k);
    gcry_sexp_release(s);
    gcry_sexp_release(d);
    gcry_sexp_release(k);
    return code_of(err);
}

// Guix archive signing (formats.md §5.4): everything crosses the boundary in canonical form and
// comes back in a malloc'd buffer the caller releases with cg_free.

void cg_free(void *buffer) { free(buffer); }

// Copies `sexp` out in the given gcry_sexp_sprint mode (canonical or advanced).
static int print_sexp(gcry_sexp_t sexp, int mode, uint8_t **out, size_t *out_length) {
    size_t needed = gcry_sexp_sprint(sexp, mode, NULL, 0);  // includes a terminating NUL
    if (needed == 0) return GPG_ERR_INV_SEXP;
    uint8_t *buffer = malloc(needed);
    if (!buffer) return GPG_ERR_ENOMEM;
    size_t written = gcry_sexp_sprint(sexp, mode, buffer, needed);
    if (written == 0) {
        free(buffer);
        return GPG_ERR_INV_SEXP;
    }
    *out = buffer;
    *out_length = written;
    return 0;
}

int cg_sexp_render_advanced(const void *sexp, size_t length, uint8_t **out, size_t *out_length) {
    if (cg_init() != 0) return GPG_ERR_NOT_INITIALIZED;
    gcry_sexp_t s = NULL;
    gcry_error_t err = gcry_sexp_new(&s, sexp, length, 1);
    if (err) return code_of(err);
    int status = print_sexp(s, GCRYSEXP_FMT_ADVANCED, out, out_length);
    gcry_sexp_release(s);
    return status;
}

int cg_sexp_sign(const void *data, size_t data_length, const void *key, size_t key_length,
                 uint8_t **out, size_t *out_length) {
    if (cg_init() != 0) return GPG_ERR_NOT_INITIALIZED;
    gcry_sexp_t d = NULL, k = NULL, signature = NULL;
    gcry_error_t err = gcry_sexp_new(&d, data, data_length, 1);
    if (!err) err = gcry_sexp_new(&k, key, key_length, 1);
    if (!err) err = gcry_pk_sign(&signature, d, k);
    int status = err ? code_of(err) : print_sexp(signature, GCRYSEXP_FMT_CANON, out, out_length);
    gcry_sexp_release(signature);
    gcry_sexp_release(d);
    gcry_sexp_release(k);
    return status;
}

int cg_sexp_genkey(const void *parameters, size_t length, uint8_t **out, size_t *out_length) {
    if (cg_init() != 0) return GPG_ERR_NOT_INITIALIZED;
    gcry_sexp_t p = NULL, pair = NULL;
    gcry_error_t err = gcry_sexp_new(&p, parameters, length, 1);
    if (!err) err = gcry_pk_genkey(&pair, p);
    int status = err ? code_of(err) : print_sexp(pair, GCRYSEXP_FMT_CANON, out, out_length);
    gcry_sexp_release(pair);
    gcry_sexp_release(p);
    return status;
}
