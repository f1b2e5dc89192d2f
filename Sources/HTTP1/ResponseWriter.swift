/// Serializes response heads. Header names and values come from authgate's own code or from
/// validated upstream fields, never raw from a client.
public enum ResponseWriter {
    public static func serialize(
        status: HTTPStatus,
        headers: [(String, String)],
        contentLength: Int?,
        keepAlive: Bool,
        version: HTTPVersion,
        date: String,
        into out: inout [UInt8]
    ) {
        out.append(contentsOf: "HTTP/1.1 \(status.code) \(status.reason)\r\n".utf8)
        out.append(contentsOf: "Date: ".utf8)
        out.append(contentsOf: date.utf8)
        out.append(contentsOf: "\r\n".utf8)
        for (name, value) in headers {
            out.append(contentsOf: name.utf8)
            out.append(contentsOf: ": ".utf8)
            out.append(contentsOf: value.utf8)
            out.append(contentsOf: "\r\n".utf8)
        }
        if let contentLength {
            out.append(contentsOf: "Content-Length: \(contentLength)\r\n".utf8)
        }
        if !keepAlive {
            out.append(contentsOf: "Connection: close\r\n".utf8)
        } else if version == .http10 {
            out.append(contentsOf: "Connection: keep-alive\r\n".utf8)
        }
        out.append(contentsOf: "\r\n".utf8)
    }

    /// The JSON body API Gateway uses for the responses the gateway makes itself.
    public static func messageBody(_ message: String) -> [UInt8] {
        Array("{\"message\":\"\(message)\"}".utf8)
    }
}
