import Foundation
import Testing
import Time

@Suite struct SystemClockTests {
    /// Unix second and the Date header and log timestamp (at .0457 s past it) of that second.
    @Test(
        arguments: [
            (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT", "1994-11-06T08:49:37.045Z"),
            (0, "Thu, 01 Jan 1970 00:00:00 GMT", "1970-01-01T00:00:00.045Z"),
            (1_709_210_096, "Thu, 29 Feb 2024 12:34:56 GMT", "2024-02-29T12:34:56.045Z"),
            (4_102_444_799, "Thu, 31 Dec 2099 23:59:59 GMT", "2099-12-31T23:59:59.045Z"),
        ] as [(Int, String, String)])
    func textOfAFixedTime(second: Int, httpDate: String, iso8601: String) {
        var clock = SystemClock()
        #expect(clock.httpDate(unixSeconds: second) == httpDate)
        #expect(clock.iso8601(wallClockNanoseconds: Int64(second) * 1_000_000_000 + 45_700_000) == iso8601)
        // The cached second serves the next reading of the same second with its own fraction.
        #expect(clock.iso8601(wallClockNanoseconds: Int64(second) * 1_000_000_000 + 999_999_999).hasSuffix(".999Z"))
        #expect(clock.iso8601(wallClockNanoseconds: Int64(second) * 1_000_000_000 + 3_000_000).hasSuffix(".003Z"))
        #expect(clock.httpDate(unixSeconds: second + 1) != httpDate)
    }

    /// The event log's timestamps were ISO8601DateFormatter's with fractional seconds: the same text.
    @Test func logTimestampsReadAsFoundationFormatsThem() throws {
        var clock = SystemClock()
        let now = SystemClock.wallClockNanoseconds()
        let text = clock.iso8601(wallClockNanoseconds: now)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let date = try #require(formatter.date(from: text))
        #expect(abs(date.timeIntervalSince1970 - Double(now) / 1e9) < 0.001)
        #expect(formatter.string(from: Date(timeIntervalSince1970: Double(now / 1_000_000) / 1000)) == text)
    }

    @Test func readingsAgree() {
        let wall = SystemClock.wallClockSeconds()
        #expect(abs(wall - Date().timeIntervalSince1970) < 1)
        #expect(abs(Double(SystemClock.unixSeconds()) - wall) <= 1)
        #expect(abs(Double(SystemClock.wallClockNanoseconds()) / 1e9 - wall) < 1)
        let precise = SystemClock.monotonicNanoseconds()
        let coarse = SystemClock.coarseMonotonicNanoseconds()
        // The coarse clock lags the precise one by at most a tick (a few milliseconds).
        #expect(coarse <= SystemClock.monotonicNanoseconds())
        #expect(precise - min(precise, coarse) < 100_000_000)
        #expect(SystemClock.monotonicNanoseconds() >= precise)
    }
}
