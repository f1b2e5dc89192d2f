import Encoding
import EventLoop
import Foundation
import HTTP1
import Testing

@testable import Gateway

/// The access line, written as bytes, in both formats.
@Suite struct AccessLogTests {
    private func record(nanoseconds: UInt64, subject: String? = "sub \"1\"", upstream: Int? = 200) -> AccessRecord {
        var record = AccessRecord()
        record.requestID = RequestID("id-1")!
        record.client = "127.0.0.1"
        record.method = "GET"
        record.path = "/a\nb"
        record.route = "/"
        record.status = 200
        record.bytesSent = 1234
        record.durationNanoseconds = nanoseconds
        record.upstreamStatus = upstream
        record.subject = subject
        record.authorization = "ok"
        return record
    }

    private func line(_ format: LogFormat, _ record: AccessRecord) -> String {
        let out = ByteWriter()
        AccessLog(format: format).write(record, time: { $0.append("2026-12-01T00:00:00.000Z") }, to: out)
        return String(decoding: out.finish(), as: UTF8.self)
    }

    @Test func jsonLineIsValidJSONWithEveryField() throws {
        let text = line(.json, record(nanoseconds: 1_500_000))
        #expect(
            text == #"{"time":"2026-12-01T00:00:00.000Z","type":"access","request_id":"id-1","client":"127.0.0.1","#
                + #""method":"GET","path":"/a\nb","route":"/","status":200,"bytes_sent":1234,"duration_ms":1.5,"#
                + #""upstream_status":200,"sub":"sub \"1\"","auth":"ok"}"#)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["sub"] as? String == "sub \"1\"")
    }

    @Test(arguments: [
        (UInt64(0), "0.0"), (42_000, "0.042"), (42_400, "0.042"), (1_000_000, "1.0"), (1_230_000, "1.23"),
        (12_345_678, "12.346"), (100_500_000, "100.5"),
    ])
    func durationIsMillisecondsToTheMicrosecond(nanoseconds: UInt64, written: String) {
        #expect(line(.text, record(nanoseconds: nanoseconds)).contains(" duration_ms=\(written) "))
    }

    @Test func textLineQuotesWhatCouldForgeAField() {
        let text = line(.text, record(nanoseconds: 1_000, subject: nil, upstream: nil))
        #expect(
            text == #"2026-12-01T00:00:00.000Z access request_id=id-1 client=127.0.0.1 method=GET path="/a\nb""#
                + #" route="/" status=200 bytes_sent=1234 duration_ms=0.001 upstream_status=- sub=- auth="ok""#)
    }
}
