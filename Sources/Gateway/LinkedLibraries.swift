internal import CCurl
internal import COpenSSL

/// The version of authgate and of the C libraries it runs with, for `--version` and the startup line.
public enum BuildInfo {
    public static let version = "0.1.0"

    /// The libcrypto/libssl loaded at run time, e.g. "OpenSSL 3.0.19 27 Jan 2026".
    public static var openSSL: String { String(cString: copenssl_version_text()) }

    /// The libcurl loaded at run time, e.g. "7.88.1".
    public static var curl: String { String(cString: ccurl_version_text()) }

    public static var summary: String { "authgate \(version) (\(openSSL), libcurl \(curl))" }
}
