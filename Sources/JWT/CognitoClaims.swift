import Encoding

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The claims the rules read, in the order of `names`.
enum Claim: Int, CaseIterable {
    case issuer, tokenUse, audience, clientID, expiry, notBefore, issuedAt, subject, cognitoUsername, username
    case groups, scope

    var name: String {
        switch self {
        case .issuer: return "iss"
        case .tokenUse: return "token_use"
        case .audience: return "aud"
        case .clientID: return "client_id"
        case .expiry: return "exp"
        case .notBefore: return "nbf"
        case .issuedAt: return "iat"
        case .subject: return "sub"
        case .cognitoUsername: return "cognito:username"
        case .username: return "username"
        case .groups: return "cognito:groups"
        case .scope: return "scope"
        }
    }

    static let names = JSONMemberNames(allCases.map(\.name))
}

/// Configured strings a claim must be one of (the issuer, the client ids). "Equals exactly" (SPEC.md): the
/// same UTF-8 bytes once JSON escapes are read, never Swift's canonical equivalence (U+212A KELVIN SIGN is not
/// "K" here).
struct AllowedValues: Sendable {
    let strings: Set<String>
    private let bytes: [[UInt8]]

    init(_ strings: Set<String>) {
        self.strings = strings
        bytes = strings.map { Array($0.utf8) }
    }

    func contains(_ span: JSONSpan, in text: UnsafeRawBufferPointer) -> Bool {
        if span.isPlainASCII {
            // No escape: the claim's bytes are its text.
            let bytes = UnsafeRawBufferPointer(rebasing: text[span.range])
            return self.bytes.contains { allowed in
                allowed.count == bytes.count
                    && allowed.withUnsafeBytes { allowed in
                        guard let left = allowed.baseAddress, let right = bytes.baseAddress else { return true }
                        return memcmp(left, right, bytes.count) == 0
                    }
            }
        }
        // Escapes or bytes beyond ASCII: compared once the escapes are read.
        let decoded = Array(StrictJSONScanner.string(span, in: text).utf8)
        return bytes.contains(decoded)
    }
}

/// The spans of the claims one scan of the payload found.
struct FoundClaims {
    let spans: UnsafeMutableBufferPointer<JSONSpan?>
    let payload: UnsafeRawBufferPointer

    subscript(_ claim: Claim) -> JSONSpan? { spans[claim.rawValue] }

    func isString(_ span: JSONSpan, equalTo literal: StaticString) -> Bool {
        // No other text is canonically equivalent to "id" or "access": bytes decide.
        let expected = UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        return span.kind == .string
            && StrictJSONScanner.withStringBytes(span, in: payload) { $0.elementsEqual(expected) }
    }

    /// A string claim's text when it can become a request header's value: not empty, at most 1 KiB, and no
    /// control character (every character below 0x20 or 0x7F is that one byte in UTF-8).
    func headerSafeString(_ span: JSONSpan) -> String? {
        guard span.kind == .string else { return nil }
        return StrictJSONScanner.withStringBytes(span, in: payload) { bytes in
            guard !bytes.isEmpty, bytes.count <= 1024, !bytes.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
                return nil
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    func forEachElement(of array: JSONSpan, _ body: (JSONSpan) -> Void) throws(TokenRejection) {
        do {
            try StrictJSONScanner.forEachElement(of: array, in: payload, body)
        } catch {
            throw .malformed("payload is not valid JSON")
        }
    }

    /// A NumericDate claim, if present; present but not a number from 0 to 9999-12-31 is malformed.
    func date(_ claim: Claim) throws(TokenRejection) -> Double? {
        guard let span = self[claim] else { return nil }
        let number = span.kind == .number ? StrictJSONScanner.number(span, in: payload) : .nan
        guard number >= 0, number <= TokenVerifier.latestDate else {
            throw .malformed("\(claim.name) is not a NumericDate")
        }
        return number
    }
}

extension TokenVerifier {
    /// The claim checks of a token whose signature is not checked here (the benchmark times them apart): the
    /// payload's `iss` picks the pool, whose rules then apply.
    package func claims(of signed: SignedToken, keyID: String, now: Double) throws(TokenRejection) -> VerifiedToken {
        try withClaims(of: signed) { claims throws(TokenRejection) in
            try verified(claims, pool: pool(of: claims), keyID: keyID, signed: signed, now: now)
        }
    }

    /// Scans the payload once, on its bytes, and hands the claims it found to `body`.
    func withClaims<Result>(
        of signed: SignedToken, _ body: (FoundClaims) throws(TokenRejection) -> Result
    ) throws(TokenRejection) -> Result {
        let payload = signed.payload
        return try withUnsafeTemporaryAllocation(of: JSONSpan?.self, capacity: Claim.allCases.count) {
            spans throws(TokenRejection) in
            spans.initialize(repeating: nil)
            let isObject: Bool
            do {
                isObject = try StrictJSONScanner.scanObject(payload, maxDepth: 8, names: Claim.names) {
                    spans[$0] = $1
                }
            } catch {
                throw .malformed("payload is not valid JSON")
            }
            guard isObject else { throw .malformed("payload is not a JSON object") }
            return try body(FoundClaims(spans: spans, payload: payload))
        }
    }

    /// The pool whose issuer the `iss` claim equals, byte for byte.
    func pool(of claims: FoundClaims) throws(TokenRejection) -> Int {
        guard let issuer = claims[.issuer], issuer.kind == .string,
            let pool = matchers.firstIndex(where: { $0.issuer.contains(issuer, in: claims.payload) })
        else { throw .wrongIssuer }
        return pool
    }

    /// The checks of `pool`'s rules but the issuer, which picked it; strings are made only for what leaves in
    /// `VerifiedToken`.
    func verified(_ claims: FoundClaims, pool: Int, keyID: String, signed: SignedToken, now: Double)
        throws(TokenRejection) -> VerifiedToken
    {
        let verified = try check(claims, rules: pools[pool], clientIDs: matchers[pool].clientIDs, now: now)
        return VerifiedToken(
            pool: pool, keyID: keyID, subject: verified.subject, username: verified.username, groups: verified.groups,
            scopes: verified.scopes, tokenUse: verified.isIDToken ? "id" : "access", expiresAt: verified.expiry,
            issuedAt: verified.issuedAt, encodedPayload: String(decoding: signed.encodedPayload, as: UTF8.self))
    }

    private func check(_ claims: FoundClaims, rules: TokenRules, clientIDs: AllowedValues, now: Double)
        throws(TokenRejection) -> (
            subject: String, username: String?, groups: [String], scopes: [String], isIDToken: Bool, expiry: Double,
            issuedAt: Double?
        )
    {
        let payload = claims.payload
        guard let tokenUse = claims[.tokenUse] else { throw .wrongTokenUse }
        let isIDToken = claims.isString(tokenUse, equalTo: "id")
        let isAccessToken = claims.isString(tokenUse, equalTo: "access")
        switch rules.tokenUse {
        case .id: guard isIDToken else { throw .wrongTokenUse }
        case .access: guard isAccessToken else { throw .wrongTokenUse }
        case .any: guard isIDToken || isAccessToken else { throw .wrongTokenUse }
        }
        if isIDToken {
            // An ID token's aud is its app client (a string; an array is accepted as RFC 7519 allows, its
            // elements that are not strings ignored).
            var allowed = false
            if let audience = claims[.audience] {
                switch audience.kind {
                case .string: allowed = clientIDs.contains(audience, in: payload)
                case .array:
                    try claims.forEachElement(of: audience) { element in
                        if element.kind == .string && clientIDs.contains(element, in: payload) { allowed = true }
                    }
                default: break
                }
            }
            guard allowed else { throw .wrongAudience }
        } else {
            guard let client = claims[.clientID], client.kind == .string, clientIDs.contains(client, in: payload)
            else { throw .wrongAudience }
        }
        guard let expiry = try claims.date(.expiry) else { throw .malformed("no exp") }
        guard now < expiry + rules.clockSkew else { throw .expired }
        if let notBefore = try claims.date(.notBefore), notBefore > now + rules.clockSkew { throw .notYetValid }
        let issuedAt = try claims.date(.issuedAt)
        if let issuedAt, issuedAt > now + rules.clockSkew { throw .issuedInFuture }

        // Claims that become request headers must be safe as header values.
        guard let subjectSpan = claims[.subject], let subject = claims.headerSafeString(subjectSpan) else {
            throw .malformed("sub")
        }
        let usernameClaim: Claim = isIDToken ? .cognitoUsername : .username
        var username: String?
        if let span = claims[usernameClaim] {
            guard let text = claims.headerSafeString(span) else { throw .malformed(usernameClaim.name) }
            username = text
        }
        var groups: [String] = []
        if let list = claims[.groups] {
            guard list.kind == .array else { throw .malformed("cognito:groups") }
            var allSafe = true
            try claims.forEachElement(of: list) { element in
                guard allSafe, let group = claims.headerSafeString(element) else {
                    allSafe = false
                    return
                }
                groups.append(group)
            }
            guard allSafe else { throw .malformed("cognito:groups") }
        }
        var scopes: [String] = []
        if let span = claims[.scope] {
            guard let text = claims.headerSafeString(span) else { throw .malformed("scope") }
            scopes = Self.scopes(text)
        }
        return (subject, username, groups, scopes, isIDToken, expiry, issuedAt)
    }

    /// The space-separated scopes. Split on Characters as before: " \u{301}" is one Character, not a space, so
    /// only ASCII text (the usual) is split on its bytes.
    static func scopes(_ text: String) -> [String] {
        guard text.utf8.allSatisfy({ $0 < 0x80 }) else { return text.split(separator: " ").map(String.init) }
        return text.utf8.split(separator: UInt8(ascii: " ")).map { String(decoding: $0, as: UTF8.self) }
    }
}
