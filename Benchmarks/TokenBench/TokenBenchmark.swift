import Cryptography
import JWT

#if canImport(Glibc)
    import Glibc
#endif

/// Times each part of the token check on its own: (a) decoding and claim checks, (b) the RSA verify,
/// (c) the verified-token cache's lookup with its SHA-256, and the whole verify as a cross-check.
/// Each figure is the median over rounds of a round's mean; rounds of the figures are interleaved so that
/// drift on the machine reaches all of them alike.
enum TokenBenchmark {
    struct Figure {
        /// The name that `TokenBench ROUNDS NAME` picks it by, to run it alone under a profiler.
        let name: String
        let label: String
        let iterations: Int
        let body: (Int) -> Int
        var rounds: [Double] = []

        var median: Double {
            let sorted = rounds.sorted()
            return sorted[sorted.count / 2]
        }
    }

    static func main(arguments: [String]) {
        let names = ["verify", "a", "b", "c"]
        guard arguments.count <= 2, let rounds = Int(arguments.first ?? "15"), (1...10_000).contains(rounds),
            arguments.count < 2 || names.contains(arguments[1])
        else {
            print("usage: TokenBench [ROUNDS [verify|a|b|c]]   (1 to 10000 rounds, default 15; one figure alone)")
            exit(2)
        }
        let now = wallClockSeconds()
        let sample = CognitoToken(now: now)
        let verifier = TokenVerifier(rules: sample.rules)
        let cache = VerifiedTokenCache(capacity: 10_000)
        let cacheKey = sample.token.withUnsafeBytes { VerifiedTokenCache.Key(token: $0) }
        guard let verified = try? verifier.verify(sample.token, keys: sample.keys, now: now),
            verified.subject == "b4a8e2d1-6c3f-4e7a-9d05-1f2e3c4b5a69", verified.tokenUse == "id"
        else {
            print("tokens: the benchmark's own token is refused: nothing to measure")
            exit(1)
        }
        cache.insert(cacheKey, verified)

        var figures = [
            Figure(name: "verify", label: "verify, all of it", iterations: 400) { count in
                sample.token.withUnsafeBytes { raw in
                    var accepted = 0
                    for _ in 0..<count where (try? verifier.verify(raw, keys: sample.keys, now: now)) != nil {
                        accepted += 1
                    }
                    return accepted
                }
            },
            // What verify runs but the RSA verify: split, base64url, header, kid to key, the payload's claims.
            Figure(name: "a", label: "(a) decoding and claim checks", iterations: 4_000) { count in
                sample.token.withUnsafeBytes { raw in
                    var accepted = 0
                    for _ in 0..<count {
                        let checked = try? SignedToken.withParts(raw) { signed throws(TokenRejection) in
                            let (keyID, _) = try signed.signingKey(in: sample.keys)
                            return try verifier.claims(of: signed, keyID: keyID, now: now)
                        }
                        if checked != nil { accepted += 1 }
                    }
                    return accepted
                }
            },
            Figure(name: "b", label: "(b) RSA-2048 verify", iterations: 400) { count in
                var accepted = 0
                for _ in 0..<count
                where sample.publicKey.verifyRS256(message: sample.signingInput, signature: sample.signature) {
                    accepted += 1
                }
                return accepted
            },
            Figure(name: "c", label: "(c) cache lookup with its SHA-256", iterations: 20_000) { count in
                var hits = 0
                for _ in 0..<count {
                    let key = sample.token.withUnsafeBytes { VerifiedTokenCache.Key(token: $0) }
                    if cache.lookup(key, now: now) != nil { hits += 1 }
                }
                return hits
            },
        ]
        if arguments.count == 2 { figures.removeAll { $0.name != arguments[1] } }
        // One warm-up round, not counted: page faults, lazy globals, the allocator's first chunks.
        for figure in figures { _ = figure.body(figure.iterations / 10) }
        for _ in 0..<rounds {
            for index in figures.indices {
                let start = threadCPUSeconds()
                let done = figures[index].body(figures[index].iterations)
                let seconds = threadCPUSeconds() - start
                guard done == figures[index].iterations else {
                    print("tokens: \(figures[index].label) failed \(figures[index].iterations - done) times")
                    exit(1)
                }
                figures[index].rounds.append(seconds * 1e6 / Double(figures[index].iterations))
            }
        }

        print(
            "tokens: Cognito ID token of \(sample.token.count) bytes (payload JSON \(sample.payloadCount) bytes),"
                + " RS256, 2048-bit key; µs of this thread's CPU per token, median of \(rounds) rounds")
        for figure in figures.dropFirst() + figures.prefix(1) { print(line(figure.label, figure.median)) }
        if let whole = figures.first(where: { $0.name == "verify" }), let rsa = figures.first(where: { $0.name == "b" })
        {
            print(line("cross-check: verify - (b), to compare with (a)", whole.median - rsa.median))
        }
    }

    static func line(_ label: String, _ microseconds: Double) -> String {
        let hundredths = Int((microseconds * 100).rounded())
        let fraction = String(abs(hundredths) % 100)
        let number = "\(hundredths / 100).\(fraction.count == 1 ? "0" : "")\(fraction)"
        let width = 56 - label.count
        return "tokens: " + label + String(repeating: " ", count: max(1, width - number.count)) + number + " µs"
    }
}
