import Encoding
import Foundation
import TestSupport
import Testing

/// What the scanner said about a text: whether it is an object, and the spans of the names asked for.
private struct Scan {
    let isObject: Bool
    let members: [Int: JSONSpan]
}

private func scan(_ text: [UInt8], names: JSONMemberNames, maxDepth: Int = 8) -> Scan? {
    text.withUnsafeBytes { raw in
        var members: [Int: JSONSpan] = [:]
        guard
            let isObject = try? StrictJSONScanner.scanObject(
                raw, maxDepth: maxDepth, names: names,
                member: { name, span in
                    #expect(members.updateValue(span, forKey: name) == nil, "a name reported twice")
                })
        else { return nil }
        return Scan(isObject: isObject, members: members)
    }
}

/// The value a span points at, built as StrictJSON would build it.
private func value(of span: JSONSpan, in text: [UInt8]) -> JSONValue? {
    text.withUnsafeBytes { raw in
        switch span.kind {
        case .string: return .string(StrictJSONScanner.string(span, in: raw))
        case .number: return .number(StrictJSONScanner.number(span, in: raw))
        case .bool: return .bool(text[span.range.lowerBound] == UInt8(ascii: "t"))
        case .null: return .null
        case .object, .array: return try? StrictJSON.parse(Array(text[span.range]))
        }
    }
}

/// The scanner and StrictJSON agree: both refuse, or both accept and the named members are the same values.
private func expectAgreement(
    _ text: [UInt8], names: [String], maxDepth: Int = 8, sourceLocation: SourceLocation = #_sourceLocation
) -> Bool {
    let memberNames = JSONMemberNames(names)
    let tree = try? StrictJSON.parse(text, maxDepth: maxDepth)
    let scanned = scan(text, names: memberNames, maxDepth: maxDepth)
    let shown = String(decoding: text, as: UTF8.self).debugDescription
    #expect(
        (tree == nil) == (scanned == nil), "StrictJSON and the scanner disagree on \(shown)",
        sourceLocation: sourceLocation)
    guard let tree, let scanned else { return false }
    #expect((tree.object != nil) == scanned.isObject, "object or not: \(shown)", sourceLocation: sourceLocation)
    let object = tree.object ?? [:]
    for (index, name) in names.enumerated() {
        let expected = object[name]
        let found = scanned.members[index].flatMap { value(of: $0, in: text) }
        #expect(found == expected, "member \(name) of \(shown)", sourceLocation: sourceLocation)
    }
    return true
}

@Suite struct StrictJSONScannerTests {
    static let names = ["iss", "sub", "aud", "exp", "a", "nested", "k"]

    static let seeds: [String] = [
        #"{"sub":"b4a8e2d1-6c3f","email_verified":true,"iss":"https:\/\/cognito-idp.eu-west-1.amazonaws.com\/x","#
            + #""aud":["c1",2,null],"exp":1700003600,"iat":1.7e9,"custom:x":{"a":[1,-0,0.5,1E-3,{"b":null}]}}"#,
        #"{"a":"\u00e9\ud83d\ude00\n\"\\\/\b\f\r\t","é":"é","e\u0302":1,"nested":{"é":[],"e\u0302":{}},"k":-1.5e+10}"#,
        #"{"nested":[[[[[[[1]]]]]]],"k":{"a":{"a":{"a":{"a":{"a":{"a":null}}}}}}}"#,
        "{" + (0..<40).map { #""key\#($0)":\#($0)"# }.joined(separator: ",") + #","a":"last"}"#,
        " \t\r\n{ \"a\" : [ 1 , { \"b\" : \"c\" } ] ,\n\"exp\"\t:\r0 } \n",
        #"[{"a":1},{"a":2},"x",-0.0e-0]"#,
    ]

    @Test func theSeedsAreValidAndAgree() {
        for seed in Self.seeds { #expect(expectAgreement(Array(seed.utf8), names: Self.names), "\(seed)") }
    }

    /// Thousands of mutations of the seeds (bytes replaced by the bytes JSON cares about, dropped, doubled,
    /// slices repeated, which makes duplicate keys): the scanner refuses exactly what StrictJSON refuses.
    @Test func mutatedTextsAreJudgedAsStrictJSONJudgesThem() {
        var random = SplitMix64(state: 20_261_201)
        let interesting = Array(#""\{}[]:,0-+eE.u tn1"#.utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xBF, 0xC3, 0xED, 0xF4, 0xFF]
        var accepted = 0
        var total = 0
        for seed in Self.seeds {
            for _ in 0..<800 {
                var text = Array(seed.utf8)
                for _ in 0..<Int.random(in: 1...3, using: &random) where !text.isEmpty {
                    let at = Int.random(in: 0..<text.count, using: &random)
                    switch Int.random(in: 0..<4, using: &random) {
                    case 0: text[at] = interesting.randomElement(using: &random)!
                    case 1: text.remove(at: at)
                    case 2: text.insert(interesting.randomElement(using: &random)!, at: at)
                    default:
                        let end = min(text.count, at + Int.random(in: 1...12, using: &random))
                        let to = Int.random(in: 0...text.count, using: &random)
                        text.insert(contentsOf: text[at..<end], at: to)
                    }
                }
                total += 1
                if expectAgreement(text, names: Self.names) { accepted += 1 }
            }
        }
        // Enough of both to mean something.
        #expect(accepted > total / 50 && accepted < total / 2, "\(accepted) of \(total) accepted")
    }

    @Test(arguments: [
        #"{"a":1,"a":2}"#, #"{"a":1,"\u0061":2}"#, #"{"é":1,"e\u0301":2}"#, #"{"é":1,"\u00e9":2}"#,
        #"{"x":{"K":1,"\u212a":2}}"#, #"{"x":[{"a":1},{"b":1,"b":2}]}"#, #"{"x":{"a":1},"x":{"a":1}}"#,
    ])
    func duplicateKeysAreRefusedAtAnyDepthAsSwiftStringsCompare(text: String) {
        #expect(StrictJSON.parseFails(text))
        #expect(!expectAgreement(Array(text.utf8), names: Self.names))
    }

    @Test func duplicatesBeyondTheFastPathAreFound() {
        // 40 keys in one object, and keys of open objects nested deep enough to fill the scanner's key stack.
        let many = (0..<40).map { #""k\#($0)":0"# }
        let flat = "{" + (many + [#""k3":1"#]).joined(separator: ",") + "}"
        var nested = #"{"a":1,"b":2,"a":3}"#
        for level in 0..<6 {
            nested = "{" + (0..<6).map { #""l\#(level)k\#($0)":0"# }.joined(separator: ",") + #","x":\#(nested)}"#
        }
        for text in [flat, nested, nested.replacingOccurrences(of: #""a":3"#, with: #""c":3"#)] {
            _ = expectAgreement(Array(text.utf8), names: Self.names, maxDepth: 32)
        }
        #expect(StrictJSON.parseFails(flat))
    }

    @Test func depthLimitIsTheSame() {
        for depth in 6...10 {
            let arrays = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
            let withScalar = String(repeating: "[", count: depth) + "1" + String(repeating: "]", count: depth)
            for inner in [arrays, withScalar] { _ = expectAgreement(Array(#"{"a":\#(inner)}"#.utf8), names: ["a"]) }
        }
    }

    @Test(arguments: [
        "0", "-0", "1", "-1", "10", "123456789012345", "1234567890123456", "-999999999999999", "0.5", "-0.0", "1e5",
        "1E+5", "1e-5", "1.5e300", "1e308", "1e309", "-1e309", "1e-400", "2.2250738585072014e-308", "01", "-01", "1.",
        ".5", "-", "1e", "1e+", "+1", "0x10", "1_000", String(repeating: "9", count: 64),
        String(repeating: "9", count: 65), "1" + String(repeating: "0", count: 62) + ".5", "Infinity", "NaN",
    ])
    func numbersOfEveryShapeAreJudgedAlike(number: String) {
        _ = expectAgreement(Array(#"{"exp":\#(number)}"#.utf8), names: ["exp"])
        _ = expectAgreement(Array(#"{"a":[\#(number)]}"#.utf8), names: ["a"])
    }

    /// Every byte string of one and two bytes, and three and four bytes around every boundary of UTF-8's table:
    /// a string is accepted exactly when Swift's own validation takes its bytes.
    @Test func utf8IsValidatedAsSwiftValidatesIt() {
        let edges: [UInt8] = [
            0x00, 0x20, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED,
            0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF,
        ]
        var sequences: [[UInt8]] = (0...255).map { [UInt8($0)] }
        for first in 0...255 { for second in 0...255 { sequences.append([UInt8(first), UInt8(second)]) } }
        for a in edges { for b in edges { for c in edges { sequences.append([a, b, c]) } } }
        for a in edges where a >= 0xF0 {
            for b in edges { for c in edges { for d in edges { sequences.append([a, b, c, d]) } } }
        }
        let names = JSONMemberNames(["s"])
        for bytes in sequences {
            let text = Array(#"{"s":""#.utf8) + bytes + Array(#""}"#.utf8)
            // Quotes and backslashes are JSON's business, not UTF-8's: the escape tests have them.
            if bytes.contains(UInt8(ascii: "\"")) || bytes.contains(UInt8(ascii: "\\")) { continue }
            let expected = !bytes.contains { $0 < 0x20 } && String(validating: bytes, as: UTF8.self) != nil
            let scanned = scan(text, names: names)
            guard (scanned != nil) == expected else {
                Issue.record("bytes \(bytes): scanner \(scanned != nil), Swift \(expected)")
                return
            }
            if let scanned, let span = scanned.members[0] {
                #expect(span.isPlainASCII == !bytes.contains { $0 >= 0x80 })
                #expect(value(of: span, in: text) == .string(String(decoding: bytes, as: UTF8.self)))
            }
        }
    }

    @Test(arguments: [
        #"\u0000"#, #"\uD83D\uDE00"#, #"\ud83d"#, #"\ude00"#, #"\uD83Dx"#, #"\uD83D\u0041"#, #"\uDBFF\uDFFF"#,
        #"\u00"#, #"\u00G0"#, #"\x"#, #"\'"#, #"\"#, #"\/\\\""#, "\\\u{7F}",
    ])
    func escapesAreJudgedAlike(escape: String) {
        _ = expectAgreement(Array(#"{"a":"\#(escape)"}"#.utf8), names: ["a"])
        _ = expectAgreement(Array(#"{"\#(escape)":1}"#.utf8), names: ["a"])
    }

    /// Member names are matched as bytes, which Swift's String equality agrees with only for names without the
    /// three ASCII characters that a non-ASCII one is canonically equivalent to. Unicode's stability policy
    /// freezes canonical decompositions, so these three stay the only ones (checked once over every scalar).
    @Test func theASCIICharactersWithCanonicalTwinsAreTheThreeNamesMayNotHold() {
        #expect("\u{212A}" == "K" && "\u{37E}" == ";" && "\u{1FEF}" == "`")
        #expect(Array("\u{212A}".utf8) != Array("K".utf8))
        #expect(["\u{212A}": 1]["K"] == 1)
    }
}

extension StrictJSON {
    fileprivate static func parseFails(_ text: String) -> Bool {
        (try? parse(Array(text.utf8))) == nil
    }
}
