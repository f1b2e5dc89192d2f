import Foundation
import TestSupport
import Testing

/// A user signed up but left unconfirmed (a failed AdminConfirmSignUp, a SignUp whose answer was lost) signs in
/// the next time with the right password, when `auto_confirm` is on: Cognito says UserNotConfirmed only once the
/// password checked out, and the flow then confirms the user and authenticates again.
@Suite(.serialized) struct SignInRecoveryTests {
    typealias Client = SignInClient
    static let adminAuth = "AdminInitiateAuth:ADMIN_USER_PASSWORD_AUTH"

    /// moto: its InitiateAuth answers UserNotConfirmed as Cognito does (its AdminInitiateAuth lets unconfirmed
    /// users in, so the admin flow never learns of them there).
    @Test func anUnconfirmedMotoUserIsConfirmedBySigningIn() throws {
        let moto = try MotoServer()
        let pool = try moto.createPool(clientSecret: true)
        try moto.signUpUnconfirmed(pool: pool, username: "lena", password: Client.password)
        #expect(try moto.userStatus(pool: pool, username: "lena") == "UNCONFIRMED")
        let gateway = try RunningGateway(
            extra: "[signin]\nauth_flow = \"user_password\"\n", cognito: Client.cognitoSection(pool, moto),
            environment: Client.awsEnvironment.merging(["AUTHGATE_CLIENT_SECRET": pool.clientSecret]) { $1 })

        let wrong = try Client.post(gateway, "/signin", Client.credentials("lena", "Wrong-Horse-9"))
        #expect(wrong.status == 401, "a wrong password confirms nobody")
        #expect(try moto.userStatus(pool: pool, username: "lena") == "UNCONFIRMED")

        let answer = try Client.post(gateway, "/signin", Client.credentials("lena"))
        #expect(answer.status == 200)
        #expect(answer.json["is_new"] as? String == "true", "their first sign-in")
        #expect(answer.json["id_token"] is String)
        #expect(try moto.userStatus(pool: pool, username: "lena") == "CONFIRMED")
    }

    @Test func aFailedConfirmationIsMadeGoodByTheNextSignIn() throws {
        let cognito = try ScriptedCognito(script: ["AdminConfirmSignUp": ["500", "500", "500"]])
        let gateway = try RunningGateway(
            cognito: Client.cognitoSection(cognito), environment: Client.awsEnvironment)
        let failed = try Client.post(gateway, "/signin", Client.credentials("mia"))
        #expect(failed.status == 502 && failed.response.header("Retry-After") == "4")
        #expect(try cognito.isConfirmed("mia") == false, "signed up, left unconfirmed")

        let wrong = try Client.post(gateway, "/signin", Client.credentials("mia", "Wrong-Horse-9"))
        #expect(wrong.status == 401)
        #expect(try cognito.isConfirmed("mia") == false)

        let answer = try Client.post(gateway, "/signin", Client.credentials("mia"))
        #expect(answer.status == 200)
        #expect(answer.json["is_new"] as? String == "true")
        #expect(try cognito.isConfirmed("mia") == true)
        let operations = try cognito.operations()
        #expect(
            Array(operations.suffix(6)) == [
                "SignUp", Self.adminAuth,  // the wrong password: NotAuthorized, nothing confirmed
                "SignUp", Self.adminAuth, "AdminConfirmSignUp", Self.adminAuth,
            ])

        let again = try Client.post(gateway, "/signin", Client.credentials("mia"))
        #expect(again.status == 200 && again.json["is_new"] as? String == "false")
    }

    @Test func aSignUpWhoseAnswerWasLostStillSignsTheUserIn() throws {
        // Attempts of 1 s (a third of upstream_timeout): the first SignUp signs the user up but answers after 3 s;
        // its retry is told UsernameExists, and authentication finds the user unconfirmed.
        let cognito = try ScriptedCognito(script: ["SignUp": ["slow:3"]])
        let gateway = try RunningGateway(
            server: #"upstream_timeout = "3s""#, cognito: Client.cognitoSection(cognito),
            environment: Client.awsEnvironment)
        let answer = try Client.post(gateway, "/signin", Client.credentials("nora"))
        #expect(answer.status == 200)
        #expect(answer.json["is_new"] as? String == "true", "this request did sign the user up")
        #expect(try cognito.isConfirmed("nora") == true)
        #expect(
            try cognito.operations() == ["SignUp", "SignUp", Self.adminAuth, "AdminConfirmSignUp", Self.adminAuth])
        #expect(try cognito.requests().prefix(2).map(\.step) == ["slow:3", "ok"])
    }

    @Test func withoutAutoConfirmAnUnconfirmedUserIs403() throws {
        let cognito = try ScriptedCognito()
        let gateway = try RunningGateway(
            extra: "[signin]\nauto_confirm = false\n", cognito: Client.cognitoSection(cognito),
            environment: Client.awsEnvironment)
        let answer = try Client.post(gateway, "/signin", Client.credentials("otto"))
        #expect(answer.status == 403 && answer.message == "User is not confirmed")
        #expect(try cognito.operations() == ["SignUp", Self.adminAuth], "nothing confirms the user")
        #expect(try cognito.isConfirmed("otto") == false)
    }
}
