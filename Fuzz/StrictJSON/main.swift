// StrictJSON, the parser of token headers and payloads (depth 8) and of JWKS documents. The input is the JSON
// text itself.

import Encoding
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let text = Array(UnsafeRawBufferPointer(start: data, count: size))
    let parsed: JSONValue
    do {
        parsed = try StrictJSON.parse(text)
    } catch {
        precondition(error.offset >= 0 && error.offset <= text.count, "error offset outside the text")
        precondition((try? StrictJSON.parse(text, maxDepth: 8)) == nil, "refused at depth 32, accepted at 8")
        return 0
    }
    // Only strings may hold non-ASCII bytes, and those are checked: accepted text is UTF-8.
    precondition(String(validating: text, as: UTF8.self) != nil, "accepted text that is not UTF-8")
    // The depth bound is exact: a value nested n deep parses with maxDepth n and not with n - 1.
    let depth = nesting(parsed)
    precondition(depth <= 32 && (try? StrictJSON.parse(text, maxDepth: depth)) == parsed, "depth bound")
    if depth > 0 { precondition((try? StrictJSON.parse(text, maxDepth: depth - 1)) == nil, "depth bound") }
    // Whitespace around a value changes nothing.
    precondition((try? StrictJSON.parse(Array(" \t\r\n".utf8) + text + [0x20])) == parsed, "whitespace")
    // One reading only: the value written out again parses to itself, and writing is then stable.
    let written = serialize(parsed)
    guard let reread = try? StrictJSON.parse(written) else { preconditionFailure("a value that cannot be read back") }
    precondition(reread == parsed && serialize(reread) == written, "a value that does not read back the same")
    // Any byte after a value is refused.
    precondition((try? StrictJSON.parse(text + [0x30])) == nil || isNumber(parsed), "trailing byte accepted")
    return 0
}

/// How deep the parser had to go: a scalar or an empty container is at the level of its parent.
private func nesting(_ value: JSONValue) -> Int {
    switch value {
    case .object(let members): return members.isEmpty ? 0 : 1 + members.values.map(nesting).max()!
    case .array(let elements): return elements.isEmpty ? 0 : 1 + elements.map(nesting).max()!
    default: return 0
    }
}

private func isNumber(_ value: JSONValue) -> Bool {
    if case .number = value { return true }
    return false
}

/// Canonical JSON: members sorted by key, strings escaped as authgate writes them, numbers as Swift prints them.
private func serialize(_ value: JSONValue) -> [UInt8] {
    switch value {
    case .object(let members):
        let body = members.sorted { $0.key < $1.key }.map {
            Array(JSONText.quoted($0.key).utf8) + [58] + serialize($0.value)
        }
        return [123] + Array(body.joined(separator: [44])) + [125]
    case .array(let elements):
        return [91] + Array(elements.map(serialize).joined(separator: [44])) + [93]
    case .string(let text):
        return Array(JSONText.quoted(text).utf8)
    case .number(let number):
        return Array("\(number)".utf8)
    case .bool(let flag):
        return Array((flag ? "true" : "false").utf8)
    case .null:
        return Array("null".utf8)
    }
}

FuzzDriver.run(fuzz)
