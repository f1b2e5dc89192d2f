// swift-tools-version:6.0
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

/// Test hooks (a signal that stalls an event loop, for the systemd watchdog test) exist in debug builds only:
/// `swift build` and `swift test` compile them in, `swift build -c release` never does (SystemdManagerTests checks).
let testHookSettings: [SwiftSetting] = [.define("AUTHGATE_TEST_HOOKS", .when(configuration: .debug))]

/// A libFuzzer harness: one executable per parser, outside the product. scripts/fuzz builds them with
/// `-sanitize=fuzzer,address -DFUZZING`; any other build makes each one a replayer of the files it is given.
func fuzzHarness(_ folder: String, _ dependencies: [Target.Dependency]) -> Target {
    .executableTarget(
        name: "Fuzz\(folder)", dependencies: dependencies + ["FuzzSupport"], path: "Fuzz/\(folder)",
        swiftSettings: strictSettings)
}

let package = Package(
    name: "authgate",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "authgate", targets: ["authgate"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        // C at arm's length: system libraries with static inline shims for macros and variadics.
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .target(name: "CSystem"),
        // hiredis (Debian libhiredis-dev 0.14) for its RESP reply reader only, with a cap on array sizes.
        .target(name: "CHiredis", linkerSettings: [.linkedLibrary("hiredis")]),

        // Pure Swift: strict JSON, JSON text, base64url and hex. No C, no I/O.
        .target(name: "Encoding", swiftSettings: strictSettings),
        // Pure Swift: the one parser of URLs and socket addresses, and their typed values. No C, no I/O.
        .target(name: "Endpoints", swiftSettings: strictSettings),
        // The one clock: monotonic and wall-clock readings, the Date header and log timestamp text. Glibc only.
        .target(name: "Time", dependencies: ["Encoding"], swiftSettings: strictSettings),
        // The only importer of COpenSSL's crypto: RSA keys, RS256 verification, SHA-256, HMAC-SHA256.
        .target(name: "Cryptography", dependencies: ["COpenSSL"], swiftSettings: strictSettings),
        // The only importer of CCurl: the control-plane client (JWKS, Cognito), curl multi on Dispatch.
        .target(name: "HTTPClient", dependencies: ["CCurl", "Cryptography"], swiftSettings: strictSettings),
        // Token decoding, Cognito claim rules, JWKS parsing, the verified-token cache.
        .target(name: "JWT", dependencies: ["Cryptography", "Encoding", "Time"], swiftSettings: strictSettings),
        // Pure Swift HTTP/1.1: strict parser, connection state machine, response serializer. No I/O.
        .target(name: "HTTP1", dependencies: ["Encoding"], swiftSettings: strictSettings),
        // SigV4, the AWS credential chain and the Cognito Identity Provider client (control plane, over libcurl).
        .target(
            name: "AWS", dependencies: ["Cryptography", "HTTPClient", "Encoding", "Endpoints", "Time"],
            swiftSettings: strictSettings),
        // Dispatch event loops with their epoll sets, the socket channel, client and upstream connections, pools.
        .target(
            name: "EventLoop", dependencies: ["Encoding", "HTTP1", "CSystem", "Cryptography", "Endpoints", "Time"],
            swiftSettings: strictSettings),
        // The Redis client of `[cluster]`: its own connections (TCP, unix, TLS) on a queue of their own, hiredis's reader.
        .target(
            name: "Redis", dependencies: ["CHiredis", "CSystem", "Cryptography", "Endpoints"],
            swiftSettings: strictSettings),
        // What instances share through Redis: the link's state machine, the keys and scripts, the store.
        .target(
            name: "Cluster", dependencies: ["Redis", "Cryptography", "Endpoints"], swiftSettings: strictSettings),
        // Configuration, routing of local answers, admin endpoints, access log.
        .target(
            name: "Gateway",
            dependencies: [
                "Encoding", "Endpoints", "Time", "HTTP1", "EventLoop", "JWT", "HTTPClient", "AWS", "Cryptography",
                "Cluster",
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings + testHookSettings
        ),
        .executableTarget(
            name: "authgate",
            dependencies: [
                "Gateway", "Cryptography",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings + testHookSettings
        ),
        // `scripts/bench tokens`: the token check on its own (decoding and claims, RSA, the cache), never shipped.
        .executableTarget(
            name: "TokenBench", dependencies: ["JWT", "Cryptography", "Encoding"], path: "Benchmarks/TokenBench",
            swiftSettings: strictSettings),

        .testTarget(name: "EndpointsTests", dependencies: ["Endpoints"], swiftSettings: strictSettings),
        .testTarget(name: "TimeTests", dependencies: ["Time"], swiftSettings: strictSettings),
        .testTarget(
            name: "HTTP1Tests", dependencies: ["HTTP1", "Encoding", "TestSupport"], swiftSettings: strictSettings),
        // The socket channel over socketpairs, and the connection lifecycles without sockets.
        .testTarget(
            name: "EventLoopTests", dependencies: ["EventLoop", "HTTP1", "Endpoints"], swiftSettings: strictSettings),
        .testTarget(
            name: "CryptographyTests", dependencies: ["Cryptography", "TestSupport"], swiftSettings: strictSettings),
        // Loopback servers the tests talk to: a JWKS and echo fixture, and moto as the user pool.
        .target(name: "TestSupport", path: "Tests/Support"),
        .testTarget(
            name: "HTTPClientTests", dependencies: ["HTTPClient", "TestSupport"], swiftSettings: strictSettings),
        .testTarget(
            name: "JWTTests", dependencies: ["JWT", "Encoding", "Cryptography", "TestSupport"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "AWSTests", dependencies: ["AWS", "Endpoints", "Time", "HTTPClient", "Cryptography", "TestSupport"],
            swiftSettings: strictSettings),
        // The reply reader on hostile bytes, and the connection against a real redis-server it starts.
        .testTarget(
            name: "RedisTests", dependencies: ["Redis", "Cluster", "Endpoints", "Cryptography", "TestSupport"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "Gateway", "Endpoints", "HTTP1", "AWS", "JWT", "Cryptography", "Encoding",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "IntegrationTests", dependencies: ["HTTP1", "JWT", "Encoding", "Cryptography", "TestSupport"],
            swiftSettings: strictSettings
        ),

        // Fuzzing (scripts/fuzz): libFuzzer's driver declared for Swift, the shared input reader, the harnesses.
        .systemLibrary(name: "CFuzzer", path: "Fuzz/CFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzer"], path: "Fuzz/Support", swiftSettings: strictSettings),
        fuzzHarness("RequestHead", ["HTTP1"]),
        fuzzHarness("ChunkedBody", ["HTTP1"]),
        fuzzHarness("Response", ["HTTP1"]),
        fuzzHarness("StrictJSON", ["Encoding"]),
        fuzzHarness("Base64URL", ["Encoding"]),
        fuzzHarness("Token", ["JWT", "Encoding", "Cryptography"]),
        fuzzHarness("Address", ["Endpoints"]),
        fuzzHarness("RedisReply", ["Redis", "Cluster"]),
    ]
)
