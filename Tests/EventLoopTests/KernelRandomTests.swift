import HTTP1
import Testing

@testable import EventLoop

@Suite struct KernelRandomTests {
    @Test func requestIDsFromKernelRandomnessAreDistinct() {
        var seen = Set<String>()
        for _ in 0..<5000 {  // more than one 4 KiB refill of the per-thread randomness
            let id = RequestID.uuid(random: KernelRandom.next128Bits())
            #expect(id.text.utf8.count == 36 && RequestID.isAcceptable(Array(id.text.utf8)))
            seen.insert(id.text)
        }
        #expect(seen.count == 5000)
    }
}
