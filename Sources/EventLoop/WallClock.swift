internal import CSystem

#if canImport(Glibc)
    import Glibc
#endif

/// Formats wall-clock time for the Date header and log lines, once per second per loop.
/// Loop-confined: each event loop owns one.
public struct WallClock {
    private var cachedSecond: time_t = -1
    private var cachedHTTPDate = ""
    private var cachedISOPrefix = ""

    public init() {}

    private static let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    private mutating func refresh(_ second: time_t) {
        guard second != cachedSecond else { return }
        cachedSecond = second
        var seconds = second
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let year = Int(parts.tm_year) + 1900
        cachedHTTPDate =
            "\(Self.weekdays[Int(parts.tm_wday)]), \(pad2(parts.tm_mday)) \(Self.months[Int(parts.tm_mon)]) \(year) "
            + "\(pad2(parts.tm_hour)):\(pad2(parts.tm_min)):\(pad2(parts.tm_sec)) GMT"
        cachedISOPrefix =
            "\(year)-\(pad2(parts.tm_mon + 1))-\(pad2(parts.tm_mday))T"
            + "\(pad2(parts.tm_hour)):\(pad2(parts.tm_min)):\(pad2(parts.tm_sec))"
    }

    /// IMF-fixdate (RFC 9110 §5.6.7), e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
    public mutating func httpDate() -> String {
        refresh(time(nil))
        return cachedHTTPDate
    }

    /// RFC 3339 UTC with milliseconds, e.g. "2026-11-26T15:44:40.123Z".
    public mutating func iso8601() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        refresh(now.tv_sec)
        let millis = Int(now.tv_nsec / 1_000_000)
        let fraction = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(cachedISOPrefix).\(fraction)Z"
    }
}

@inline(__always)
private func pad2(_ value: Int32) -> String {
    value < 10 ? "0\(value)" : "\(value)"
}
