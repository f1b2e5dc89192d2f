internal import COpenSSL

/// Process-wide OpenSSL set-up.
package enum CryptographyLibrary {
    /// Initializes libcrypto without its exit handler. Must run before curl_global_init: otherwise OpenSSL's
    /// atexit cleanup races libcurl's (swift-corelibs-foundation PR #5474).
    package static func initialize() {
        _ = OPENSSL_init_crypto(UInt64(OPENSSL_INIT_NO_ATEXIT), nil)
    }

    /// The libcrypto/libssl loaded at run time, e.g. "OpenSSL 3.0.19 27 Jan 2026", for `--version`.
    package static var version: String { String(cString: copenssl_version_text()) }
}
