import Dispatch
import Foundation
import HTTPClient
import JWT
import Time

extension TokenRules {
    /// The authorizer's rules from the [cognito] settings.
    init(_ cognito: CognitoSettings) {
        self.init(
            issuer: cognito.issuer, clientIDs: Set(cognito.clientIDs),
            tokenUse: TokenRules.Use(rawValue: cognito.tokenUse.rawValue) ?? .id,
            clockSkew: Double(cognito.clockSkew) / 1e9
        )
    }
}

/// `authgate verify-token`: one JWKS fetch, one verification, as the gateway would do it.
package enum TokenCheck {
    package struct Outcome: Sendable {
        /// The token's claims (its payload JSON) when it is valid.
        package let claims: [UInt8]?
        /// Why it was refused, or why it could not be checked.
        package let problem: String?
        /// Keys of the JWKS that were skipped, with the reason.
        package let skippedKeys: [String]
    }

    package static func verify(token text: String, config: GatewayConfig) -> Outcome {
        var token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if token.lowercased().hasPrefix("bearer ") {
            token = String(token.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        }
        let client = ControlPlaneClient(queue: DispatchQueue(label: "authgate.verify-token"))
        let fetched = Box<Result<[UInt8], JWKSCache.JWKSFetchError>>()
        let done = DispatchSemaphore(value: 0)
        JWKSFetcher(client: client, url: config.cognito.jwksURL).fetch { result in
            fetched.value = result
            done.signal()
        }
        // The client must outlive its transfer: its sources call back into it.
        withExtendedLifetime(client) { done.wait() }
        let body: [UInt8]
        switch fetched.value! {
        case .success(let bytes): body = bytes
        case .failure(let error):
            return Outcome(
                claims: nil, problem: "cannot fetch the JWKS from \(config.cognito.jwksURL): \(error)", skippedKeys: [])
        }
        let keys: JWKSet
        let skipped: [String]
        do {
            (keys, skipped) = try JWKSet.parse(body)
        } catch {
            return Outcome(
                claims: nil, problem: "the JWKS at \(config.cognito.jwksURL) was refused: \(error)", skippedKeys: [])
        }
        let verifier = TokenVerifier(rules: TokenRules(config.cognito))
        do {
            let verified = try verifier.verify(Array(token.utf8), keys: keys, now: SystemClock.wallClockSeconds())
            return Outcome(claims: verified.payload, problem: nil, skippedKeys: skipped)
        } catch {
            return Outcome(claims: nil, problem: "token rejected: \(error.description)", skippedKeys: skipped)
        }
    }
}

/// A value handed from a callback to a waiting thread; the semaphore orders the accesses.
private final class Box<Value>: @unchecked Sendable {
    var value: Value?
}
