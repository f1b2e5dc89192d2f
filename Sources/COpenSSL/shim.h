#ifndef AUTHGATE_COPENSSL_SHIM_H
#define AUTHGATE_COPENSSL_SHIM_H

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/opensslv.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>

/// The version string of the libcrypto actually loaded (not the headers').
static inline const char *copenssl_version_text(void) {
    return OpenSSL_version(OPENSSL_VERSION);
}

/// Builds an RSA public key from big-endian modulus and exponent bytes. In C because
/// OSSL_PARAM_BLD_push_BN keeps the name pointer: the OSSL_PKEY_PARAM_* literals must outlive the builder.
/// Returns NULL on failure (the error queue says why).
static inline EVP_PKEY *copenssl_rsa_public_key(const unsigned char *modulus, size_t modulus_length,
                                                 const unsigned char *exponent, size_t exponent_length) {
    EVP_PKEY *key = NULL;
    BIGNUM *n = BN_bin2bn(modulus, (int)modulus_length, NULL);
    BIGNUM *e = BN_bin2bn(exponent, (int)exponent_length, NULL);
    OSSL_PARAM_BLD *builder = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *context = NULL;
    if (n == NULL || e == NULL || builder == NULL) goto done;
    if (!OSSL_PARAM_BLD_push_BN(builder, OSSL_PKEY_PARAM_RSA_N, n)) goto done;
    if (!OSSL_PARAM_BLD_push_BN(builder, OSSL_PKEY_PARAM_RSA_E, e)) goto done;
    params = OSSL_PARAM_BLD_to_param(builder);
    if (params == NULL) goto done;
    context = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (context == NULL || EVP_PKEY_fromdata_init(context) <= 0) goto done;
    if (EVP_PKEY_fromdata(context, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0) key = NULL;
done:
    EVP_PKEY_CTX_free(context);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(builder);
    BN_free(n);
    BN_free(e);
    return key;
}

/// SHA-256 fetched from the default provider once: OpenSSL 3 looks an algorithm up again on every call
/// that names it with EVP_sha256(), which showed in the request path's profile.
static inline EVP_MD *copenssl_fetch_sha256(void) {
    return EVP_MD_fetch(NULL, "SHA2-256", NULL);
}

/// SHA-256 through the low-level interface, whose context lives on the stack: EVP_Digest allocates and
/// frees a digest context (and the provider's own) on every call, and this runs on every request, for the
/// token cache's key and before every RSA verify. OpenSSL 3 marks these functions deprecated but keeps
/// them, and they reach the same assembly.
static inline int copenssl_sha256(const unsigned char *data, size_t length, unsigned char *digest) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    SHA256_CTX context;
    int ok = SHA256_Init(&context) == 1 && SHA256_Update(&context, data, length) == 1
        && SHA256_Final(digest, &context) == 1;
#pragma GCC diagnostic pop
    return ok;
}

/// A verify context prepared once per key for RS256 (RSASSA-PKCS1-v1_5, SHA-256 DigestInfo). Each verify
/// duplicates it rather than initializing a new one, which skips the per-call algorithm fetches
/// (36 µs down to 27 µs per verify on this machine). NULL on failure.
static inline EVP_PKEY_CTX *copenssl_rs256_verifier(EVP_PKEY *key, EVP_MD *sha256) {
    EVP_PKEY_CTX *context = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    if (context == NULL) return NULL;
    if (EVP_PKEY_verify_init(context) != 1 || EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_PADDING) != 1
        || EVP_PKEY_CTX_set_signature_md(context, sha256) != 1) {
        EVP_PKEY_CTX_free(context);
        return NULL;
    }
    return context;
}

/// The signature of `message` checked with `context`, a duplicate of a copenssl_rs256_verifier context,
/// which this call consumes (frees). Returns 1 when the signature verifies, 0 otherwise.
static inline int copenssl_verify_rs256(EVP_PKEY_CTX *context, const unsigned char *message,
                                        size_t message_length, const unsigned char *signature, size_t signature_length) {
    unsigned char digest[32];
    int verified = 0;
    if (context != NULL && copenssl_sha256(message, message_length, digest)) {
        verified = EVP_PKEY_verify(context, signature, signature_length, digest, sizeof digest) == 1;
    }
    EVP_PKEY_CTX_free(context);
    /* A failed verification leaves entries on this thread's error queue; they are not errors of ours. */
    ERR_clear_error();
    return verified;
}


static inline int copenssl_hmac_sha256(const unsigned char *key, size_t key_length, const unsigned char *data,
                                       size_t length, unsigned char *digest) {
    unsigned int digest_length = 0;
    /* HMAC() reads the key through a pointer even when the length is 0: give it a valid one. */
    static const unsigned char empty = 0;
    return HMAC(EVP_sha256(), key_length ? key : &empty, (int)key_length, length ? data : &empty, length, digest,
                &digest_length) != NULL && digest_length == 32;
}

/// EVP_RSA_gen is a macro over a variadic function.
static inline EVP_PKEY *copenssl_rsa_generate(unsigned int bits) {
    return EVP_RSA_gen(bits);
}

/// RS256 signature into `signature` (capacity `*signature_length`); returns 1 on success.
static inline int copenssl_sign_rs256(EVP_PKEY *key, const unsigned char *message, size_t message_length,
                                      unsigned char *signature, size_t *signature_length) {
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    int ok = 0;
    if (context == NULL) return 0;
    if (EVP_DigestSignInit(context, NULL, EVP_sha256(), NULL, key) == 1 &&
        EVP_DigestSign(context, signature, signature_length, message, message_length) == 1) {
        ok = 1;
    }
    EVP_MD_CTX_free(context);
    return ok;
}

/// Writes the big-endian bytes of an RSA key component ("n" or "e") into `out` (capacity `capacity`);
/// returns the length, or -1.
static inline int copenssl_rsa_component(EVP_PKEY *key, int exponent, unsigned char *out, int capacity) {
    BIGNUM *value = NULL;
    if (!EVP_PKEY_get_bn_param(key, exponent ? OSSL_PKEY_PARAM_RSA_E : OSSL_PKEY_PARAM_RSA_N, &value)) return -1;
    int length = BN_num_bytes(value);
    if (length > capacity) { BN_free(value); return -1; }
    BN_bn2bin(value, out);
    BN_free(value);
    return length;
}

/// A TLS client context: peer verification on, TLS 1.2 at least, the system's CAs or `ca_file`.
static inline SSL_CTX *copenssl_tls_client_context(const char *ca_file) {
    SSL_CTX *context = SSL_CTX_new(TLS_client_method());
    if (context == NULL) return NULL;
    SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
    SSL_CTX_set_verify(context, SSL_VERIFY_PEER, NULL);
    int loaded = (ca_file != NULL && ca_file[0] != 0)
        ? SSL_CTX_load_verify_locations(context, ca_file, NULL)
        : SSL_CTX_set_default_verify_paths(context);
    if (loaded != 1) { SSL_CTX_free(context); return NULL; }
    /* Writes are retried from a buffer that may have moved, and may complete in parts. */
    SSL_CTX_set_mode(context, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return context;
}

/// ALPN on the listeners: http/1.1 when the client offers it; a client offering only other protocols
/// (h2 alone, say) gets the no_application_protocol alert rather than a protocol it did not ask for.
static inline int copenssl_alpn_select_http11(SSL *session, const unsigned char **out, unsigned char *out_length,
                                              const unsigned char *in, unsigned int in_length, void *argument) {
    (void)session; (void)argument;
    static const unsigned char http11[] = "\x08http/1.1";
    unsigned char *selected = NULL;
    if (SSL_select_next_proto(&selected, out_length, http11, sizeof http11 - 1, in, in_length) == OPENSSL_NPN_NEGOTIATED) {
        *out = selected;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/// A server context for the listeners: TLS 1.2 at least, no renegotiation, no compression, the certificate
/// chain and key from PEM files (checked to match), ALPN http/1.1. NULL with the error queue set on failure.
static inline SSL_CTX *copenssl_tls_server_context(const char *cert_file, const char *key_file) {
    SSL_CTX *context = SSL_CTX_new(TLS_server_method());
    if (context == NULL) return NULL;
    SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
    SSL_CTX_set_options(context, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(context, cert_file) != 1
        || SSL_CTX_use_PrivateKey_file(context, key_file, SSL_FILETYPE_PEM) != 1
        || SSL_CTX_check_private_key(context) != 1) {
        SSL_CTX_free(context);
        return NULL;
    }
    SSL_CTX_set_alpn_select_cb(context, copenssl_alpn_select_http11, NULL);
    SSL_CTX_set_mode(context, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return context;
}

/// A server session on an accepted `fd`.
static inline SSL *copenssl_tls_server_session(SSL_CTX *context, int fd) {
    SSL *session = SSL_new(context);
    if (session == NULL) return NULL;
    if (SSL_set_fd(session, fd) != 1) { SSL_free(session); return NULL; }
    SSL_set_accept_state(session);
    return session;
}

/// A client session on `fd` for `host`: SNI (unless an IP literal) and certificate name checks.
static inline SSL *copenssl_tls_client_session(SSL_CTX *context, int fd, const char *host, int host_is_ip) {
    SSL *session = SSL_new(context);
    if (session == NULL) return NULL;
    if (SSL_set_fd(session, fd) != 1) { SSL_free(session); return NULL; }
    if (!host_is_ip && SSL_set_tlsext_host_name(session, host) != 1) { SSL_free(session); return NULL; }
    if (SSL_set1_host(session, host) != 1) { SSL_free(session); return NULL; }
    SSL_set_connect_state(session);
    return session;
}

#endif
