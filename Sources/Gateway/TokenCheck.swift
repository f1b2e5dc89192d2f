import Dispatch
import Encoding
import Foundation
import HTTPClient
import JWT
import Time

extension TokenRules {
    /// One pool's rules, with [cognito]'s clock_skew.
    init(_ pool: UserPoolSettings, clockSkew: Double) {
        self.init(
            issuer: pool.issuer, clientIDs: Set(pool.clientIDs),
            tokenUse: TokenRules.Use(rawValue: pool.tokenUse.rawValue) ?? .id, clockSkew: clockSkew
        )
    }
}

/// `authgate verify-token`: every pool's JWKS fetched once, one verification, as the gateway would do it.
package enum TokenCheck {
    package struct Outcome: Sendable {
        /// The token's claims (its payload JSON) when it is valid.
        package let claims: [UInt8]?
        /// The user_pool_id of the pool whose issuer the token names, once that is known (accepted or not).
        package let pool: String?
        /// Why it was refused, or why it could not be checked.
        package let problem: String?
        /// Keys of the JWKS that were skipped, and JWKS of other pools that could not be fetched: warnings.
        package let warnings: [String]
    }

    package static func verify(token text: String, config: GatewayConfig) -> Outcome {
        var token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if token.lowercased().hasPrefix("bearer ") {
            token = String(token.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        }
        let pools = config.cognito.allPools
        let fetched = fetchKeys(of: pools)
        let clockSkew = Double(config.cognito.clockSkew) / 1e9
        let verifier = TokenVerifier(pools: pools.map { TokenRules($0, clockSkew: clockSkew) })
        var picked: Int?
        let result = Array(token.utf8).withUnsafeBytes { raw in
            Result { () throws(TokenRejection) in
                try verifier.verify(raw, now: SystemClock.wallClockSeconds()) { pool throws(TokenRejection) in
                    picked = pool
                    // A pool whose JWKS could not be had holds no key; the problem below says why.
                    guard case .success(let keys) = fetched[pool] else { throw .noSigningKeys }
                    return keys.set
                }
            }
        }
        // Only the token's pool's troubles are the answer; the other pools' are warnings.
        var warnings: [String] = []
        for (index, outcome) in fetched.enumerated() {
            switch outcome {
            case .success(let keys) where index == picked || picked == nil:
                warnings += keys.skipped.map { "JWKS key of pool \(pools[index].userPoolID) skipped: \($0)" }
            case .failure(let problem) where index != picked: warnings.append(problem.description)
            default: break
            }
        }
        let poolID = picked.map { pools[$0].userPoolID }
        switch result {
        case .success(let verified):
            return Outcome(claims: verified.payload, pool: poolID, problem: nil, warnings: warnings)
        case .failure(let rejection):
            let problem: String
            if let picked, case .failure(let cannotFetch) = fetched[picked] {
                problem = cannotFetch.description
            } else if rejection == .wrongIssuer {
                // Not trusted, only said back: quoted as JSON, so that no byte of it can forge a line.
                let claim = UnverifiedToken.payload(Array(token.utf8))?["iss"]
                let issuer = claim?.string.map(JSONText.quoted) ?? (claim == nil ? "(no iss)" : "(iss is not a string)")
                problem =
                    "token rejected: unknown issuer \(issuer); the configured issuers are "
                    + pools.map { "\"\($0.issuer)\" (\($0.userPoolID))" }.joined(separator: ", ")
            } else if let poolID {
                problem = "token rejected: \(rejection.description) (pool \(poolID))"
            } else {
                problem = "token rejected: \(rejection.description)"
            }
            return Outcome(claims: nil, pool: poolID, problem: problem, warnings: warnings)
        }
    }

    /// Each pool's keys, fetched at once, or why they could not be had.
    private static func fetchKeys(of pools: [UserPoolSettings]) -> [Result<
        (set: JWKSet, skipped: [String]), KeysProblem
    >] {
        let client = ControlPlaneClient(queue: DispatchQueue(label: "authgate.verify-token"))
        let bodies = pools.map { _ in Box<Result<[UInt8], JWKSCache.JWKSFetchError>>() }
        let done = DispatchGroup()
        for (pool, body) in zip(pools, bodies) {
            done.enter()
            JWKSFetcher(client: client, url: pool.jwksURL).fetch { result in
                body.value = result
                done.leave()
            }
        }
        // The client must outlive its transfers: its sources call back into it.
        withExtendedLifetime(client) { done.wait() }
        return zip(pools, bodies).map { pool, body in
            switch body.value! {
            case .failure(let error):
                return .failure(
                    KeysProblem("cannot fetch the JWKS of pool \(pool.userPoolID) from \(pool.jwksURL): \(error)"))
            case .success(let bytes):
                do {
                    return .success(try JWKSet.parse(bytes))
                } catch {
                    return .failure(
                        KeysProblem("the JWKS of pool \(pool.userPoolID) at \(pool.jwksURL) was refused: \(error)"))
                }
            }
        }
    }
}

/// Why one pool's keys could not be had.
private struct KeysProblem: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A value handed from a callback to a waiting thread; the group's wait orders the accesses.
private final class Box<Value>: @unchecked Sendable {
    var value: Value?
}
