import Dispatch
import Endpoints
import Testing

@testable import EventLoop

/// The pool's address list as the resolver swaps it, on the pool's loop (connections to the addresses that leave
/// are drained; `UpstreamDNSTests` checks that with the real binary).
@Suite struct UpstreamPoolTests {
    let group = EventLoopGroup(count: 1)

    @Test func newConnectionsTakeTheAddressesInTurnAndAReplacedListStartsOver() {
        let loop = group.loops[0]
        let first = SocketAddress.ipv4(IPv4Address(127, 0, 0, 1), port: 9000)
        let second = SocketAddress.ipv6(.loopback, port: 9000)
        let third = SocketAddress.ipv4(IPv4Address(127, 0, 0, 3), port: 9000)
        let pool = UpstreamPool(loop: loop, addresses: [first, second])
        #expect(
            loop.queue.sync { (0..<5).map { _ in pool.addressForNewConnection() } } == [
                first, second, first, second, first,
            ])
        loop.queue.sync { pool.useAddresses([third, first]) }
        #expect(loop.queue.sync { (0..<3).map { _ in pool.addressForNewConnection() } } == [third, first, third])
        loop.queue.sync { pool.useAddresses([]) }
        #expect(loop.queue.sync { pool.addresses } == [third, first], "an empty list is never used")
        let single = UpstreamPool(loop: loop, addresses: [.unix("/run/app.sock")])
        #expect(
            loop.queue.sync { [single.addressForNewConnection(), single.addressForNewConnection()] } == [
                .unix("/run/app.sock"), .unix("/run/app.sock"),
            ])
    }
}
