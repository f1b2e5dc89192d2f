package import Encoding

#if canImport(Glibc)
    import Glibc
#endif

/// authgate's one clock. Its readings are static, as there is one kernel clock: monotonic time for
/// deadlines and durations, wall-clock time for token checks, signatures and log lines. Code whose outcome
/// depends on the time takes "now" as a value (TokenVerifier, VerifiedTokenCache, the sign-in rate limiter)
/// or as a reading function (CredentialProvider, CognitoClient), so that tests fix it.
/// An instance caches the text of the current second (the Date header, log timestamps): each event loop
/// owns one, the event log shares one behind a lock.
package struct SystemClock: Sendable {
    // MARK: Readings

    /// Monotonic nanoseconds, precise (CLOCK_MONOTONIC): durations in the access log, rate limits, the
    /// time systemd wants beside RELOADING=1.
    package static func monotonicNanoseconds() -> UInt64 { nanoseconds(CLOCK_MONOTONIC) }

    /// Monotonic nanoseconds, a few milliseconds coarse and cheaper (CLOCK_MONOTONIC_COARSE): deadlines
    /// checked on every request.
    package static func coarseMonotonicNanoseconds() -> UInt64 { nanoseconds(CLOCK_MONOTONIC_COARSE) }

    /// Wall-clock nanoseconds since 1970 (CLOCK_REALTIME): log timestamps.
    package static func wallClockNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    /// Wall-clock seconds since 1970 with their fraction: what token claims (exp, nbf, iat) are compared with.
    package static func wallClockSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// Whole wall-clock seconds since 1970, as time(2) gives them (CLOCK_REALTIME_COARSE): SigV4 dates,
    /// credential expirations, the Date header.
    @Sendable package static func unixSeconds() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &now)
        return Int(now.tv_sec)
    }

    private static func nanoseconds(_ clock: clockid_t) -> UInt64 {
        var now = timespec()
        clock_gettime(clock, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    // MARK: Text, made once per second

    private var cachedSecond = Int.min
    private var cachedHTTPDate = ""
    private var cachedISOPrefix = ""

    package init() {}

    /// IMF-fixdate (RFC 9110 §5.6.7), e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
    package mutating func httpDate(unixSeconds second: Int = SystemClock.unixSeconds()) -> String {
        refresh(second)
        return cachedHTTPDate
    }

    /// RFC 3339 UTC with milliseconds, e.g. "2026-11-26T15:44:40.123Z" (the fraction is cut, not rounded).
    package mutating func iso8601(wallClockNanoseconds now: Int64 = SystemClock.wallClockNanoseconds()) -> String {
        let text = ByteWriter(capacity: 32)
        appendISO8601(to: text, wallClockNanoseconds: now)
        return String(decoding: text.finish(), as: UTF8.self)
    }

    /// The same text appended as bytes: the access line is written this way on every request, and a String of
    /// 24 bytes would be allocated for each.
    package mutating func appendISO8601(
        to out: ByteWriter, wallClockNanoseconds now: Int64 = SystemClock.wallClockNanoseconds()
    ) {
        let second = now >= 0 ? now / 1_000_000_000 : (now - 999_999_999) / 1_000_000_000
        refresh(Int(second))
        let millis = Int((now - second * 1_000_000_000) / 1_000_000)
        out.append(cachedISOPrefix)
        out.append(UInt8(ascii: "."))
        Digits.appendDecimal(UInt64(millis), width: 3, to: out)
        out.append(UInt8(ascii: "Z"))
    }

    private static let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    private mutating func refresh(_ second: Int) {
        guard second != cachedSecond else { return }
        cachedSecond = second
        var seconds = time_t(second)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let year = Int(parts.tm_year) + 1900
        let time = "\(pad2(parts.tm_hour)):\(pad2(parts.tm_min)):\(pad2(parts.tm_sec))"
        cachedHTTPDate =
            "\(Self.weekdays[Int(parts.tm_wday)]), \(pad2(parts.tm_mday)) \(Self.months[Int(parts.tm_mon)]) \(year) "
            + "\(time) GMT"
        cachedISOPrefix = "\(year)-\(pad2(parts.tm_mon + 1))-\(pad2(parts.tm_mday))T\(time)"
    }
}

private func pad2(_ value: Int32) -> String {
    value < 10 ? "0\(value)" : "\(value)"
}
