// The address parsers that read a client's bytes: every X-Forwarded-For entry from a trusted proxy goes through
// IPAddress.parse(forwarded:), and so through the one-pass IPv4 and IPv6 readings. The input is the entry.

import Endpoints
import FuzzSupport

#if canImport(Glibc)
    import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let v4 = IPv4Address.parse(input)
    let v6 = IPv6Address.parse(input)
    if input.contains(0) {
        // inet_pton would read only up to the NUL; authgate refuses the whole.
        precondition(v4 == nil && v6 == nil, "an address with a NUL byte")
    } else {
        let text = String(decoding: input, as: UTF8.self)
        var pton4 = in_addr()
        var pton6 = in6_addr()
        let expected4 = inet_pton(AF_INET, text, &pton4) == 1 ? UInt32(bigEndian: pton4.s_addr) : nil
        let expected6 =
            inet_pton(AF_INET6, text, &pton6) == 1 ? withUnsafeBytes(of: &pton6) { IPv6Address(bytes: $0) } : nil
        precondition(v4?.value == expected4, "IPv4 differs from inet_pton")
        precondition(v6 == expected6, "IPv6 differs from inet_pton")
    }
    if let v4 { precondition(IPv4Address(v4.description) == v4, "IPv4 text does not read back") }
    if let v6 { precondition(IPv6Address(v6.description) == v6, "IPv6 text does not read back") }
    if let entry = IPAddress.parse(forwarded: input) {
        // A bare address, or one with a port after it: the address's own text reads back the same.
        precondition(IPAddress(entry.description) == entry, "entry text does not read back")
        if v4 == nil && v6 == nil {
            let colon = input.lastIndex(of: UInt8(ascii: ":"))
            precondition(colon.map { input[($0 + 1)...].allSatisfy { $0 >= 0x30 && $0 <= 0x39 } } == true, "no port")
        }
    } else {
        precondition(v4 == nil && v6 == nil, "a bare address refused as an entry")
    }
    return 0
}

FuzzDriver.run(fuzz)
