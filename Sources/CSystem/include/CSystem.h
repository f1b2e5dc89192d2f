#ifndef AUTHGATE_CSYSTEM_H
#define AUTHGATE_CSYSTEM_H


#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <stdint.h>

/// fcntl is variadic in C; Swift cannot call it directly.
static inline int csystem_set_nonblocking_cloexec(int fd) {
    int flags = fcntl(fd, F_GETFL, 0);
    if (flags < 0) return -1;
    if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return -1;
    int fdflags = fcntl(fd, F_GETFD, 0);
    if (fdflags < 0) return -1;
    return fcntl(fd, F_SETFD, fdflags | FD_CLOEXEC);
}

static inline int csystem_errno(void) { return errno; }

/// accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC. accept4 is a GNU extension: defined in CSystem.c, which
/// alone sees _GNU_SOURCE, so that this header reads the system headers as every other module does.
int csystem_accept4(int fd, struct sockaddr *address, socklen_t *length);

/// Kernel randomness (getrandom), buffered per thread; each byte is handed out once. 0, or -1 on failure.
int csystem_random_fill(void *out, size_t count);

/// epoll_event is packed on x86_64, which Swift cannot lay out: these take and give its two fields apart.
/// Every socket is registered once, edge-triggered, for reading, writing and the peer's hang-up.
static inline int csystem_epoll_add(int epoll_fd, int fd, uint64_t token) {
    struct epoll_event event;
    event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    event.data.u64 = token;
    return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event);
}

static inline int csystem_epoll_remove(int epoll_fd, int fd) {
    struct epoll_event unused;
    return epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, &unused);
}

enum { csystem_epoll_batch = 256 };

/// Ready events without waiting: up to `csystem_epoll_batch` tokens and their event masks. -1 on failure.
static inline int csystem_epoll_ready(int epoll_fd, uint64_t *tokens, uint32_t *events) {
    struct epoll_event ready[csystem_epoll_batch];
    int count;
    do {
        count = epoll_wait(epoll_fd, ready, csystem_epoll_batch, 0);
    } while (count < 0 && errno == EINTR);
    for (int i = 0; i < count; i++) {
        tokens[i] = ready[i].data.u64;
        events[i] = ready[i].events;
    }
    return count;
}

static const uint32_t csystem_epoll_in = EPOLLIN;
static const uint32_t csystem_epoll_out = EPOLLOUT;
static const uint32_t csystem_epoll_rdhup = EPOLLRDHUP;
static const uint32_t csystem_epoll_hup = EPOLLHUP;
static const uint32_t csystem_epoll_err = EPOLLERR;

#endif
