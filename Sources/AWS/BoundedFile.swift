#if canImport(Glibc)
    import Glibc
#endif

/// Files the credential chain reads (the shared files, the web identity token, the container authorization
/// token): read whole but never past `limit` bytes, and only when they are regular files, since any of them may be
/// something else than expected (a FIFO would block the control-plane queue in `open`, `/dev/zero` never end).
enum BoundedFile {
    /// The file's bytes; nil when there is no file at `path`; an error when it cannot be read, is not a regular
    /// file or is too large.
    static func read(_ path: String, limit: Int) -> Result<[UInt8]?, CredentialError> {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR { return .success(nil) }
            return .failure(CredentialError("\(path) cannot be read: \(String(cString: strerror(code)))"))
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            return .failure(CredentialError("\(path) is not a regular file"))
        }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(CredentialError("\(path) cannot be read: \(String(cString: strerror(errno)))"))
            }
            if count == 0 { return .success(contents) }
            contents += chunk[..<count]
            guard contents.count <= limit else {
                return .failure(CredentialError("\(path) is larger than \(limit) bytes"))
            }
        }
    }
}
