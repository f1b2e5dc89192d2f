import Endpoints
import EventLoop
import Foundation
import Testing

@testable import Gateway

/// `AUTHGATE_HOSTS_FILE`: the resolver's test and operations hook, read as /etc/hosts is.
@Suite struct HostResolverTests {
    private enum Answer: Equatable {
        case success([String])
        case failure(String)
    }

    private func resolve(_ name: String, file text: String?) throws -> Answer {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hosts-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        if let text { try text.write(toFile: path, atomically: true, encoding: .utf8) }
        let resolver = HostResolver(environment: [HostResolver.hostsFileVariable: path])
        switch resolver.resolve(name, port: 8080) {
        case .success(let addresses): return .success(addresses.map(\.description))
        case .failure(let error): return .failure(error.description)
        }
    }

    @Test func namesAreReadAsHostsFilesWriteThem() throws {
        let file = """
            # comment 10.0.0.1 api.test
            127.0.0.3 api.test   other.test # trailing comment
            127.0.0.3\tAPI.test
            ::1 api.test
            not-an-address api.test
            10.0.0.9
            127.0.0.4 apitest
            """
        #expect(try resolve("api.test", file: file) == .success(["127.0.0.3:8080", "[::1]:8080"]))
        #expect(try resolve("Other.Test", file: file) == .success(["127.0.0.3:8080"]))
    }

    @Test func aMissingNameOrFileIsAFailedResolution() throws {
        guard case .failure(let missing) = try resolve("api.test", file: "127.0.0.1 other.test\n") else {
            Issue.record("resolved")
            return
        }
        #expect(missing.contains("api.test is not in AUTHGATE_HOSTS_FILE"))
        // An empty file holds no names; it is read, not "cannot read".
        guard case .failure(let empty) = try resolve("api.test", file: "") else {
            Issue.record("resolved")
            return
        }
        #expect(empty.contains("api.test is not in AUTHGATE_HOSTS_FILE"))
        guard case .failure(let unreadable) = try resolve("api.test", file: nil) else {
            Issue.record("resolved")
            return
        }
        #expect(unreadable.contains("cannot read AUTHGATE_HOSTS_FILE"))
        let huge = String(repeating: "# padding\n", count: 110_000) + "127.0.0.1 api.test\n"
        guard case .failure(let tooLarge) = try resolve("api.test", file: huge) else {
            Issue.record("resolved")
            return
        }
        #expect(tooLarge.contains("larger than 1 MiB"))
        // A device that never ends is not read at all.
        let device = HostResolver(environment: [HostResolver.hostsFileVariable: "/dev/zero"])
        guard case .failure(let notRegular) = device.resolve("api.test", port: 1) else {
            Issue.record("resolved")
            return
        }
        #expect(notRegular.description.contains("as a regular file"))
    }

    @Test func withoutTheVariableTheSystemResolves() {
        let resolver = HostResolver(environment: [:])
        #expect(resolver.hostsFile == nil)
        #expect(HostResolver(environment: [HostResolver.hostsFileVariable: ""]).hostsFile == nil)
        guard case .success(let addresses) = resolver.resolve("localhost", port: 1) else {
            Issue.record("localhost did not resolve")
            return
        }
        #expect(addresses.allSatisfy { $0.description.hasSuffix(":1") } && !addresses.isEmpty)
    }
}
