import Endpoints
import HTTPClient
import Testing

@testable import AWS

/// Which container credential endpoints may be reached over plain http (SPEC.md "Secrets": the AWS SDKs'
/// rule), decided on the parsed host rather than on the text.
@Suite struct ContainerEndpointTests {
    @Test(arguments: [
        "http://127.0.0.1/creds", "http://127.9.9.9:8080/creds", "http://localhost/creds", "http://LOCALHOST/creds",
        "http://[::1]/creds", "http://[0:0:0:0:0:0:0:1]/creds", "http://169.254.170.2/v2/credentials/x",
        "http://169.254.170.23/v1/credentials", "http://[fd00:ec2::23]/v1/credentials",
        "http://[fd00:ec2:0::23]/v1/credentials", "https://credentials.example/x?id=1",
    ])
    func allowed(uri: String) throws {
        let request = try #require(CredentialProvider.containerRequest(["AWS_CONTAINER_CREDENTIALS_FULL_URI": uri]))
        #expect(throws: Never.self) { try request.get() }
    }

    @Test(arguments: [
        "http://192.0.2.1/creds", "http://128.0.0.1/creds", "http://169.254.169.254/creds", "http://[::2]/creds",
        "http://localhost.example/creds", "http://127.0.0.1.example/creds",
        // Userinfo: the host curl connects to is the one after "@".
        "http://127.0.0.1:80@192.0.2.1/creds",
        // Not an IPv4 address for curl, which resolves it as a host name: whatever the resolver answers
        // would get the container's authorization token in clear. The old text check read "-0" as 0.
        "http://127.0.0.-0/creds", "http://127.-0.0.1/creds",
        // inet_aton's loose forms, which curl and getaddrinfo read as 127.0.0.1 and the parser refuses.
        "http://127.1/creds", "http://0x7f.0.0.1/creds", "http://127.0.0.01/creds",
        "ftp://127.0.0.1/creds", "http://127.0.0.1/creds#x", "http://127.0.0.1/a b",
    ])
    func refused(uri: String) throws {
        let request = try #require(CredentialProvider.containerRequest(["AWS_CONTAINER_CREDENTIALS_FULL_URI": uri]))
        #expect(throws: CredentialError.self) { try request.get() }
    }

    @Test func relativeURIGoesToTheECSAgent() throws {
        let request = try #require(
            CredentialProvider.containerRequest(["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc?x=1"])
        ).get()
        #expect(request.url == "http://169.254.170.2/v2/credentials/abc?x=1")
        let spaced = try #require(
            CredentialProvider.containerRequest(["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/a b"]))
        #expect(throws: CredentialError.self) { try spaced.get() }
    }

    @Test func cognitoHostFieldAndPathComeFromTheParsedEndpoint() throws {
        let client = CognitoClient(
            endpoint: try HTTPURL("http://127.0.0.1:5011/base"), region: "us-east-1",
            http: ControlPlaneClientForTests.shared, credentials: nil)
        #expect(client.headers(operation: "SignUp").first { $0.0 == "Host" }?.1 == "127.0.0.1:5011")
        #expect(client.endpoint.requestPath == "/base")
        let standard = CognitoClient(
            endpoint: try HTTPURL("https://cognito-idp.us-east-1.amazonaws.com:443"), region: "us-east-1",
            http: ControlPlaneClientForTests.shared, credentials: nil)
        // As curl writes it: no default port.
        #expect(
            standard.headers(operation: "SignUp").first { $0.0 == "Host" }?.1 == "cognito-idp.us-east-1.amazonaws.com")
        #expect(standard.endpoint.requestPath == "/")
    }
}
