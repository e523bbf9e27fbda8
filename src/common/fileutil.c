#include "common/fileutil.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>

#include "common/error.h"

gboolean drv_file_write_atomic(const char *path, const char *data, gsize len,
                               GError **error)
{
    return g_file_set_contents_full(path, data, (gssize)len,
                                    G_FILE_SET_CONTENTS_CONSISTENT |
                                        G_FILE_SET_CONTENTS_DURABLE,
                                    0600, error);
}

gboolean drv_mkdir_p(const char *path, int mode, GError **error)
{
    if (g_mkdir_with_parents(path, mode) < 0) {
        int saved = errno;

        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
                    "cannot create directory %s: %s", path, g_strerror(saved));
        return FALSE;
    }
    return TRUE;
}

char *drv_path_join_within(const char *base, const char *relative,
                           GError **error)
{
    g_auto(GStrv) parts = NULL;
    int depth = 0;

    if (relative == NULL || *relative == '\0') {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID, "empty path");
        return NULL;
    }
    if (g_path_is_absolute(relative)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "path '%s' must be relative to its storage domain",
                    relative);
        return NULL;
    }
    parts = g_strsplit(relative, "/", -1);
    for (guint i = 0; parts[i] != NULL; i++) {
        if (g_str_equal(parts[i], "..")) {
            depth--;
        } else if (g_str_equal(parts[i], ".") || *parts[i] == '\0') {
            continue;
        } else {
            depth++;
        }
        if (depth < 0) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                        "path '%s' escapes its storage domain", relative);
            return NULL;
        }
    }
    if (depth == 0) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_INVALID,
                    "path '%s' names the storage domain itself, not a file",
                    relative);
        return NULL;
    }
    return g_canonicalize_filename(relative, base);
}

char *drv_random_hex(guint bytes)
{
    GString *out = g_string_sized_new(bytes * 2);

    for (guint i = 0; i < bytes; i++) {
        g_string_append_printf(out, "%02x", g_random_int_range(0, 256));
    }
    return g_string_free(out, FALSE);
}
