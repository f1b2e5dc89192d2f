import Encoding
import Foundation
import TestSupport

/// What the sign-in paths' tests share: the request they send, the answer as JSON, the configurations that point
/// the gateway at moto or at the scripted Cognito.
enum SignInClient {
    static let password = "Correct-Horse-9"
    /// moto and the scripted Cognito accept any signature, but the signed calls must still find credentials.
    static let awsEnvironment = [
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true",
    ]

    struct Answer {
        let status: Int
        let json: [String: Any]
        let response: RawResponse
        var message: String? { json["msg"] as? String }
    }

    /// One request on a new connection; a flow with retries may take seconds, hence the long receive timeout.
    static func post(_ gateway: RunningGateway, _ path: String, _ body: String, method: String = "POST") throws
        -> Answer
    {
        let response = try RawClient(port: gateway.publicPort, timeoutSeconds: 20).exchange(
            "\(method) \(path) HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)")
        let json = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
        return Answer(status: response.status, json: json, response: response)
    }

    static func credentials(_ username: String, _ password: String = SignInClient.password) -> String {
        #"{"username":"\#(username)","password":"\#(password)"}"#
    }

    static func refresh(_ token: String, username: String? = nil) -> String {
        guard let username else { return #"{"refresh_token":"\#(token)"}"# }
        return #"{"refresh_token":"\#(token)","username":"\#(username)"}"#
    }

    static func cognitoSection(_ pool: MotoServer.Pool, _ moto: MotoServer) -> String {
        """
        [cognito]
        region = "\(pool.region)"
        user_pool_id = "\(pool.userPoolID)"
        client_ids = ["\(pool.clientID)"]
        endpoint_url = "\(moto.endpoint)"
        """
    }

    static func cognitoSection(_ cognito: ScriptedCognito) -> String {
        """
        [cognito]
        region = "us-east-1"
        user_pool_id = "us-east-1_Scripted"
        client_ids = ["scriptedclient"]
        endpoint_url = "\(cognito.endpoint)"
        """
    }

    /// The `sub` of a token, read without verifying it.
    static func subject(of token: String) -> String? {
        let parts = token.split(separator: ".")
        guard parts.count == 3, let payload = Base64URL.decode(parts[1].utf8),
            let claims = (try? JSONSerialization.jsonObject(with: Data(payload))) as? [String: Any]
        else { return nil }
        return claims["sub"] as? String
    }

    /// One sample of the admin listener's /metrics, or nil when the series is absent.
    static func metric(_ gateway: RunningGateway, _ series: String) throws -> Double? {
        let text = try RawClient(port: gateway.adminPort).exchange("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n").bodyText
        return text.split(separator: "\n").first { $0.hasPrefix(series + " ") }
            .flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }
    }
}
