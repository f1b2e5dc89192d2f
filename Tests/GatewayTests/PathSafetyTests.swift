import Testing

@testable import Gateway

@Suite struct PathSafetyTests {
    @Test(arguments: [
        "/", "/api", "/api/x", "/a..b", "/...", "/.well-known/x", "/a/.b", "/a/b./c", "/%41", "/x%2ey", "/api/",
        "//", "/a%20b",
    ])
    func safePaths(_ path: String) {
        #expect(PathSafety.isSafe(path))
    }

    @Test(arguments: [
        "", "api", "/.", "/..", "/a/./b", "/a/../b", "/a/..", "/%2e", "/%2E%2e/x", "/.%2e", "/a%2Fb", "/a%2fb",
        "/a%5cb", "/a\\b", "/a%00", "/a%", "/a%4", "/a%zz", "/a%2",
    ])
    func unsafePaths(_ path: String) {
        #expect(!PathSafety.isSafe(path))
    }
}
