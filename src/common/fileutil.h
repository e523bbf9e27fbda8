/* Small file and descriptor helpers the standard libraries lack. */
#pragma once

#include <glib.h>
#include <unistd.h>

G_BEGIN_DECLS

/*
 * GLib 2.74 has no g_autofd: declare descriptors as
 *     drv_autofd int fd = -1;
 * and they are closed when they go out of scope.
 */
static inline void drv_fd_cleanup(int *fd)
{
    if (fd != NULL && *fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}
#define drv_autofd __attribute__((cleanup(drv_fd_cleanup)))

/* Write @len bytes to @path: temporary file, fsync, rename. */
gboolean drv_file_write_atomic(const char *path, const char *data, gsize len,
                               GError **error);

/* mkdir -p with @mode for the directories it creates. */
gboolean drv_mkdir_p(const char *path, int mode, GError **error);

/*
 * Resolve @relative under @base lexically and check it stays inside:
 * absolute paths, ".." that climbs out and a path naming @base itself are
 * refused; empty and "." components are ignored.  Returns the joined path.
 * Symbolic links are not followed; a storage domain is administered, its
 * contents are not the tenant's.
 */
char *drv_path_join_within(const char *base, const char *relative,
                           GError **error);

/* Lowercase hex of 16 random bytes; used for ids that need no UUID form. */
char *drv_random_hex(guint bytes);

G_END_DECLS
