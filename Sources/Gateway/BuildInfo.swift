import Cryptography
import HTTPClient

/// The version of authgate and of the C libraries it runs with, for `--version` and the startup line. The
/// libraries' own targets read their versions: no C module is imported above them.
package enum BuildInfo {
    package static let version = "0.1.0"

    package static var summary: String {
        "authgate \(version) (\(CryptographyLibrary.version), libcurl \(CurlLibrary.version))\(testHooksMark)"
    }

    /// Said by `--version` of a build that carries the test hooks (debug builds); empty in a release build.
    #if AUTHGATE_TEST_HOOKS
        package static let testHooksMark = " [test hooks: SIGUSR2 stalls an event loop]"
    #else
        package static let testHooksMark = ""
    #endif
}
