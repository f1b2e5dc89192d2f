internal import COpenSSL

/// Why a TLS context or session could not be made; the description carries OpenSSL's error queue.
package struct TLSError: Error, Sendable, CustomStringConvertible {
    /// A struct, not an enum, so that a new code breaks no caller's switch.
    package struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case trustStore, certificateAndKey, sessionSetup
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// The CA file, or the system's CAs, could not be loaded.
        package static let trustStore = Code(.trustStore)
        /// The listeners' certificate chain or key could not be loaded, or they do not belong together.
        package static let certificateAndKey = Code(.certificateAndKey)
        /// A session could not be started on a socket.
        package static let sessionSetup = Code(.sessionSetup)

        package var description: String { base.rawValue }
    }

    package let code: Code
    package let description: String
}

/// Settings shared by the TLS connections to one upstream: verification against the system's CAs or a CA file.
package final class TLSClientContext: @unchecked Sendable {
    // SSL_CTX is safe to share once configured.
    fileprivate let context: OpaquePointer

    package init(caFile: String) throws(TLSError) {
        guard let made = copenssl_tls_client_context(caFile) else {
            let detail = lastError()
            throw TLSError(
                code: .trustStore,
                description: caFile.isEmpty
                    ? "cannot load the system CAs: \(detail)" : "cannot load \(caFile): \(detail)")
        }
        context = made
    }

    deinit {
        SSL_CTX_free(context)
    }
}

/// The listeners' certificate and key, with the settings of every TLS connection they accept.
package final class TLSServerContext: @unchecked Sendable {
    // SSL_CTX is safe to share once configured.
    fileprivate let context: OpaquePointer

    /// Reads and checks the PEM certificate chain and key; a reload builds a new context from the files.
    package init(certFile: String, keyFile: String) throws(TLSError) {
        guard let made = copenssl_tls_server_context(certFile, keyFile) else {
            throw TLSError(
                code: .certificateAndKey, description: "cannot load \(certFile) and \(keyFile): \(lastError())")
        }
        context = made
    }

    deinit {
        SSL_CTX_free(context)
    }
}

/// One TLS connection over a non-blocking socket the caller owns and polls: to an upstream (client side) or
/// from a client of the listeners (server side).
package final class TLSSession {
    private let session: OpaquePointer

    package enum Progress: Equatable {
        case done
        case wantRead
        case wantWrite
        case closed
        case failed(String)
    }

    package init(context: TLSClientContext, fd: Int32, host: String, hostIsIP: Bool) throws(TLSError) {
        guard let made = copenssl_tls_client_session(context.context, fd, host, hostIsIP ? 1 : 0) else {
            throw TLSError(code: .sessionSetup, description: "cannot start TLS: \(lastError())")
        }
        session = made
    }

    package init(context: TLSServerContext, fd: Int32) throws(TLSError) {
        guard let made = copenssl_tls_server_session(context.context, fd) else {
            throw TLSError(code: .sessionSetup, description: "cannot start TLS: \(lastError())")
        }
        session = made
    }

    /// Decrypted bytes OpenSSL holds that the socket will not signal again.
    package var pendingBytes: Int { Int(SSL_pending(session)) }

    /// Sends close_notify once, without waiting for the peer's (the socket is about to be half-closed).
    package func shutdown() {
        _ = SSL_shutdown(session)
        ERR_clear_error()
    }

    deinit {
        SSL_free(session)
    }

    private func progress(_ result: Int32) -> Progress {
        switch SSL_get_error(session, result) {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        case SSL_ERROR_ZERO_RETURN: return .closed
        default:
            let verify = SSL_get_verify_result(session)
            if verify != X509_V_OK {
                return .failed("certificate not trusted: \(String(cString: X509_verify_cert_error_string(verify)))")
            }
            return .failed(lastError())
        }
    }

    package func handshake() -> Progress {
        let result = SSL_do_handshake(session)
        return result == 1 ? .done : progress(result)
    }

    /// The protocol ALPN settled on, if any.
    package var negotiatedProtocol: String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(session, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// Reads decrypted bytes; a count, or why none.
    package func read(into buffer: UnsafeMutableRawBufferPointer) -> (Int, Progress) {
        let result = SSL_read(session, buffer.baseAddress, Int32(min(buffer.count, Int(Int32.max))))
        return result > 0 ? (Int(result), .done) : (0, progress(result))
    }

    package func write(_ buffer: UnsafeRawBufferPointer) -> (Int, Progress) {
        guard !buffer.isEmpty else { return (0, .done) }
        let result = SSL_write(session, buffer.baseAddress, Int32(min(buffer.count, Int(Int32.max))))
        return result > 0 ? (Int(result), .done) : (0, progress(result))
    }
}

private func lastError() -> String {
    let code = ERR_get_error()
    ERR_clear_error()
    guard code != 0 else { return "TLS error" }
    var buffer = [CChar](repeating: 0, count: 256)
    ERR_error_string_n(code, &buffer, buffer.count)
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
