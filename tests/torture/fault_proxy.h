/*
 * fault_proxy.h — a TCP proxy on 127.0.0.1 between the rep client and
 * fieldsyncd that injects network faults. TLS passes through it opaquely. Per
 * accepted connection it may: drop it before forwarding anything, cut the
 * request stream (client -> daemon) or the response stream (daemon -> client)
 * after a random number of bytes, delay chunks, and, once the client closes,
 * replay the client's recorded bytes on a fresh upstream connection (a replayed
 * TLS record stream must fail the handshake and change nothing).
 *
 * It runs in its own threads inside the test process (one acceptor, one thread
 * per connection); every wait in it is bounded. The upstream port can change
 * while it runs (the daemon restarted after SIGKILL).
 */
#ifndef FSY_FAULT_PROXY_H
#define FSY_FAULT_PROXY_H

#include <stdbool.h>
#include <stdint.h>

typedef struct fault_proxy fault_proxy;

typedef struct fault_stats {
    long connections;   /* accepted */
    long dropped;       /* closed at once */
    long cut_requests;  /* client -> daemon stream cut */
    long cut_responses; /* daemon -> client stream cut */
    long delayed;       /* connections whose chunks were delayed */
    long raw_replays;   /* client bytes replayed on a new upstream connection */
} fault_stats;

/* Start listening on 127.0.0.1:0 towards 127.0.0.1:upstream_port. Returns NULL on failure. */
fault_proxy *fault_proxy_start(int upstream_port, uint64_t seed);
int fault_proxy_port(const fault_proxy *p);
void fault_proxy_set_upstream(fault_proxy *p, int upstream_port);
/* Percent of new connections that get a fault (0 = pass everything through). */
void fault_proxy_set_rate(fault_proxy *p, int percent);
void fault_proxy_stats(fault_proxy *p, fault_stats *out);
/* Stop accepting, wait (bounded) for the connection threads, free. NULL is fine. */
void fault_proxy_stop(fault_proxy *p);

#endif
