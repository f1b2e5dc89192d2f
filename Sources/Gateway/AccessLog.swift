import Encoding
import EventLoop
import JWT

/// Writes the access line of SPEC.md "Logs" for every exchange, in the configured format, as bytes straight into
/// the loop's output buffer. Never a token, a password or a secret: the record holds none.
final class AccessLog: ExchangeObserver {
    let format: LogFormat

    init(format: LogFormat) {
        self.format = format
    }

    func exchangeFinished(_ record: AccessRecord, loop: EventLoop) {
        let time = loop.iso8601Now()
        loop.writeOutputLine { out in write(record, time: time, to: &out) }
    }

    func write(_ record: AccessRecord, time: String, to out: inout [UInt8]) {
        switch format {
        case .json:
            out.append(contentsOf: "{\"time\":\"".utf8)
            out.append(contentsOf: time.utf8)
            out.append(contentsOf: "\",\"type\":\"access\",\"request_id\":".utf8)
            JSONText.appendQuoted(record.requestID, to: &out)
            out.append(contentsOf: ",\"client\":".utf8)
            JSONText.appendQuoted(record.client, to: &out)
            out.append(contentsOf: ",\"method\":".utf8)
            JSONText.appendQuoted(record.method, to: &out)
            out.append(contentsOf: ",\"path\":".utf8)
            JSONText.appendQuoted(record.path, to: &out)
            out.append(contentsOf: ",\"route\":".utf8)
            JSONText.appendQuoted(record.route, to: &out)
            out.append(contentsOf: ",\"status\":".utf8)
            appendDecimal(record.status, to: &out)
            out.append(contentsOf: ",\"bytes_sent\":".utf8)
            appendDecimal(record.bytesSent, to: &out)
            out.append(contentsOf: ",\"duration_ms\":".utf8)
            appendMilliseconds(record.durationNanoseconds, to: &out)
            out.append(contentsOf: ",\"upstream_status\":".utf8)
            if let status = record.upstreamStatus { appendDecimal(status, to: &out) } else { append("null", &out) }
            out.append(contentsOf: ",\"sub\":".utf8)
            if let subject = record.subject { JSONText.appendQuoted(subject, to: &out) } else { append("null", &out) }
            out.append(contentsOf: ",\"auth\":".utf8)
            JSONText.appendQuoted(record.authorization, to: &out)
            out.append(UInt8(ascii: "}"))
        case .text:
            append(time, &out)
            append(" access request_id=", &out)
            append(record.requestID, &out)
            append(" client=", &out)
            append(record.client, &out)
            append(" method=", &out)
            append(record.method, &out)
            append(" path=", &out)
            JSONText.appendQuoted(record.path, to: &out)
            append(" route=", &out)
            JSONText.appendQuoted(record.route, to: &out)
            append(" status=", &out)
            appendDecimal(record.status, to: &out)
            append(" bytes_sent=", &out)
            appendDecimal(record.bytesSent, to: &out)
            append(" duration_ms=", &out)
            appendMilliseconds(record.durationNanoseconds, to: &out)
            append(" upstream_status=", &out)
            if let status = record.upstreamStatus { appendDecimal(status, to: &out) } else { append("-", &out) }
            // sub comes from a token: quoted, so that its spaces cannot forge fields of the line.
            append(" sub=", &out)
            if let subject = record.subject { JSONText.appendQuoted(subject, to: &out) } else { append("-", &out) }
            append(" auth=", &out)
            JSONText.appendQuoted(record.authorization, to: &out)
        }
    }

    private func append(_ text: String, _ out: inout [UInt8]) {
        out.append(contentsOf: text.utf8)
    }

    private func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        let start = out.count
        var remaining = value.magnitude
        repeat {
            out.append(UInt8(ascii: "0") + UInt8(remaining % 10))
            remaining /= 10
        } while remaining > 0
        out[start...].reverse()
    }

    /// Milliseconds to the microsecond, written as a JSON number the way a Double prints: "1.5", "0.042", "3.0".
    private func appendMilliseconds(_ nanoseconds: UInt64, to out: inout [UInt8]) {
        let microseconds = (nanoseconds + 500) / 1000
        appendDecimal(Int(microseconds / 1000), to: &out)
        out.append(UInt8(ascii: "."))
        var fraction = Int(microseconds % 1000)
        guard fraction != 0 else {
            out.append(UInt8(ascii: "0"))
            return
        }
        var digits = 3
        while fraction % 10 == 0 {
            fraction /= 10
            digits -= 1
        }
        let start = out.count
        appendDecimal(fraction, to: &out)
        // Leading zeros of the fraction: 42 µs over three digits is "042".
        out.insert(contentsOf: repeatElement(UInt8(ascii: "0"), count: digits - (out.count - start)), at: start)
    }
}
