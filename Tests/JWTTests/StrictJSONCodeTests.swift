import Encoding
import Testing

/// Each refusal of the strict parser names its kind; the description keeps the detail and the offset says where.
@Suite struct StrictJSONCodeTests {
    @Test(arguments: [
        (#"{"a":1,"a":2}"#, StrictJSON.ParseError.Code.duplicateMember),
        (#"{"a":1} x"#, .syntax),
        (#"{"a":01}"#, .invalidNumber),
        (#"{"a":1e999}"#, .invalidNumber),
        (#"{"a":"\ud800"}"#, .invalidString),
        (#"{"a":"\x"}"#, .invalidString),
        (#"{"a":tru"#, .truncated),
        (#"{"a":"b"#, .truncated),
        (#"[[[1]]]"#, .tooDeep),
    ])
    func refusalsNameTheirKind(text: String, code: StrictJSON.ParseError.Code) {
        let error = #expect(throws: StrictJSON.ParseError.self) { try StrictJSON.parse(Array(text.utf8), maxDepth: 2) }
        #expect(error?.code == code, "\(error?.description ?? "accepted")")
    }

    @Test func duplicateMemberSaysWhichAndWhere() {
        let error = #expect(throws: StrictJSON.ParseError.self) { try StrictJSON.parse(Array(#"{"a":1,"a":2}"#.utf8)) }
        #expect(error?.description == #"duplicate member "a""#)
        #expect(error?.offset == 12)
    }
}
