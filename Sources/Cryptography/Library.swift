internal import COpenSSL

/// Process-wide OpenSSL set-up.
public enum CryptographyLibrary {
    /// Initializes libcrypto without its exit handler. Must run before curl_global_init: otherwise OpenSSL's
    /// atexit cleanup races libcurl's (swift-corelibs-foundation PR #5474).
    public static func initialize() {
        _ = OPENSSL_init_crypto(UInt64(OPENSSL_INIT_NO_ATEXIT), nil)
    }
}
