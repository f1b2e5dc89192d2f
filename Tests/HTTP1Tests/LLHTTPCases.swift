import Foundation
import TestSupport

/// One request case of llhttp's markdown test suite.
struct LLHTTPCase: CustomStringConvertible, Sendable {
    let file: String
    let name: String
    let input: [UInt8]
    let expectsError: Bool
    let messagesCompleted: Int

    var description: String { "\(file): \(name)" }

    /// Reads every case whose meta type is exactly "request" (llhttp's strict mode) from the request folder.
    static func strictRequestCases() throws -> [LLHTTPCase] {
        try strictCases(kind: "request")
    }

    /// The same for "response" cases.
    static func strictResponseCases() throws -> [LLHTTPCase] {
        try strictCases(kind: "response")
    }

    private static func strictCases(kind: String) throws -> [LLHTTPCase] {
        let folder = TestData.root.appendingPathComponent("llhttp/test/\(kind)")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".md") }
            .sorted()
        var cases: [LLHTTPCase] = []
        for file in files {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            cases += parse(text, file: file, kind: kind)
        }
        return cases
    }

    static func parse(_ text: String, file: String, kind: String) -> [LLHTTPCase] {
        var cases: [LLHTTPCase] = []
        let lines = text.components(separatedBy: "\n")
        var heading = ""
        var meta = ""
        var index = 0
        var pendingInput: String?
        while index < lines.count {
            let line = lines[index]
            if line.hasPrefix("#") {
                heading = line.drop { $0 == "#" }.trimmingCharacters(in: .whitespaces)
            } else if line.hasPrefix("<!-- meta=") {
                meta = line
            } else if line.hasPrefix("```http") {
                var block: [String] = []
                index += 1
                while index < lines.count && !lines[index].hasPrefix("```") {
                    block.append(lines[index])
                    index += 1
                }
                pendingInput = block.joined(separator: "\n")
            } else if line.hasPrefix("```log"), let input = pendingInput {
                var log: [String] = []
                index += 1
                while index < lines.count && !lines[index].hasPrefix("```") {
                    log.append(lines[index])
                    index += 1
                }
                pendingInput = nil
                // skipBody is a callback-level switch of llhttp's harness, not a parsing rule.
                if isStrict(meta, kind: kind) && !meta.contains("skipBody") {
                    cases.append(
                        LLHTTPCase(
                            file: file, name: heading, input: decode(input),
                            // Codes 21 and 22 are llhttp pausing on request of its callbacks, not refusals.
                            expectsError: log.contains {
                                $0.contains(" error code=") && !$0.contains("error code=21 ")
                                    && !$0.contains("error code=22 ")
                            },
                            messagesCompleted: log.filter { $0.hasSuffix("message complete") }.count
                        ))
                }
            }
            index += 1
        }
        return cases
    }

    private static func isStrict(_ meta: String, kind: String) -> Bool {
        let compact = meta.replacingOccurrences(of: " ", with: "")
        return compact.contains("\"type\":\"\(kind)\"")
    }

    /// llhttp's md-test rules: the block's final newline is dropped (the joined lines have none), a backslash
    /// at line end joins lines, newlines become CRLF, then \r \n \t \f \xHH escapes apply.
    static func decode(_ block: String) -> [UInt8] {
        let joined = block.replacingOccurrences(of: "\\\n", with: "")
        let crlf = joined.replacingOccurrences(of: "\n", with: "\r\n")
        var out: [UInt8] = []
        let bytes = Array(crlf.utf8)
        var position = 0
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\\"), position + 1 < bytes.count {
                let next = bytes[position + 1]
                switch next {
                case UInt8(ascii: "r"):
                    out.append(13)
                    position += 2
                    continue
                case UInt8(ascii: "n"):
                    out.append(10)
                    position += 2
                    continue
                case UInt8(ascii: "t"):
                    out.append(9)
                    position += 2
                    continue
                case UInt8(ascii: "f"):
                    out.append(12)
                    position += 2
                    continue
                case UInt8(ascii: "x") where position + 3 < bytes.count:
                    if let value = UInt8(
                        String(decoding: bytes[(position + 2)...(position + 3)], as: UTF8.self), radix: 16)
                    {
                        out.append(value)
                        position += 4
                        continue
                    }
                default: break
                }
            }
            out.append(byte)
            position += 1
        }
        return out
    }
}
