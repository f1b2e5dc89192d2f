import Endpoints
import Testing

struct RedisURLTests {
    @Test func theThreeFormsAreRead() throws {
        let plain = try RedisURL("redis://cache.internal:6380/3")
        #expect(plain.address == .tcp(host: .name("cache.internal"), port: 6380))
        #expect(plain.database == 3 && !plain.usesTLS)
        let tls = try RedisURL("rediss://[::1]")
        #expect(tls.usesTLS && tls.database == 0 && tls.description == "rediss://[::1]:6379")
        #expect(try RedisURL("unix:/run/redis/redis.sock").address == .unix(path: "/run/redis/redis.sock"))
    }

    @Test(arguments: [
        "http://h:1", "redis://user:pw@h:1", "redis://h:1/x", "redis://h:1/1/2", "redis://h:1?db=1", "redis://h:0",
        "unix:relative.sock", "redis://h:1/99999999", "redis:/h", "",
    ])
    func malformedURLsAreRefused(_ text: String) {
        #expect(throws: EndpointParseError.self) { try RedisURL(text) }
    }
}
