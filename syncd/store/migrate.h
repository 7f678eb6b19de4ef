/*
 * migrate.h — `fieldsyncd migrate-store DIR CONNINFO`: move a data directory's
 * SQLite store into an empty PostgreSQL database and switch the directory's
 * config to it (migrate.c; docs/operations.md). Called by main.c only.
 */
#ifndef FSY_STORE_MIGRATE_H
#define FSY_STORE_MIGRATE_H

#include <stdio.h>

/*
 * Copy DIR/store.db (one read snapshot) into the empty database at conninfo in one
 * PostgreSQL transaction, verify it, then rewrite DIR/fieldsyncd.conf to use it;
 * store.db stays as the backup. Refuses while another process has the store open
 * (a running daemon) and when the target holds any data. Progress and the summary
 * go to out, errors to stderr. Returns the process exit code: 0 done, 1 refused or
 * failed (nothing changed on either side).
 */
int fsy_migrate_store(const char *dir, const char *conninfo, FILE *out);

#endif
