/*
 * agent.h — the background sync agent (`fieldsync agent`) and the helpers the
 * CLI uses to find and nudge it. See the state diagram at the top of agent.c.
 */
#ifndef FSY_AGENT_H
#define FSY_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fsy_agent_opts {
    int interval_s;     /* periodic sync when nothing happens */
    int debounce_ms;    /* quiet time after a local write before syncing */
    int backoff_min_ms; /* first retry delay while offline */
    int backoff_max_ms; /* cap on the retry delay */
    bool once;          /* one round, then exit (tests) */
} fsy_agent_opts;

#define FSY_AGENT_OPTS_INIT                                                                        \
    {                                                                                              \
        300, 2000, 1000, 300000, false                                                             \
    }

/* Runs until SIGTERM/SIGINT. Returns 0 after a clean stop, 3 after a revoke-and-wipe,
 * 1 on a local error or when another agent holds the replica. */
int fsy_agent_run(const char *replica_path, const fsy_agent_opts *o);

/* The pid of the agent syncing this replica, or 0. */
long fsy_agent_running(const char *replica_path);

/* Tell a running agent that the rep just wrote something (SIGUSR1). */
void fsy_agent_notify_write(const char *replica_path);

int fsy_agent_lock_path(const char *replica_path, char *out, size_t n);

#endif
