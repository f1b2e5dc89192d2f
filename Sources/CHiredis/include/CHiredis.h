#ifndef AUTHGATE_CHIREDIS_H
#define AUTHGATE_CHIREDIS_H

// hiredis's RESP reply reader only (Debian's libhiredis-dev 0.14.1, which has no TLS): authgate makes its own
// connections (Sources/Redis) and hands the bytes it reads to this parser.
#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#include <stddef.h>

/// A reader whose arrays hold at most `max_elements` elements: hiredis 0.14 would allocate whatever count a
/// reply announces (`*2000000000`) before a single element arrived. A larger count is a protocol error.
/// NULL when out of memory.
redisReader *chiredis_reader_create(int max_elements);

/// Frees a reader of `chiredis_reader_create`, its pending reply and its table.
void chiredis_reader_free(redisReader *reader);

/// Bytes fed to the reader and not yet parsed into a reply.
static inline size_t chiredis_reader_unparsed(const redisReader *reader) { return reader->len - reader->pos; }

/// The reader's error text (`errstr`), set once a feed or a read has failed.
static inline const char *chiredis_reader_error(const redisReader *reader) { return reader->errstr; }

/// The reply's i-th element (arrays only; the caller checks `index < elements`).
static inline const redisReply *chiredis_reply_element(const redisReply *reply, size_t index) {
    return reply->element[index];
}

#endif
