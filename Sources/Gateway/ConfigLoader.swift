import Foundation
import TOMLKit

/// One problem in a configuration file, naming the key and, where known, the line.
package struct ConfigProblem: Error, Sendable, CustomStringConvertible, Hashable {
    package let key: String
    package let line: Int?
    package let message: String

    package var description: String {
        let location = line.map { " (line \($0))" } ?? ""
        return key.isEmpty ? "\(message)\(location)" : "\(key): \(message)\(location)"
    }
}

/// Every problem found in one pass: operators fix a file in one go, not one error per run.
package struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    package let problems: [ConfigProblem]
    package var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// Reads and validates the TOML configuration of SPEC.md. Unknown keys, wrong types and bad values are errors.
package enum ConfigLoader {
    package static func load(path: String) throws(ConfigErrors) -> GatewayConfig {
        try load(path: path, environment: ProcessInfo.processInfo.environment)
    }

    package static func load(path: String, environment: [String: String]) throws(ConfigErrors) -> GatewayConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigErrors(problems: [ConfigProblem(key: "", line: nil, message: "cannot read \(path)")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigErrors(problems: [ConfigProblem(key: "", line: nil, message: "\(path) is not UTF-8")])
        }
        return try parse(text, environment: environment)
    }

    package static func parse(_ text: String, environment: [String: String]) throws(ConfigErrors) -> GatewayConfig {
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigErrors(problems: [
                ConfigProblem(key: "", line: error.source.begin.line, message: "TOML syntax: \(error.description)")
            ])
        } catch {
            throw ConfigErrors(problems: [ConfigProblem(key: "", line: nil, message: "TOML syntax: \(error)")])
        }
        let problems = ProblemCollector(lines: KeyLines(text))
        let config = Schema(problems: problems, environment: environment).read(TableReader(root, path: "", problems))
        if !problems.list.isEmpty { throw ConfigErrors(problems: problems.list) }
        guard let config else { throw ConfigErrors(problems: [ConfigProblem(key: "", line: nil, message: "invalid")]) }
        return config
    }
}

final class ProblemCollector {
    private(set) var list: [ConfigProblem] = []
    let lines: KeyLines

    init(lines: KeyLines) {
        self.lines = lines
    }

    func add(_ key: String, _ message: String) {
        list.append(ConfigProblem(key: key, line: lines.line(of: key), message: message))
    }
}

/// Finds the line of a key ("server.listen", "route[1].upstream") in the source text, for messages.
/// It understands table headers and plain `key = value` lines; dotted keys and inline tables go unnamed.
struct KeyLines {
    private var lines: [String: Int] = [:]

    init(_ text: String) {
        var section = ""
        var routeIndex = -1
        /// How many [[name]] headers were seen so far, for "cognito.pool[1]" as for "route[1]".
        var arrayIndex: [String: Int] = [:]
        for (offset, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            let number = offset + 1
            if line.hasPrefix("[[") {
                let name = line.dropFirst(2).prefix { $0 != "]" }.trimmingCharacters(in: .whitespaces)
                if name == "route" { routeIndex += 1 }
                let index = arrayIndex[name, default: -1] + 1
                arrayIndex[name] = index
                section = "\(name)[\(index)]"
                lines[section] = lines[section] ?? number
            } else if line.hasPrefix("[") {
                let name = line.dropFirst().prefix { $0 != "]" }.trimmingCharacters(in: .whitespaces)
                section =
                    name.hasPrefix("route.") && routeIndex >= 0
                    ? "route[\(routeIndex)]" + name.dropFirst(5) : name
                lines[section] = lines[section] ?? number
            } else if let equals = line.firstIndex(of: "="), !line.hasPrefix("#") {
                let key = line[..<equals].trimmingCharacters(in: .whitespaces).trimmingCharacters(
                    in: CharacterSet(charactersIn: "\"'"))
                let path = section.isEmpty ? key : "\(section).\(key)"
                lines[path] = lines[path] ?? number
            }
        }
    }

    func line(of key: String) -> Int? {
        lines[key]
    }
}

/// Reads one TOML table, remembering which keys were used so that the rest can be reported as unknown.
final class TableReader {
    let table: TOMLTable
    let path: String
    let problems: ProblemCollector
    private var used: Set<String> = []

    init(_ table: TOMLTable, path: String, _ problems: ProblemCollector) {
        self.table = table
        self.path = path
        self.problems = problems
    }

    func keyPath(_ key: String) -> String { path.isEmpty ? key : key.isEmpty ? path : "\(path).\(key)" }

    func fail(_ key: String, _ message: String) {
        problems.add(keyPath(key), message)
    }

    private func value(_ key: String) -> (any TOMLValueConvertible)? {
        used.insert(key)
        return table[key]
    }

    func has(_ key: String) -> Bool { table[key] != nil }

    /// A key that may not stand here, refused with `message` rather than as unknown.
    func refuse(_ key: String, _ message: String) {
        used.insert(key)
        fail(key, message)
    }

    func string(_ key: String, default fallback: String) -> String {
        guard let raw = value(key) else { return fallback }
        guard let text = raw.string else {
            fail(key, "expected a string, found \(raw.type)")
            return fallback
        }
        guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            fail(key, "control characters are not allowed")
            return fallback
        }
        return text
    }

    func choice<Choice: RawRepresentable & CaseIterable>(_ key: String, default fallback: Choice) -> Choice
    where Choice.RawValue == String {
        let text = string(key, default: fallback.rawValue)
        guard let choice = Choice(rawValue: text) else {
            let allowed = Choice.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
            fail(key, "must be one of \(allowed), not \"\(text)\"")
            return fallback
        }
        return choice
    }

    func bool(_ key: String, default fallback: Bool) -> Bool {
        guard let raw = value(key) else { return fallback }
        guard let flag = raw.bool else {
            fail(key, "expected true or false, found \(raw.type)")
            return fallback
        }
        return flag
    }

    func int(_ key: String, default fallback: Int, range: ClosedRange<Int>) -> Int {
        guard let raw = value(key) else { return fallback }
        guard let number = raw.int else {
            fail(key, "expected an integer, found \(raw.type)")
            return fallback
        }
        guard range.contains(number) else {
            fail(key, "must be from \(range.lowerBound) to \(range.upperBound), not \(number)")
            return fallback
        }
        return number
    }

    func strings(_ key: String, default fallback: [String]) -> [String] {
        guard let raw = value(key) else { return fallback }
        guard let array = raw.array else {
            fail(key, "expected an array of strings, found \(raw.type)")
            return fallback
        }
        var result: [String] = []
        for (index, element) in array.enumerated() {
            guard let text = element.string else {
                fail(key, "element \(index) is a \(element.type), expected a string")
                continue
            }
            guard !text.isEmpty, !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                fail(key, "element \(index) must be a non-empty string without control characters")
                continue
            }
            result.append(text)
        }
        return result
    }

    func duration(_ key: String, default fallback: String, minimum: Nanoseconds = 0) -> Nanoseconds {
        let defaultValue = ConfigUnits.duration(fallback) ?? 0
        guard let raw = value(key) else { return defaultValue }
        guard let text = raw.string, let duration = ConfigUnits.duration(text) else {
            fail(key, "expected a duration such as \"250ms\", \"30s\", \"5m\" or \"1h\"")
            return defaultValue
        }
        if duration < minimum {
            fail(key, "must be at least \(ConfigUnits.describe(duration: minimum))")
            return defaultValue
        }
        return duration
    }

    func size(_ key: String, default fallback: UInt64, range: ClosedRange<UInt64>) -> UInt64 {
        guard let raw = value(key) else { return fallback }
        let size: UInt64?
        if let number = raw.int {
            size = number >= 0 ? UInt64(number) : nil
        } else if let text = raw.string {
            size = ConfigUnits.size(text)
        } else {
            size = nil
        }
        guard let size else {
            fail(key, "expected a size in bytes or a string such as \"16KiB\" or \"10MiB\"")
            return fallback
        }
        guard range.contains(size) else {
            fail(key, "must be from \(range.lowerBound) to \(range.upperBound) bytes, not \(size)")
            return fallback
        }
        return size
    }

    func table(_ key: String) -> TableReader? {
        guard let raw = value(key) else { return nil }
        guard let table = raw.table else {
            fail(key, "expected a table, found \(raw.type)")
            return nil
        }
        return TableReader(table, path: keyPath(key), problems)
    }

    func tables(_ key: String) -> [TableReader] {
        guard let raw = value(key) else { return [] }
        guard let array = raw.array else {
            fail(key, "expected an array of tables ([[\(keyPath(key))]]), found \(raw.type)")
            return []
        }
        var result: [TableReader] = []
        for (index, element) in array.enumerated() {
            guard let table = element.table else {
                fail("\(key)[\(index)]", "expected a table, found \(element.type)")
                continue
            }
            result.append(TableReader(table, path: "\(keyPath(key))[\(index)]", problems))
        }
        return result
    }

    /// Reports every key of this table that was never read.
    func rejectUnknownKeys() {
        for key in table.keys.sorted() where !used.contains(key) {
            fail(key, "unknown key")
        }
    }
}
