// The system zlib and libbzip2, for build logs compressed as guix-daemon writes them
// (`--log-compression=gzip|bzip2`, guix-daemon.md §4.5).
#include <zlib.h>
#include <bzlib.h>

// deflateInit2 is a macro; Swift cannot call it directly.
static inline int czlib_deflate_init_gzip(z_streamp stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}
