import Encoding
import EventLoop
import HTTP1
import JWT

/// Writes the access line of SPEC.md "Logs" for every exchange, in the configured format, as bytes straight into
/// the loop's output buffer. Never a token, a password or a secret: the record holds none.
final class AccessLog: ExchangeObserver {
    let format: LogFormat

    init(format: LogFormat) {
        self.format = format
    }

    func exchangeFinished(_ record: AccessRecord, loop: EventLoop) {
        loop.writeOutputLine { out in write(record, time: { loop.appendISO8601Now(to: $0) }, to: out) }
    }

    /// `time` appends the line's timestamp where it belongs.
    func write(_ record: AccessRecord, time: (ByteWriter) -> Void, to out: ByteWriter) {
        switch format {
        case .json:
            out.append("{\"time\":\"" as StaticString)
            time(out)
            out.append("\",\"type\":\"access\",\"request_id\":" as StaticString)
            // An id is [A-Za-z0-9._-] only (RequestID): nothing in it needs an escape.
            out.append(UInt8(ascii: "\""))
            record.requestID.withBytes { out.append($0) }
            out.append(UInt8(ascii: "\""))
            out.append(",\"client\":" as StaticString)
            JSONText.appendQuoted(record.client, to: out)
            out.append(",\"method\":" as StaticString)
            JSONText.appendQuoted(record.method, to: out)
            out.append(",\"path\":" as StaticString)
            JSONText.appendQuoted(record.path, to: out)
            out.append(",\"route\":" as StaticString)
            JSONText.appendQuoted(record.route, to: out)
            out.append(",\"status\":" as StaticString)
            Digits.appendDecimal(record.status, to: out)
            out.append(",\"bytes_sent\":" as StaticString)
            Digits.appendDecimal(record.bytesSent, to: out)
            out.append(",\"duration_ms\":" as StaticString)
            appendMilliseconds(record.durationNanoseconds, to: out)
            out.append(",\"upstream_status\":" as StaticString)
            if let status = record.upstreamStatus {
                Digits.appendDecimal(status, to: out)
            } else {
                append("null", out)
            }
            out.append(",\"sub\":" as StaticString)
            if let subject = record.subject { JSONText.appendQuoted(subject, to: out) } else { append("null", out) }
            out.append(",\"auth\":" as StaticString)
            JSONText.appendQuoted(record.authorization, to: out)
            out.append(UInt8(ascii: "}"))
        case .text:
            time(out)
            append(" access request_id=", out)
            record.requestID.withBytes { out.append($0) }
            append(" client=", out)
            append(record.client, out)
            append(" method=", out)
            append(record.method, out)
            append(" path=", out)
            JSONText.appendQuoted(record.path, to: out)
            append(" route=", out)
            JSONText.appendQuoted(record.route, to: out)
            append(" status=", out)
            Digits.appendDecimal(record.status, to: out)
            append(" bytes_sent=", out)
            Digits.appendDecimal(record.bytesSent, to: out)
            append(" duration_ms=", out)
            appendMilliseconds(record.durationNanoseconds, to: out)
            append(" upstream_status=", out)
            if let status = record.upstreamStatus { Digits.appendDecimal(status, to: out) } else { append("-", out) }
            // sub comes from a token: quoted, so that its spaces cannot forge fields of the line.
            append(" sub=", out)
            if let subject = record.subject { JSONText.appendQuoted(subject, to: out) } else { append("-", out) }
            append(" auth=", out)
            JSONText.appendQuoted(record.authorization, to: out)
        }
    }

    private func append(_ text: String, _ out: ByteWriter) {
        out.append(text)
    }

    /// Milliseconds to the microsecond, written as a JSON number the way a Double prints: "1.5", "0.042", "3.0".
    private func appendMilliseconds(_ nanoseconds: UInt64, to out: ByteWriter) {
        let microseconds = (nanoseconds + 500) / 1000
        Digits.appendDecimal(Int(microseconds / 1000), to: out)
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
        // Leading zeros of the fraction: 42 µs over three digits is "042".
        Digits.appendDecimal(UInt64(fraction), width: digits, to: out)
    }
}
