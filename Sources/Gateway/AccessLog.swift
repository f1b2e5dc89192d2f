import Encoding
import EventLoop
import JWT

/// Writes the access line of SPEC.md "Logs" for every exchange, in the configured format.
/// Never a token, a password or a secret: the record holds none.
final class AccessLog: ExchangeObserver {
    let format: LogFormat

    init(format: LogFormat) {
        self.format = format
    }

    func exchangeFinished(_ record: AccessRecord, loop: EventLoop) {
        loop.writeOutputLine(line(record, time: loop.iso8601Now()))
    }

    func line(_ record: AccessRecord, time: String) -> String {
        let durationMs = Double(record.durationNanoseconds) / 1_000_000
        let duration = (durationMs * 1000).rounded() / 1000
        switch format {
        case .json:
            var line = "{\"time\":\"\(time)\",\"type\":\"access\",\"request_id\":\(JSONText.quoted(record.requestID))"
            line += ",\"client\":\(JSONText.quoted(record.client)),\"method\":\(JSONText.quoted(record.method))"
            line += ",\"path\":\(JSONText.quoted(record.path)),\"route\":\(JSONText.quoted(record.route))"
            line += ",\"status\":\(record.status),\"bytes_sent\":\(record.bytesSent),\"duration_ms\":\(duration)"
            line += ",\"upstream_status\":\(record.upstreamStatus.map(String.init) ?? "null")"
            line += ",\"sub\":\(record.subject.map(JSONText.quoted) ?? "null")"
            line += ",\"auth\":\(JSONText.quoted(record.authorization))}"
            return line
        case .text:
            var line = "\(time) access request_id=\(record.requestID) client=\(record.client)"
            line +=
                " method=\(record.method) path=\(JSONText.quoted(record.path)) route=\(JSONText.quoted(record.route))"
            line += " status=\(record.status) bytes_sent=\(record.bytesSent) duration_ms=\(duration)"
            line += " upstream_status=\(record.upstreamStatus.map(String.init) ?? "-")"
            // sub comes from a token: quoted, so that its spaces cannot forge fields of the line.
            line += " sub=\(record.subject.map(JSONText.quoted) ?? "-") auth=\(JSONText.quoted(record.authorization))"
            return line
        }
    }
}
