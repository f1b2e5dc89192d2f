import Dispatch
import Foundation
import TestSupport
import Testing

@testable import HTTPClient

private func perform(_ client: ControlPlaneClient, _ request: ControlRequest) async -> Result<
    ControlResponse, ControlError
> {
    await withCheckedContinuation { continuation in
        client.execute(request) { continuation.resume(returning: $0) }
    }
}

@Suite(.serialized) struct ControlPlaneClientTests {
    /// One client for the process, as in the daemon.
    static let sharedClient = ControlPlaneClient(queue: DispatchQueue(label: "test.curl"))
    var client: ControlPlaneClient { Self.sharedClient }

    @Test func getReturnsStatusHeadersAndBody() async throws {
        let server = try FixtureServer(jwks: #"{"keys":[1]}"#)
        let response = try await perform(client, ControlRequest(url: server.url + "/x/jwks.json")).get()
        #expect(response.status == 200)
        #expect(String(decoding: response.body, as: UTF8.self) == #"{"keys":[1]}"#)
        #expect(response.header("content-type") == "application/json")
        let missing = try await perform(client, ControlRequest(url: server.url + "/status/404")).get()
        #expect(missing.status == 404)
    }

    @Test func manyTransfersAtOnceAllComplete() async throws {
        let server = try FixtureServer()
        let url = server.url + "/stats"
        let client = self.client
        let results = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<20 {
                group.addTask { (try? await perform(client, ControlRequest(url: url)).get().status) ?? 0 }
            }
            var statuses: [Int] = []
            for await status in group { statuses.append(status) }
            return statuses
        }
        #expect(results == Array(repeating: 200, count: 20))
    }

    @Test func postSendsItsBodyAndHeaders() async throws {
        let server = try FixtureServer()
        let body = Array(#"{"AuthFlow":"x"}"#.utf8)
        let request = ControlRequest(
            method: "POST", url: server.url + "/",
            headers: [
                ("Content-Type", "application/x-amz-json-1.1"),
                ("X-Amz-Target", "AWSCognitoIdentityProviderService.InitiateAuth"),
            ],
            body: body
        )
        let response = try await perform(client, request).get()
        let echoed = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: String]
        #expect(echoed?["body"] == #"{"AuthFlow":"x"}"#)
        #expect(echoed?["content_type"] == "application/x-amz-json-1.1")
        #expect(echoed?["target"] == "AWSCognitoIdentityProviderService.InitiateAuth")
    }

    @Test func oversizedAnswerIsRefused() async throws {
        let server = try FixtureServer()
        let result = await perform(client, ControlRequest(url: server.url + "/big", maxResponseBytes: 1 << 20))
        #expect(throws: ControlError.self) { try result.get() }
        if case .failure(let error) = result { #expect(error.code == .responseTooLarge) }
    }

    /// The fixture answers /slow after 5 s: a timeout error (not an answer) shows the 500 ms limit cut it short.
    /// No bound on the elapsed time: under a loaded test run that would measure the machine, not the client.
    @Test func slowAnswerTimesOut() async throws {
        let server = try FixtureServer()
        let result = await perform(client, ControlRequest(url: server.url + "/slow", timeoutMilliseconds: 500))
        if case .failure(let error) = result {
            #expect(error.code == .timeout)
        } else {
            Issue.record("expected a timeout")
        }
    }

    @Test func refusedConnectionIsATransportError() async throws {
        let port = try FixtureServer.freePort()
        let result = await perform(client, ControlRequest(url: "http://127.0.0.1:\(port)/"))
        if case .failure(let error) = result {
            #expect(error.code == .transport)
        } else {
            Issue.record("expected an error")
        }
    }

    @Test(arguments: ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1/"])
    func onlyHTTPSchemesAreFetched(url: String) async {
        let result = await perform(client, ControlRequest(url: url))
        #expect(throws: ControlError.self) { try result.get() }
    }

    @Test func headerWithANewlineIsRefused() async throws {
        let server = try FixtureServer()
        let result = await perform(
            client, ControlRequest(url: server.url + "/stats", headers: [("X-A", "b\r\nX-Injected: 1")]))
        if case .failure(let error) = result {
            #expect(error.code == .invalidRequest)
        } else {
            Issue.record("expected a refusal")
        }
    }
}
