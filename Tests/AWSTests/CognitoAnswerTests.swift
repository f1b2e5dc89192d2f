import Testing

@testable import AWS

/// How Cognito's answers become results: the exception in `__type`, or why there is no answer to act on.
@Suite struct CognitoAnswerTests {
    @Test(arguments: [
        (400, #"{"__type":"com.amazonaws.cognito#UsernameExistsException","message":"m"}"#, "UsernameExistsException"),
        (400, #"{"__type":"NotAuthorizedException","message":"Incorrect username or password."}"#, "NotAuthorized"),
        (400, #"{"__type":"CodeMismatchException","message":"m"}"#, "otherException"),
        (400, #"{"message":"no type"}"#, "malformedAnswer"),
        (403, "<html>denied</html>", "malformedAnswer"),
        (200, "not json", "malformedAnswer"),
        (500, #"{"__type":"InternalErrorException"}"#, "unavailable"),
    ])
    func errorAnswersBecomeCodes(status: Int, body: String, code: String) {
        guard case .failure(let error) = CognitoClient.interpret(status: status, body: Array(body.utf8)) else {
            Issue.record("status \(status) was taken as an answer")
            return
        }
        #expect(error.code.description.hasPrefix(code))
    }

    @Test func exceptionKeepsItsNameAndMessageForTheLog() {
        let body = #"{"__type":"com.amazonaws.cognito#InvalidPasswordException","message":"Password did not conform"}"#
        guard case .failure(let error) = CognitoClient.interpret(status: 400, body: Array(body.utf8)) else {
            Issue.record("a 400 was taken as an answer")
            return
        }
        #expect(error.code == .invalidPassword)
        #expect(error.message == "Password did not conform")
        #expect(error.description == "InvalidPasswordException: Password did not conform")
    }

    @Test(arguments: ["1e300", "-1", "1.5", #""3600""#])
    func expiresInOutOfRangeIsMalformedNotACrash(expiresIn: String) {
        let body = #"{"AuthenticationResult":{"IdToken":"i","AccessToken":"a","ExpiresIn":\#(expiresIn)}}"#
        let result = CognitoClient.interpret(status: 200, body: Array(body.utf8)).flatMap(
            CognitoClient.authenticationResult)
        guard case .failure(let error) = result else {
            Issue.record("ExpiresIn \(expiresIn) was accepted")
            return
        }
        #expect(error.code == .malformedAnswer)
    }

    @Test func expiresInIsReadOrDefaultsToAnHour() {
        for (field, seconds) in [(#","ExpiresIn":300"#, 300), ("", 3600)] {
            let body = #"{"AuthenticationResult":{"IdToken":"i","AccessToken":"a"\#(field)}}"#
            let result = CognitoClient.interpret(status: 200, body: Array(body.utf8)).flatMap(
                CognitoClient.authenticationResult)
            guard case .success(.authenticated(let tokens)) = result else {
                Issue.record("\(body) was refused")
                continue
            }
            #expect(tokens.expiresIn == seconds)
        }
    }

    @Test func refreshRequestsTakeTheConfiguredFlowAndTheSecretHash() {
        let admin = CognitoClient.refreshBody(
            userPoolID: "us-east-1_EXAMPLE", clientID: "client", refreshToken: "eyJ.a\"b", secretHash: "hash=")
        #expect(admin.operation == "AdminInitiateAuth")
        #expect(
            String(decoding: admin.body, as: UTF8.self)
                == #"{"UserPoolId":"us-east-1_EXAMPLE","ClientId":"client","AuthFlow":"REFRESH_TOKEN_AUTH","#
                + #""AuthParameters":{"REFRESH_TOKEN":"eyJ.a\"b","SECRET_HASH":"hash="}}"#)
        let user = CognitoClient.refreshBody(userPoolID: nil, clientID: "client", refreshToken: "t", secretHash: nil)
        #expect(user.operation == "InitiateAuth")
        #expect(
            String(decoding: user.body, as: UTF8.self)
                == #"{"ClientId":"client","AuthFlow":"REFRESH_TOKEN_AUTH","AuthParameters":{"REFRESH_TOKEN":"t"}}"#)
    }

    @Test func aFiveHundredKeepsItsStatusForTheRetryPolicy() {
        guard case .failure(let error) = CognitoClient.interpret(status: 503, body: []) else {
            Issue.record("a 503 was taken as an answer")
            return
        }
        #expect(error.code == .unavailable && error.httpStatus == 503 && error.exceptionName == nil)
    }

    @Test func authenticationAnswerWithoutTokensIsMalformed() {
        let body = Array(#"{"AuthenticationResult":{"AccessToken":"a"}}"#.utf8)
        let result = CognitoClient.interpret(status: 200, body: body).flatMap(CognitoClient.authenticationResult)
        guard case .failure(let error) = result else {
            Issue.record("an AuthenticationResult without tokens was accepted")
            return
        }
        #expect(error.code == .malformedAnswer)
    }
}
