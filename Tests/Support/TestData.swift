import Foundation

/// The public vectors in ../shared/testdata, found from this file's place in the repository
/// (or AUTHGATE_TESTDATA).
public enum TestData {
    public static var root: URL {
        if let override = ProcessInfo.processInfo.environment["AUTHGATE_TESTDATA"], !override.isEmpty {
            return URL(fileURLWithPath: override)
        }
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return repository.deletingLastPathComponent().appendingPathComponent("shared/testdata")
    }
}
