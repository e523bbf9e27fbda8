/* Conveniences newer GLib has and 2.74 (Debian 12) does not. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* g_strv_builder_take() arrived in GLib 2.80. */
static inline void drv_strv_builder_take(GStrvBuilder *builder, char *value)
{
    g_strv_builder_add(builder, value);
    g_free(value);
}

/* g_hash_table_get_values_as_ptr_array() arrived in GLib 2.76. */
static inline GPtrArray *drv_hash_table_values(GHashTable *table)
{
    GPtrArray *out = g_ptr_array_sized_new(g_hash_table_size(table));
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, table);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        g_ptr_array_add(out, value);
    }
    return out;
}

G_END_DECLS
