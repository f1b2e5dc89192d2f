#ifndef AUTHGATE_COPENSSL_SHIM_H
#define AUTHGATE_COPENSSL_SHIM_H

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/opensslv.h>

/// The version string of the libcrypto actually loaded (not the headers').
static inline const char *copenssl_version_text(void) {
    return OpenSSL_version(OPENSSL_VERSION);
}

#endif
