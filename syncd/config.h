/*
 * config.h — DIR/fieldsyncd.conf: "key = value" lines, '#' comments. Every
 * network and sync limit has a default and can be set here; unknown keys and
 * bad values are refused at start-up with the line number, never ignored.
 */
#ifndef FSY_SYNCD_CONFIG_H
#define FSY_SYNCD_CONFIG_H

#include "net.h"
#include "sync/sync.h"

typedef struct fsy_config {
    char dir[1024];
    char store_path[1100]; /* the SQLite store, DIR/store.db (also with PostgreSQL: the backup
                              migrate-store leaves behind) */
    bool is_postgres;      /* store = postgresql */
    char postgres[1024];   /* postgres = <libpq conninfo>; "" unless is_postgres */
    char bind_addr[64];
    fsy_net_opts net; /* bind_addr points into this struct */
    fsy_sync_limits sync;
    bool log_requests;
} fsy_config;

int fsy_config_load(fsy_config *c, const char *dir, char *err, size_t errlen);
int fsy_config_write_default(const char *dir, char *err, size_t errlen);
/* Set store = postgresql and postgres = conninfo in DIR/fieldsyncd.conf (the rest kept). */
int fsy_config_set_postgres(const char *dir, const char *conninfo, char *err, size_t errlen);

#endif
