import EventLoop
import HTTP1

/// The public listener's answers. Forwarding, token checks and /signin arrive in later milestones; until then
/// every request gets API Gateway's 404, so nothing is forwarded that was not authorized.
final class PublicHandler: RequestHandler {
    func handle(_ head: RequestHead, connection: ClientConnection) {
        connection.record.authorization = "none"
        connection.respondWithMessage(.notFound)
    }
}

/// Tells whether the gateway can serve: the conditions `/readyz` reports, shared across loops.
public final class Readiness: Sendable {
    private let state = Mutex<[String: String]>([:])

    public init() {}

    /// Marks a condition as unmet, with a reason for `/readyz`.
    public func block(_ condition: String, reason: String) {
        state.withLock { $0[condition] = reason }
    }

    public func clear(_ condition: String) {
        _ = state.withLock { $0.removeValue(forKey: condition) }
    }

    /// The unmet conditions, sorted; empty when ready.
    public var unmet: [(String, String)] {
        state.withLock { $0.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
    }
}

import Synchronization

/// `/healthz` and `/readyz` on the admin listener, never on the public one.
final class AdminHandler: RequestHandler {
    let readiness: Readiness

    init(readiness: Readiness) {
        self.readiness = readiness
    }

    func handle(_ head: RequestHead, connection: ClientConnection) {
        connection.record.route = "admin"
        connection.record.authorization = "none"
        let method = head.method
        guard method == "GET" || method == "HEAD" else {
            connection.respondWithMessage(.methodNotAllowed, headers: [("Allow", "GET, HEAD")])
            return
        }
        switch head.path {
        case "/healthz":
            connection.respond(.ok, headers: [("Content-Type", "text/plain")], body: Array("ok\n".utf8))
        case "/readyz":
            let unmet = readiness.unmet
            if unmet.isEmpty {
                connection.respond(
                    .ok, headers: [("Content-Type", "application/json")], body: Array("{\"status\":\"ready\"}".utf8)
                )
            } else {
                let reasons = unmet.map { "\(JSONText.quoted($0.0)):\(JSONText.quoted($0.1))" }.joined(separator: ",")
                connection.respond(
                    .serviceUnavailable, headers: [("Content-Type", "application/json")],
                    body: Array("{\"status\":\"not ready\",\"reasons\":{\(reasons)}}".utf8)
                )
            }
        default:
            connection.respondWithMessage(.notFound)
        }
    }
}
