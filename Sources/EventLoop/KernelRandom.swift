internal import CSystem

/// Kernel randomness for request ids. getrandom per request showed in profiles as a system call per request:
/// CSystem keeps 4 KiB of it per thread and hands each byte out once.
enum KernelRandom {
    static func next128Bits() -> (UInt64, UInt64) {
        var random: (UInt64, UInt64) = (0, 0)
        let filled = withUnsafeMutableBytes(of: &random) { csystem_random_fill($0.baseAddress, $0.count) }
        // getrandom fails only before the kernel's pool is initialized or under a seccomp filter that forbids it.
        precondition(filled == 0, "getrandom failed")
        return random
    }
}
