import Foundation

#if FUZZING
    import CFuzzer
#endif

/// The entry point every harness's main.swift hands its `LLVMFuzzerTestOneInput` to.
public enum FuzzDriver {
    public typealias Harness = @convention(c) (UnsafeRawPointer, Int) -> CInt

    /// Built with FUZZING (scripts/fuzz): runs libFuzzer with the command line. libFuzzer's own `main` cannot
    /// run: SwiftPM links every executable with `--defsym main=<module>_main`, so this top-level code is `main`.
    /// Built without it (a plain `swift build` or `swift test`): runs the harness once on each file named on
    /// the command line, or on every file of a named folder, so a reproducer replays without libFuzzer too.
    public static func run(_ harness: Harness) -> Never {
        #if FUZZING
            var argc = CommandLine.argc
            var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
            exit(LLVMFuzzerRunDriver(&argc, &argv, harness))
        #else
            var replayed = 0
            for path in CommandLine.arguments.dropFirst() {
                for file in files(at: path) {
                    guard let data = FileManager.default.contents(atPath: file) else {
                        FileHandle.standardError.write(Data("cannot read \(file)\n".utf8))
                        exit(2)
                    }
                    // An empty Data may have no storage: give the harness a valid pointer all the same.
                    let bytes = [UInt8](data) + [0]
                    _ = bytes.withUnsafeBytes { harness($0.baseAddress!, bytes.count - 1) }
                    replayed += 1
                }
            }
            print("replayed \(replayed) input(s) without libFuzzer (build with scripts/fuzz to fuzz)")
            exit(0)
        #endif
    }

    private static func files(at path: String) -> [String] {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue else {
            return [path]
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.sorted().map { "\(path)/\($0)" }
    }
}
