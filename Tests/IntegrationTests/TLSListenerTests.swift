import Cryptography
import Foundation
import TestSupport
import Testing

/// `[server.tls]`: the listeners speak HTTPS, checked with curl and openssl s_client against a certificate the
/// test makes.
@Suite(.serialized) struct TLSListenerTests {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tls-listener-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func gateway(_ upstream: FixtureServer, cert: String, key: String, server: String = "") throws -> RunningGateway {
        try RunningGateway(
            server: """
                \(server)
                [server.tls]
                cert_file = "\(cert)"
                key_file = "\(key)"
                """,
            extra: """
                [[route]]
                prefix = "/upstream"
                upstream = "\(upstream.url)"
                auth = "none"
                """
        )
    }

    func curl(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try shell(["curl", "-sS", "--max-time", "20"] + arguments)
    }

    @Test func curlGetsAnswersOverTLSBothWaysWithLargeBodies() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let (cert, key) = try makeCertificate(in: directory)
        let upstream = try FixtureServer()
        let gateway = try gateway(upstream, cert: cert, key: key)
        let base = "https://localhost:\(gateway.publicPort)"

        let small = try curl(["--cacert", cert, "\(base)/upstream/hello"])
        #expect(small.status == 0, "\(small.output)")
        #expect(small.output.contains(#"["X-Forwarded-Proto", "https"]"#), "\(small.output)")
        let untrusted = try curl(["\(base)/upstream/hello"])
        #expect(untrusted.status == 60, "without --cacert curl does not trust it: \(untrusted)")

        // 8 MB down, checked byte for byte; 5 MB up, checked by the upstream's SHA-256.
        let size = 8_000_000
        let downloaded = directory.appendingPathComponent("down.bin")
        let down = try curl(["--cacert", cert, "-o", downloaded.path, "\(base)/upstream/big/\(size)"])
        #expect(down.status == 0, "\(down.output)")
        let block = Array(repeating: SHA256.hash(Array("authgate".utf8)), count: 2048).flatMap { $0 }
        var expected: [UInt8] = []
        while expected.count < size { expected += block.prefix(size - expected.count) }
        #expect(try Data(contentsOf: downloaded) == Data(expected))

        let body = (0..<5_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let uploaded = directory.appendingPathComponent("up.bin")
        try Data(body).write(to: uploaded)
        let up = try curl(["--cacert", cert, "--data-binary", "@\(uploaded.path)", "\(base)/upstream/post"])
        let digest = SHA256.hash(body).map { String(format: "%02x", $0) }.joined()
        #expect(up.output.contains(digest), "\(up.output.prefix(300))")

        // Several requests on one TLS connection (curl reuses it for URLs given together).
        let reused = try curl([
            "--cacert", cert, "-w", "%{num_connects}\n", "-o", "/dev/null", "-o", "/dev/null", "\(base)/upstream/a",
            "\(base)/upstream/b",
        ])
        #expect(reused.output.split(separator: "\n") == ["1", "0"], "\(reused.output)")
    }

    @Test func tlsVersionsAndALPN() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let (cert, key) = try makeCertificate(in: directory)
        let upstream = try FixtureServer()
        let gateway = try gateway(upstream, cert: cert, key: key)
        let connect = "127.0.0.1:\(gateway.publicPort)"
        let http11 = try shell(
            ["openssl", "s_client", "-connect", connect, "-CAfile", cert, "-alpn", "http/1.1"], input: "")
        #expect(http11.output.contains("ALPN protocol: http/1.1"), "\(http11.output)")
        #expect(http11.output.contains("Verify return code: 0 (ok)"), "\(http11.output)")
        let onlyH2 = try shell(["openssl", "s_client", "-connect", connect, "-alpn", "h2"], input: "")
        #expect(
            onlyH2.output.contains("no application protocol"),
            "a client offering only h2 is refused, not served HTTP/1.1")
        let old = try shell(["openssl", "s_client", "-connect", connect, "-tls1_1"], input: "")
        #expect(
            old.output.contains("alert protocol version") || old.output.contains("no protocols available"),
            "\(old.output)")
        let tls12 = try shell(["openssl", "s_client", "-connect", connect, "-tls1_2", "-CAfile", cert], input: "")
        #expect(tls12.output.contains("Protocol  : TLSv1.2") || tls12.output.contains("TLSv1.2"), "\(tls12.output)")
    }

    @Test func handshakesThatDoNotFinishAreClosedAndPlainHTTPGetsNoAnswer() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let (cert, key) = try makeCertificate(in: directory)
        let upstream = try FixtureServer()
        let gateway = try gateway(upstream, cert: cert, key: key, server: "header_timeout = \"1s\"")
        let silent = try RawClient(port: gateway.publicPort)
        let partial = try RawClient(port: gateway.publicPort)
        try partial.send([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])  // the start of a ClientHello, then nothing
        let started = Date()
        #expect(try silent.isClosedByPeer())
        #expect(try partial.isClosedByPeer())
        #expect(Date().timeIntervalSince(started) < 5)
        let plain = try RawClient(port: gateway.publicPort)
        try plain.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(try plain.isClosedByPeer(), "plain HTTP on the TLS port is not answered in clear text")
    }

    @Test func reloadReadsTheCertificateAgain() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let (cert, key) = try makeCertificate(in: directory)
        let upstream = try FixtureServer()
        let gateway = try gateway(upstream, cert: cert, key: key)
        func servedFingerprint() throws -> String {
            let chain = try shell(["openssl", "s_client", "-connect", "127.0.0.1:\(gateway.publicPort)"], input: "")
            let pem =
                chain.output.components(separatedBy: "-----BEGIN CERTIFICATE-----").dropFirst().first?
                .components(separatedBy: "-----END CERTIFICATE-----").first ?? ""
            return try shell(
                ["openssl", "x509", "-noout", "-fingerprint", "-sha256"],
                input: "-----BEGIN CERTIFICATE-----\(pem)-----END CERTIFICATE-----\n"
            ).output
        }
        let before = try servedFingerprint()
        #expect(before.contains("Fingerprint"))
        let renewed = try makeCertificate(in: directory, name: "renewed")
        try FileManager.default.removeItem(atPath: cert)
        try FileManager.default.removeItem(atPath: key)
        try FileManager.default.copyItem(atPath: renewed.cert, toPath: cert)
        try FileManager.default.copyItem(atPath: renewed.key, toPath: key)
        gateway.signal(SIGHUP)
        #expect(gateway.waitForLog("reloaded"))
        let after = try servedFingerprint()
        #expect(after.contains("Fingerprint") && after != before, "new connections get the renewed certificate")

        // A key that does not match the certificate is refused; the renewed one stays in use.
        let stray = try makeCertificate(in: directory, name: "stray")
        try FileManager.default.removeItem(atPath: key)
        try FileManager.default.copyItem(atPath: stray.key, toPath: key)
        gateway.signal(SIGHUP)
        #expect(gateway.waitForLog("reload refused"))
        #expect(try servedFingerprint() == after)
    }
}
