internal import CCurl

/// The libcurl behind the control-plane client.
package enum CurlLibrary {
    /// The libcurl loaded at run time, e.g. "7.88.1", for `--version`.
    package static var version: String { String(cString: ccurl_version_text()) }
}
