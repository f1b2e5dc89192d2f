import Encoding
import Foundation
import JWT
package import Logging
import Synchronization
import Time

/// swift-log handler for authgate's event lines (startup, reload, JWKS, upstream events) on stdout,
/// as JSON objects or `key=value` text. Fields are the metadata; the message is a short event name.
package struct EventLogHandler: LogHandler {
    package var metadata: Logger.Metadata = [:]
    package var logLevel: Logger.Level
    private let label: String
    private let format: LogFormat

    private static let output = Mutex<Void>(())
    /// The timestamp text of the current second, shared by every logger (one formatter, not one per line).
    private static let clock = Mutex(SystemClock())

    package init(label: String, format: LogFormat, level: LogLevel) {
        self.label = label
        self.format = format
        self.logLevel = Logger.Level(rawValue: level.rawValue) ?? .info
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { $1 } }
        let time = Self.clock.withLock { $0.iso8601() }
        var line: String
        switch format {
        case .json:
            line =
                "{\"time\":\"\(time)\",\"level\":\"\(event.level.rawValue)\",\"event\":\(JSONText.quoted(event.message.description))"
            for key in fields.keys.sorted() {
                line += ",\(JSONText.quoted(key)):\(JSONText.quoted(fields[key]!.description))"
            }
            line += "}"
        case .text:
            line = "\(time) \(event.level.rawValue) \(event.message)"
            for key in fields.keys.sorted() {
                let value = fields[key]!.description
                line += " \(key)=" + (value.contains(" ") || value.isEmpty ? JSONText.quoted(value) : value)
            }
        }
        line += "\n"
        Self.output.withLock { _ in
            FileHandle.standardOutput.write(Data(line.utf8))
        }
    }
}
