import HTTP1

/// Where the CORS policy applies (SPEC.md "CORS"), decided in this one place.
enum CORSReach: Sendable, Equatable {
    /// A route with `cors = false`: its answers, its upstream's CORS fields included, pass untouched.
    case none
    /// Paths no route takes (the 404, and the 400 of a path that cannot be read safely): their answers carry
    /// the fields, but a preflight is not answered, since nothing there would take the request that follows.
    case answers
    /// The sign-in paths and the routes with `cors = true`: preflights are answered, answers carry the fields.
    case answersAndPreflights

    /// `signInPaths`: every path the sign-in service answers, before any route.
    static func of(path: String, route: RouteSettings?, signInPaths: [String]) -> CORSReach {
        if signInPaths.contains(path) { return .answersAndPreflights }
        guard let route else { return .answers }
        return route.cors ? .answersAndPreflights : .none
    }
}

/// The field lines the answers to one request carry, all serialized when the configuration was read.
struct CORSAnswerFields: Sendable {
    /// On the answers authgate makes itself: the Access-Control-* fields for an allowed origin, and `Vary: Origin`.
    let own: [UInt8]
    /// On upstream answers, whose `Vary` is merged with `Origin` where they are copied: the Access-Control-* part.
    let accessControl: [UInt8]

    /// For a request with no `Origin`, or one not allowed: only `Vary`, since the answer would differ for another
    /// `Origin` and a cache must not hand this one to it (the Fetch standard, "CORS protocol and HTTP caches").
    static let varyOnly = CORSAnswerFields(own: Array("Vary: Origin\r\n".utf8), accessControl: [])
}

/// What the policy makes of one request.
enum CORSDecision: Sendable {
    /// The policy does not reach the request's path.
    case untouched
    /// A preflight from an allowed origin: authgate answers 204 with these fields, and nothing is forwarded.
    case preflight(fields: [UInt8])
    /// A preflight from another origin (or with two `Origin` fields): 403, without Access-Control-* fields.
    case refusedPreflight
    /// Any other request: every answer to it carries these fields.
    case answer(CORSAnswerFields)
}

/// SPEC.md "CORS", built once per configuration. Every field line it can send is serialized here, for each
/// allowed origin, so that a request costs one pass over its fields, the comparison of its `Origin` with the
/// allowed ones, and no string. The policy lives in authgate alone, as API Gateway's HTTP APIs keep it: on the
/// paths it reaches, upstream Access-Control-* fields are dropped (`replacesUpstreamField`).
final class CORSPolicy: Sendable {
    /// The answers for one allowed origin, or for every origin with "*".
    fileprivate struct Grant: Sendable {
        /// The origin as browsers send it; empty for "*".
        let origin: [UInt8]
        let answer: CORSAnswerFields
        let preflight: [UInt8]
    }

    private let grants: [Grant]
    private let wildcard: Grant?

    /// nil when `allow_origins` is empty: CORS is off, and nothing of an answer changes.
    init?(_ settings: CORSSettings) {
        guard settings.isEnabled else { return nil }
        let grant = { (origin: String) -> Grant in
            Grant(origin: origin == "*" ? [] : Array(origin.utf8), settings: settings, allowOrigin: origin)
        }
        if settings.allowOrigins == ["*"] {
            wildcard = grant("*")
            grants = []
        } else {
            wildcard = nil
            grants = settings.allowOrigins.map(grant)
        }
    }

    /// Matches the request's `Origin` byte for byte: browsers send the serialization of the Fetch standard
    /// (lower-case scheme and host, no default port), the configuration holds origins in that form only, and
    /// anything else (another case, a trailing "/", "null") was not sent by a browser that honours CORS.
    func decide(_ head: RequestHead, reach: CORSReach) -> CORSDecision {
        guard reach != .none else { return .untouched }
        var origin: Range<Int>?
        var originFields = 0
        var asksForMethod = false
        var grant: Grant?
        head.bytes.withUnsafeBytes { raw in
            for field in head.fields {
                switch field.name.count {
                case 6 where raw.equalsLowercase(field.name, "origin"):
                    origin = field.value
                    originFields += 1
                case 29 where raw.equalsLowercase(field.name, "access-control-request-method"):
                    asksForMethod = true
                default:
                    break
                }
            }
            // Two Origin fields name no one origin: neither is echoed.
            if originFields == 1, let origin { grant = self.grant(for: UnsafeRawBufferPointer(rebasing: raw[origin])) }
        }
        let isPreflight =
            reach == .answersAndPreflights && originFields > 0 && asksForMethod
            && head.bytes[head.methodRange].elementsEqual("OPTIONS".utf8)
        if isPreflight {
            guard let grant else { return .refusedPreflight }
            return .preflight(fields: grant.preflight)
        }
        return .answer(grant?.answer ?? .varyOnly)
    }

    private func grant(for origin: UnsafeRawBufferPointer) -> Grant? {
        if let wildcard { return wildcard }
        return grants.first { $0.origin.elementsEqual(origin) }
    }

    /// The upstream answer's fields the policy sets itself on the paths it reaches: every Access-Control-*
    /// field (the policy lives in one place), and `Vary` (written once, merged with `Origin`).
    static func replacesUpstreamField(_ name: Range<Int>, in raw: UnsafeRawBufferPointer) -> Bool {
        raw.hasLowercasePrefix(name, "access-control-") || raw.equalsLowercase(name, "vary")
    }
}

extension CORSPolicy.Grant {
    init(origin: [UInt8], settings: CORSSettings, allowOrigin: String) {
        func lines(_ fields: [(String, String)]) -> [UInt8] {
            var writer = HeadWriter(capacity: 256)
            for (name, value) in fields { writer.field(name: name, value: value) }
            return writer.finish()
        }
        let allowOriginField = [("Access-Control-Allow-Origin", allowOrigin)]
        let credentials = settings.allowCredentials ? [("Access-Control-Allow-Credentials", "true")] : []
        let vary = [("Vary", "Origin")]
        let exposed =
            settings.exposeHeaders.isEmpty
            ? [] : [("Access-Control-Expose-Headers", settings.exposeHeaders.joined(separator: ", "))]
        let accessControl = allowOriginField + exposed + credentials
        var preflight = allowOriginField
        if !settings.allowMethods.isEmpty {
            preflight.append(("Access-Control-Allow-Methods", settings.allowMethods.joined(separator: ", ")))
        }
        if !settings.allowHeaders.isEmpty {
            preflight.append(("Access-Control-Allow-Headers", settings.allowHeaders.joined(separator: ", ")))
        }
        preflight.append(("Access-Control-Max-Age", String(settings.maxAge / 1_000_000_000)))
        self.init(
            origin: origin,
            answer: CORSAnswerFields(own: lines(accessControl + vary), accessControl: lines(accessControl)),
            preflight: lines(preflight + credentials + vary))
    }
}
