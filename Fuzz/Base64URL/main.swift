// Base64URL, which decodes every part of a token and the n and e of every JWKS key. The input is the text to
// decode, and also the bytes to encode.

import Encoding
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let input = Array(UnsafeRawBufferPointer(start: data, count: size))
    let decoded = Base64URL.decode(input)
    precondition(decoded == reference(input), "decoding differs from RFC 4648 §5 without padding")
    // The token decoder decodes slices of the token: a slice must decode as its own copy does.
    let sliced = ([UInt8(ascii: ".")] + input + [UInt8(ascii: ".")]).dropFirst().dropLast()
    precondition(Base64URL.decode(sliced) == decoded, "a slice decodes differently")
    if let decoded {
        // Strict decoding means one text per byte string: encoding gives the input back.
        precondition(Base64URL.encode(decoded) == String(decoding: input, as: UTF8.self), "two texts for one value")
    }
    let encoded = Base64URL.encode(input)
    precondition(encoded.utf8.count == (input.count * 4 + 2) / 3, "encoded length")
    precondition(Base64URL.decode(encoded.utf8) == input, "encoding does not decode back")
    return 0
}

/// A plain reading of RFC 4648 §5 with RFC 7515's rules: no padding, whole groups of four characters, a last
/// group of two or three, and the bits a last group does not use set to zero.
private func reference(_ text: [UInt8]) -> [UInt8]? {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    var values: [UInt32] = []
    for character in text {
        guard let index = alphabet.firstIndex(of: character) else { return nil }
        values.append(UInt32(index))
    }
    var out: [UInt8] = []
    var start = 0
    while start < values.count {
        let group = values[start..<min(start + 4, values.count)]
        var word: UInt32 = 0
        for (position, value) in group.enumerated() { word |= value << UInt32(18 - 6 * position) }
        switch group.count {
        case 4: out += [UInt8(word >> 16), UInt8(word >> 8 & 0xFF), UInt8(word & 0xFF)]
        case 3:
            guard word & 0xFF == 0 else { return nil }
            out += [UInt8(word >> 16), UInt8(word >> 8 & 0xFF)]
        case 2:
            guard word & 0xFFFF == 0 else { return nil }
            out += [UInt8(word >> 16)]
        default: return nil
        }
        start += 4
    }
    return out
}

FuzzDriver.run(fuzz)
