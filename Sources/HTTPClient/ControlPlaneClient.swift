internal import CCurl
import Cryptography
package import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A request to the control plane (JWKS, Cognito, credential endpoints).
package struct ControlRequest: Sendable {
    package var method: String
    package var url: String
    package var headers: [(String, String)]
    package var body: [UInt8]?
    /// Whole-transfer timeout in milliseconds.
    package var timeoutMilliseconds: Int
    /// Answers larger than this are refused, not buffered.
    package var maxResponseBytes: Int

    package init(
        method: String = "GET",
        url: String,
        headers: [(String, String)] = [],
        body: [UInt8]? = nil,
        timeoutMilliseconds: Int = 10_000,
        maxResponseBytes: Int = 1 << 20
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeoutMilliseconds = timeoutMilliseconds
        self.maxResponseBytes = maxResponseBytes
    }
}

package struct ControlResponse: Sendable {
    package let status: Int
    package let headers: [(String, String)]
    package let body: [UInt8]

    package func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.last { $0.0.lowercased() == lower }?.1
    }
}

/// Why a control-plane transfer produced no answer.
package struct ControlError: Error, Sendable, CustomStringConvertible {
    /// A struct, not an enum, so that a new code breaks no caller's switch.
    package struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case timeout, responseTooLarge, transport, invalidRequest
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// No complete answer within the request's timeout.
        package static let timeout = Code(.timeout)
        /// The answer passed the request's `maxResponseBytes`.
        package static let responseTooLarge = Code(.responseTooLarge)
        /// Refused, reset, unresolvable, or a TLS failure: curl's message says which.
        package static let transport = Code(.transport)
        /// The request could not be handed to curl (a URL or header it refuses).
        package static let invalidRequest = Code(.invalidRequest)

        package var description: String { base.rawValue }
    }

    package let code: Code
    package let description: String
}

/// libcurl's multi-socket interface driven by one serial Dispatch queue: read/write sources per socket,
/// one timer, transfers completed from `curl_multi_info_read`. Everything curl does happens on `queue`.
package final class ControlPlaneClient: @unchecked Sendable {
    package let queue: DispatchQueue
    private let multi: UnsafeMutableRawPointer
    private var watches: [Int32: SocketWatch] = [:]
    private var timer: (any DispatchSourceTimer)?
    private var transfers: [UnsafeMutableRawPointer: Transfer] = [:]

    private static let globalInit: Void = {
        CryptographyLibrary.initialize()
        curl_global_init(Int(CURL_GLOBAL_ALL))
    }()

    package init(queue: DispatchQueue) {
        _ = Self.globalInit
        self.queue = queue
        guard let handle = curl_multi_init() else { preconditionFailure("curl_multi_init failed") }
        multi = handle
        let context = Unmanaged.passUnretained(self).toOpaque()
        _ = ccurl_multi_setopt_socket_callback(multi, controlSocketCallback, context)
        _ = ccurl_multi_setopt_timer_callback(multi, controlTimerCallback, context)
    }

    /// Starts a transfer; `completion` runs on `queue`. Callable from any thread.
    package func execute(
        _ request: ControlRequest,
        completion: @escaping @Sendable (Result<ControlResponse, ControlError>) -> Void
    ) {
        queue.async { [self] in
            start(request, completion: completion)
        }
    }

    private func start(
        _ request: ControlRequest, completion: @escaping @Sendable (Result<ControlResponse, ControlError>) -> Void
    ) {
        dispatchPrecondition(condition: .onQueue(queue))
        guard let easy = curl_easy_init() else {
            completion(.failure(ControlError(code: .transport, description: "curl_easy_init failed")))
            return
        }
        let transfer = Transfer(easy: easy, maxBytes: request.maxResponseBytes, completion: completion)
        let transferContext = Unmanaged.passUnretained(transfer).toOpaque()
        let clientContext = Unmanaged.passUnretained(self).toOpaque()
        var ok = ccurl_easy_setopt_string(easy, CURLOPT_URL, request.url) == CURLE_OK
        // Only http and https, no redirects: a JWKS or Cognito answer comes from where it was asked.
        ok = ok && ccurl_easy_setopt_string(easy, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK
        ok = ok && ccurl_easy_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 0) == CURLE_OK
        ok = ok && ccurl_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1) == CURLE_OK
        ok = ok && ccurl_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, request.timeoutMilliseconds) == CURLE_OK
        ok =
            ok
            && ccurl_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, min(request.timeoutMilliseconds, 5000))
                == CURLE_OK
        ok = ok && ccurl_easy_setopt_data_callback(easy, CURLOPT_WRITEFUNCTION, controlBodyCallback) == CURLE_OK
        ok = ok && ccurl_easy_setopt_pointer(easy, CURLOPT_WRITEDATA, transferContext) == CURLE_OK
        ok = ok && ccurl_easy_setopt_data_callback(easy, CURLOPT_HEADERFUNCTION, controlHeaderCallback) == CURLE_OK
        ok = ok && ccurl_easy_setopt_pointer(easy, CURLOPT_HEADERDATA, transferContext) == CURLE_OK
        ok = ok && ccurl_easy_setopt_pointer(easy, CURLOPT_PRIVATE, transferContext) == CURLE_OK
        ok = ok && ccurl_easy_setopt_close_socket_callback(easy, controlCloseSocketCallback) == CURLE_OK
        ok = ok && ccurl_easy_setopt_pointer(easy, CURLOPT_CLOSESOCKETDATA, clientContext) == CURLE_OK
        ok = ok && ccurl_easy_setopt_string(easy, CURLOPT_USERAGENT, "authgate/\(BuildVersion.text)") == CURLE_OK
        switch request.method {
        case "GET": break
        case "POST":
            let body = request.body ?? []
            // COPYPOSTFIELDS copies the bytes, so the buffer need not outlive this call.
            let bytes = body.map { CChar(bitPattern: $0) } + [0]
            ok =
                ok
                && bytes.withUnsafeBufferPointer {
                    ccurl_easy_setopt_postfields(easy, $0.baseAddress, body.count) == CURLE_OK
                }
        case "PUT":
            // Bodiless PUTs only (IMDSv2's token request): a custom method with no upload.
            ok = ok && ccurl_easy_setopt_string(easy, CURLOPT_CUSTOMREQUEST, "PUT") == CURLE_OK
        default:
            ok = false
        }
        var headerList: UnsafeMutablePointer<curl_slist>?
        for (name, value) in request.headers {
            // A header with CR or LF would let a value smuggle another header into the request.
            guard !name.contains(where: \.isNewline), !value.contains(where: \.isNewline) else {
                ok = false
                break
            }
            headerList = curl_slist_append(headerList, "\(name): \(value)")
        }
        // curl adds "Expect: 100-continue" to larger POSTs; the control plane never needs the extra round trip.
        headerList = curl_slist_append(headerList, "Expect:")
        transfer.headerList = headerList
        ok = ok && ccurl_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, headerList) == CURLE_OK
        guard ok else {
            transfer.release()
            completion(.failure(ControlError(code: .invalidRequest, description: "request could not be set up")))
            return
        }
        transfers[easy] = transfer
        curl_multi_add_handle(multi, easy)
    }

    // MARK: Callbacks from curl (always on `queue`)

    fileprivate func socketChanged(_ fd: Int32, what: Int32) {
        let watch: SocketWatch
        if let existing = watches[fd] {
            watch = existing
        } else {
            if what == CURL_POLL_REMOVE { return }
            watch = SocketWatch(fd: fd, client: self)
            watches[fd] = watch
        }
        switch what {
        case CURL_POLL_IN: watch.want(read: true, write: false)
        case CURL_POLL_OUT: watch.want(read: false, write: true)
        case CURL_POLL_INOUT: watch.want(read: true, write: true)
        default: watch.want(read: false, write: false)
        }
    }

    fileprivate func closeSocket(_ fd: Int32) {
        if let watch = watches.removeValue(forKey: fd) {
            // Dispatch's rule: the descriptor is closed only once its sources' cancel handlers have run.
            watch.cancelThenClose()
        } else {
            close(fd)
        }
    }

    fileprivate func timerChanged(_ milliseconds: Int) {
        timer?.cancel()
        timer = nil
        guard milliseconds >= 0 else { return }
        let source = DispatchSource.makeTimerSource(queue: queue)
        source.schedule(deadline: .now() + .milliseconds(milliseconds))
        source.setEventHandler { [weak self] in
            guard let self else { return }
            self.timer?.cancel()
            self.timer = nil
            self.act(socket: CURL_SOCKET_TIMEOUT, events: 0)
        }
        timer = source
        source.resume()
    }

    fileprivate func act(socket: Int32, events: Int32) {
        var running: Int32 = 0
        _ = curl_multi_socket_action(multi, socket, events, &running)
        collectFinished()
    }

    private func collectFinished() {
        var result = CURLE_OK
        while let easy = ccurl_multi_next_done(multi, &result) {
            guard let transfer = transfers.removeValue(forKey: easy) else { continue }
            curl_multi_remove_handle(multi, easy)
            let status = Int(ccurl_easy_response_code(easy))
            let outcome: Result<ControlResponse, ControlError>
            if transfer.tooLarge {
                outcome = .failure(
                    ControlError(code: .responseTooLarge, description: "answer larger than \(transfer.maxBytes) bytes"))
            } else if result == CURLE_OPERATION_TIMEDOUT {
                outcome = .failure(ControlError(code: .timeout, description: "timed out"))
            } else if result != CURLE_OK {
                let message = curl_easy_strerror(result).map { String(cString: $0) } ?? "error \(result.rawValue)"
                outcome = .failure(ControlError(code: .transport, description: message))
            } else {
                outcome = .success(
                    ControlResponse(status: status, headers: transfer.responseHeaders, body: transfer.body))
            }
            transfer.release()
            transfer.completion(outcome)
        }
    }

}

/// One transfer's buffers and completion; lives until curl reports it done.
final class Transfer {
    let easy: UnsafeMutableRawPointer
    let maxBytes: Int
    let completion: @Sendable (Result<ControlResponse, ControlError>) -> Void
    var headerList: UnsafeMutablePointer<curl_slist>?
    var body: [UInt8] = []
    var responseHeaders: [(String, String)] = []
    var tooLarge = false

    init(
        easy: UnsafeMutableRawPointer, maxBytes: Int,
        completion: @escaping @Sendable (Result<ControlResponse, ControlError>) -> Void
    ) {
        self.easy = easy
        self.maxBytes = maxBytes
        self.completion = completion
    }

    func release() {
        curl_easy_cleanup(easy)
        curl_slist_free_all(headerList)
        headerList = nil
    }
}

/// The read and write sources of one curl socket. They live as long as the descriptor: suspended when curl
/// does not want that direction, cancelled when curl closes the socket, which is then closed by the last cancel handler.
final class SocketWatch {
    let fd: Int32
    private let read: any DispatchSourceRead
    private let write: any DispatchSourceWrite
    private var readActive = false
    private var writeActive = false
    private var liveSources = 2

    init(fd: Int32, client: ControlPlaneClient) {
        self.fd = fd
        read = DispatchSource.makeReadSource(fileDescriptor: fd, queue: client.queue)
        write = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: client.queue)
        read.setEventHandler { [weak client] in client?.act(socket: fd, events: CURL_CSELECT_IN) }
        write.setEventHandler { [weak client] in client?.act(socket: fd, events: CURL_CSELECT_OUT) }
    }

    func want(read wantRead: Bool, write wantWrite: Bool) {
        if wantRead != readActive {
            readActive = wantRead
            if wantRead { read.resume() } else { read.suspend() }
        }
        if wantWrite != writeActive {
            writeActive = wantWrite
            if wantWrite { write.resume() } else { write.suspend() }
        }
    }

    deinit {
        // Releasing a suspended Dispatch source is a crash; a watch only goes away with its client.
        if !readActive { read.resume() }
        if !writeActive { write.resume() }
        read.cancel()
        write.cancel()
    }

    func cancelThenClose() {
        let fd = self.fd
        let handler: () -> Void = { [self] in
            liveSources -= 1
            if liveSources == 0 { close(fd) }
        }
        read.setCancelHandler(handler: handler)
        write.setCancelHandler(handler: handler)
        // A suspended source never runs its cancel handler: resume before cancelling.
        if !readActive { read.resume() }
        if !writeActive { write.resume() }
        readActive = true
        writeActive = true
        read.cancel()
        write.cancel()
    }
}

private func controlSocketCallback(
    _ easy: UnsafeMutableRawPointer?, _ fd: curl_socket_t, _ what: Int32,
    _ context: UnsafeMutableRawPointer?, _ socketContext: UnsafeMutableRawPointer?
) -> Int32 {
    guard let context else { return 0 }
    Unmanaged<ControlPlaneClient>.fromOpaque(context).takeUnretainedValue().socketChanged(fd, what: what)
    return 0
}

private func controlTimerCallback(
    _ multi: UnsafeMutableRawPointer?, _ milliseconds: Int, _ context: UnsafeMutableRawPointer?
) -> Int32 {
    guard let context else { return 0 }
    Unmanaged<ControlPlaneClient>.fromOpaque(context).takeUnretainedValue().timerChanged(milliseconds)
    return 0
}

private func controlCloseSocketCallback(_ context: UnsafeMutableRawPointer?, _ fd: curl_socket_t) -> Int32 {
    guard let context else { return close(fd) }
    Unmanaged<ControlPlaneClient>.fromOpaque(context).takeUnretainedValue().closeSocket(fd)
    return 0
}

private func controlBodyCallback(
    _ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?
) -> Int {
    guard let data, let context else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    guard transfer.body.count + length <= transfer.maxBytes else {
        transfer.tooLarge = true
        return 0  // makes curl abort the transfer
    }
    transfer.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: length))
    return length
}

private func controlHeaderCallback(
    _ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?
) -> Int {
    guard let data, let context else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    let line = String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    if line.hasPrefix("HTTP/") {
        // A new response (after 100 Continue or a proxy's CONNECT): forget the previous one's headers.
        transfer.responseHeaders.removeAll()
    } else if let colon = line.firstIndex(of: ":") {
        let name = String(line[..<colon])
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
        transfer.responseHeaders.append((name, value))
    }
    return length
}
