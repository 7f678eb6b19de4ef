/*
 * fuzz_replica.h — a real replica file in a known state for the core harnesses:
 * enrolled as alice's device, confirmed rows of every table (pulled from the
 * "server"), pending local edits of which some were exported (frozen) and one was
 * not. Built once as a template file; every input starts from that state.
 */
#ifndef FSY_FUZZ_REPLICA_H
#define FSY_FUZZ_REPLICA_H

#include "fieldsync.h"

#define FSY_FUZZ_DEVICE   "0192f3a0-0000-7000-8000-00000000000a"
#define FSY_FUZZ_CUSTOMER "0192f3a1-0000-7000-8000-000000000c01"
#define FSY_FUZZ_CONTACT  "0192f3a1-0000-7000-8000-000000000c02"
#define FSY_FUZZ_VISIT    "0192f3a1-0000-7000-8000-000000000c03"
#define FSY_FUZZ_NOTE     "0192f3a1-0000-7000-8000-000000000c04"
#define FSY_FUZZ_REVIEW   "0192f3a1-0000-7000-8000-000000000c05"

/* A fresh copy of the template replica, open. Aborts on failure. */
fsy_replica *fsy_fuzz_replica_fresh(void);

/*
 * The shared replica, put back into the template state: its file's pages are
 * restored from an in-memory snapshot (SQLite backup API) and the handle's cached
 * state (clock, next client_seq, frozen mark, identity) re-read, which is what a
 * reopen would do, at a fraction of the cost. The caller must not free it.
 */
fsy_replica *fsy_fuzz_replica_reset(void);

/* fsy_replica_export() of r, for comparisons; malloc'd, never NULL (aborts). */
char *fsy_fuzz_replica_dump(fsy_replica *r);

/* fsy_fuzz_replica_dump() of the template state, made once; free() the copy. */
char *fsy_fuzz_replica_template_dump(void);

#endif
