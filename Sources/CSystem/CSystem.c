#define _GNU_SOURCE
#include <sys/socket.h>

int csystem_accept4(int fd, struct sockaddr *address, socklen_t *length) {
    return accept4(fd, address, length, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

#include <string.h>
#include <sys/random.h>
#include "CSystem.h"

/// getrandom per request id showed in profiles as a syscall per request: each thread keeps 4 KiB of
/// kernel randomness and hands it out once, refilling when it runs out.
int csystem_random_fill(void *out, size_t count) {
    static __thread unsigned char pool[4096];
    static __thread size_t available = 0;
    unsigned char *target = out;
    while (count > 0) {
        if (available == 0) {
            ssize_t got = getrandom(pool, sizeof pool, 0);
            if (got != (ssize_t)sizeof pool) return -1;
            available = sizeof pool;
        }
        size_t take = count < available ? count : available;
        memcpy(target, pool + sizeof pool - available, take);
        memset(pool + sizeof pool - available, 0, take);
        available -= take;
        target += take;
        count -= take;
    }
    return 0;
}
