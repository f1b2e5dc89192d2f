import Dispatch
import Encoding
import Endpoints
import Foundation
package import HTTPClient
import Time

/// Credentials for SigV4. Never logged: `description` names the source and the key id only.
package struct AWSCredentials: Sendable, CustomStringConvertible {
    package let accessKeyID: String
    package let secretAccessKey: String
    package let sessionToken: String?
    /// Seconds since 1970 after which temporary credentials are no longer valid; nil for long-term keys.
    package let expiration: Int?
    package let source: String

    package init(
        accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, expiration: Int? = nil,
        source: String
    ) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
        self.source = source
    }

    package var description: String { "\(source) credentials for \(accessKeyID)" }
}

package struct CredentialError: Error, Sendable, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}

/// The standard AWS chain of SPEC.md "Secrets", first source that is configured wins, in the order of the Java,
/// Go, Python and PHP SDKs: environment keys, web identity from the environment, the shared files' profile (keys,
/// `credential_process` or web identity), the ECS/EKS container endpoint, EC2 instance metadata (IMDSv2).
/// Temporary credentials are refreshed `refreshMargin` seconds before they expire; concurrent callers share one
/// resolution. All state lives on the control-plane client's queue; `credential_process` runs on a queue of its own.
package final class CredentialProvider: @unchecked Sendable {
    private let environment: [String: String]
    private let client: ControlPlaneClient
    private let now: @Sendable () -> Int
    private let refreshMargin: Int
    private let processLimits: CredentialProcess.Limits
    private var cached: AWSCredentials?
    private var waiters: [@Sendable (Result<AWSCredentials, CredentialError>) -> Void] = []

    static let ecsHost = "http://169.254.170.2"
    static let imdsEndpoint = HTTPURL.origin(scheme: .http, host: .ipv4(IPv4Address(169, 254, 169, 254)))
    /// The EKS Pod Identity agent, which AWS_CONTAINER_CREDENTIALS_FULL_URI may name over plain http.
    static let eksAgentIPv4 = IPv4Address(169, 254, 170, 23)
    static let eksAgentIPv6 = IPv6Address(high: 0xFD00_0EC2_0000_0000, low: 0x23)
    static let ecsAgentIPv4 = IPv4Address(169, 254, 170, 2)
    static let imdsTokenTTLSeconds = 21600
    static let maxAuthorizationTokenBytes = 16 << 10
    /// Where `credential_process` runs and is waited for: never the control-plane queue nor a loop.
    private static let processQueue = DispatchQueue(label: "authgate.credential-process")

    package init(
        environment: [String: String], client: ControlPlaneClient, refreshMargin: Int = 300,
        processLimits: CredentialProcess.Limits = CredentialProcess.Limits(),
        now: @escaping @Sendable () -> Int = SystemClock.unixSeconds
    ) {
        self.environment = environment
        self.client = client
        self.refreshMargin = refreshMargin
        self.processLimits = processLimits
        self.now = now
    }

    /// Credentials valid for at least the refresh margin; `completion` runs on the client's queue.
    package func credentials(_ completion: @escaping @Sendable (Result<AWSCredentials, CredentialError>) -> Void) {
        client.queue.async { [self] in
            if let cached, !needsRefresh(cached) {
                completion(.success(cached))
                return
            }
            waiters.append(completion)
            guard waiters.count == 1 else { return }
            resolve { [self] result in
                dispatchPrecondition(condition: .onQueue(client.queue))
                var answer = result
                if case .success(let fresh) = result, let expiration = fresh.expiration, expiration <= now() {
                    answer = .failure(CredentialError("the \(fresh.source) credentials had expired when they came"))
                }
                switch answer {
                case .success(let credentials):
                    cached = credentials
                case .failure:
                    // A failed refresh keeps temporary credentials that have not expired yet.
                    if let cached, let expiration = cached.expiration, expiration > now() { answer = .success(cached) }
                }
                let waiting = waiters
                waiters = []
                for waiter in waiting { waiter(answer) }
            }
        }
    }

    private func needsRefresh(_ credentials: AWSCredentials) -> Bool {
        guard let expiration = credentials.expiration else { return false }
        return now() >= expiration - refreshMargin
    }

    private func resolve(_ done: @escaping @Sendable (Result<AWSCredentials, CredentialError>) -> Void) {
        do {
            if let fromEnvironment = try Self.fromEnvironment(environment) { return done(.success(fromEnvironment)) }
            if let webIdentity = try WebIdentity.fromEnvironment(environment, now: now()) {
                return fetchWebIdentity(webIdentity, done: done)
            }
            switch try SharedProfile.source(environment, now: now()) {
            case .keys(let credentials)?: return done(.success(credentials))
            case .process(let process)?: return runProcess(process, done: done)
            case .webIdentity(let webIdentity)?: return fetchWebIdentity(webIdentity, done: done)
            case nil: break
            }
        } catch {
            return done(.failure(error))
        }
        if let request = Self.containerRequest(environment) {
            switch request {
            case .success(let request): fetchContainer(request, done: done)
            case .failure(let error): done(.failure(error))
            }
            return
        }
        if environment["AWS_EC2_METADATA_DISABLED"]?.lowercased() == "true" {
            let tried = "none in the environment, web identity or the shared files, no container endpoint"
            return done(.failure(CredentialError("no AWS credentials: \(tried), and instance metadata is disabled")))
        }
        fetchInstanceMetadata(done: done)
    }

    // MARK: Environment

    static func fromEnvironment(_ environment: [String: String]) throws(CredentialError) -> AWSCredentials? {
        let keyID = environment["AWS_ACCESS_KEY_ID"] ?? ""
        let secret = environment["AWS_SECRET_ACCESS_KEY"] ?? ""
        if keyID.isEmpty && secret.isEmpty { return nil }
        guard !keyID.isEmpty, !secret.isEmpty else {
            throw CredentialError("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together")
        }
        let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        return AWSCredentials(accessKeyID: keyID, secretAccessKey: secret, sessionToken: token, source: "environment")
    }

    // MARK: Web identity and credential_process

    private func fetchWebIdentity(
        _ webIdentity: WebIdentity, done: @escaping @Sendable (Result<AWSCredentials, CredentialError>) -> Void
    ) {
        let request: ControlRequest
        do {
            request = try webIdentity.request()
        } catch {
            return done(.failure(error))
        }
        client.execute(request) { result in
            switch result {
            case .success(let response): done(webIdentity.parseAnswer(status: response.status, body: response.body))
            case .failure(let error): done(.failure(CredentialError("STS at \(webIdentity.endpoint): \(error)")))
            }
        }
    }

    private func runProcess(
        _ process: CredentialProcess, done: @escaping @Sendable (Result<AWSCredentials, CredentialError>) -> Void
    ) {
        let (environment, limits, queue) = (self.environment, processLimits, client.queue)
        Self.processQueue.async {
            let result = process.credentials(environment: environment, limits: limits)
            queue.async { done(result) }
        }
    }

    // MARK: ECS container endpoint

    static func containerRequest(_ environment: [String: String]) -> Result<ControlRequest, CredentialError>? {
        let url: HTTPURL
        if let relative = environment["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"], !relative.isEmpty {
            guard relative.hasPrefix("/") else {
                return .failure(CredentialError("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with /"))
            }
            do {
                url = try HTTPURL(ecsHost + relative)
            } catch {
                return .failure(CredentialError("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: \(error.description)"))
            }
        } else if let full = environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"], !full.isEmpty {
            do {
                url = try HTTPURL(full)
            } catch {
                return .failure(CredentialError("AWS_CONTAINER_CREDENTIALS_FULL_URI: \(error.description)"))
            }
            // As the AWS SDKs do: plain http only to the container agent or this machine.
            guard url.scheme == .https || allowsPlainHTTP(to: url.host) else {
                let rule = "must be https, or http to a loopback or ECS/EKS agent address"
                return .failure(CredentialError("AWS_CONTAINER_CREDENTIALS_FULL_URI \(rule)"))
            }
        } else {
            return nil
        }
        var headers: [(String, String)] = []
        if let file = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"], !file.isEmpty {
            guard case .success(let data?) = BoundedFile.read(file, limit: maxAuthorizationTokenBytes) else {
                return .failure(CredentialError("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(file) cannot be read"))
            }
            headers.append(
                ("Authorization", String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
            )
        } else if let token = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"], !token.isEmpty {
            headers.append(("Authorization", token))
        }
        return .success(
            ControlRequest(
                url: url.description, headers: headers, timeoutMilliseconds: 5000, maxResponseBytes: 64 << 10))
    }

    /// Loopback (127.0.0.0/8, ::1, "localhost") and the ECS and EKS agents' link-local addresses.
    static func allowsPlainHTTP(to host: URLHost) -> Bool {
        switch host {
        case .name(let name): return name == "localhost"
        case .ipv4(let address): return address.isLoopback || address == ecsAgentIPv4 || address == eksAgentIPv4
        case .ipv6(let address): return address == .loopback || address == eksAgentIPv6
        }
    }

    private func fetchContainer(
        _ request: ControlRequest, done: @escaping @Sendable (Result<AWSCredentials, CredentialError>) -> Void
    ) {
        client.execute(request) { result in
            switch result {
            case .success(let response) where response.status == 200:
                done(Self.parseCredentialDocument(response.body, source: "container endpoint"))
            case .success(let response):
                done(.failure(CredentialError("the container credentials endpoint answered \(response.status)")))
            case .failure(let error):
                done(.failure(CredentialError("the container credentials endpoint: \(error)")))
            }
        }
    }

    // MARK: EC2 instance metadata (IMDSv2)

    private func fetchInstanceMetadata(done: @escaping @Sendable (Result<AWSCredentials, CredentialError>) -> Void) {
        let base: HTTPURL
        let tokenURL: HTTPURL
        let rolesURL: HTTPURL
        let rolesPath = "/latest/meta-data/iam/security-credentials/"
        do {
            if let text = environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"], !text.isEmpty {
                base = try HTTPURL(text).withoutTrailingSlashes()
                guard base.query == nil else { throw EndpointParseError(.query, "a query (?…) is not allowed here") }
            } else {
                base = Self.imdsEndpoint
            }
            tokenURL = try base.appendingPath("/latest/api/token")
            rolesURL = try base.appendingPath(rolesPath)
        } catch {
            return done(.failure(CredentialError("AWS_EC2_METADATA_SERVICE_ENDPOINT: \(error)")))
        }
        @Sendable func failed(_ what: String) -> Result<AWSCredentials, CredentialError> {
            let tried = "no AWS credentials in the environment, web identity, shared files or container endpoint"
            return .failure(CredentialError("\(tried), and instance metadata at \(base): \(what)"))
        }
        let tokenRequest = ControlRequest(
            method: "PUT", url: tokenURL.description,
            headers: [("X-aws-ec2-metadata-token-ttl-seconds", String(Self.imdsTokenTTLSeconds))],
            timeoutMilliseconds: 1000, maxResponseBytes: 4096
        )
        let client = self.client
        client.execute(tokenRequest) { result in
            guard case .success(let tokenResponse) = result, tokenResponse.status == 200, !tokenResponse.body.isEmpty
            else {
                return done(failed("no session token (\(Self.describe(result)))"))
            }
            let token = String(decoding: tokenResponse.body, as: UTF8.self)
            let headers = [("X-aws-ec2-metadata-token", token)]
            client.execute(
                ControlRequest(
                    url: rolesURL.description, headers: headers, timeoutMilliseconds: 1000, maxResponseBytes: 4096)
            ) { result in
                guard case .success(let rolesResponse) = result, rolesResponse.status == 200 else {
                    return done(failed("no instance role (\(Self.describe(result)))"))
                }
                let role =
                    String(decoding: rolesResponse.body, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(
                        String.init) ?? ""
                guard !role.isEmpty, !role.contains("/"), let roleURL = try? base.appendingPath(rolesPath + role) else {
                    return done(failed("the instance role name is empty or malformed"))
                }
                client.execute(
                    ControlRequest(
                        url: roleURL.description, headers: headers, timeoutMilliseconds: 2000,
                        maxResponseBytes: 64 << 10)
                ) {
                    result in
                    guard case .success(let response) = result, response.status == 200 else {
                        return done(failed("no credentials for role \(role) (\(Self.describe(result)))"))
                    }
                    done(Self.parseCredentialDocument(response.body, source: "instance metadata"))
                }
            }
        }
    }

    private static func describe(_ result: Result<ControlResponse, ControlError>) -> String {
        switch result {
        case .success(let response): return "status \(response.status)"
        case .failure(let error): return error.description
        }
    }

    /// The JSON both the container endpoint and instance metadata return.
    static func parseCredentialDocument(_ body: [UInt8], source: String) -> Result<AWSCredentials, CredentialError> {
        guard let document = try? StrictJSON.parse(body), let fields = document.object else {
            return .failure(CredentialError("the \(source) answer is not a JSON object"))
        }
        if let code = fields["Code"]?.string, code != "Success" {
            return .failure(CredentialError("the \(source) answer has Code \(code)"))
        }
        guard let keyID = fields["AccessKeyId"]?.string, let secret = fields["SecretAccessKey"]?.string, !keyID.isEmpty,
            !secret.isEmpty
        else {
            return .failure(CredentialError("the \(source) answer lacks AccessKeyId or SecretAccessKey"))
        }
        var expiration: Int?
        if let text = fields["Expiration"]?.string {
            guard let seconds = RFC3339Timestamp.unixSeconds(text) else {
                return .failure(CredentialError("the \(source) answer has an unreadable Expiration"))
            }
            expiration = seconds
        }
        return .success(
            AWSCredentials(
                accessKeyID: keyID, secretAccessKey: secret, sessionToken: fields["Token"]?.string,
                expiration: expiration, source: source
            ))
    }
}
