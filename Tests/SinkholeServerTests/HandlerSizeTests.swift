import Glibc
import Logging
import NIOCore
import SMTPProtocol
import SinkholePolicy
import Testing

@testable import SinkholeServer

@_silgen_name("malloc_usable_size") private func mallocUsableSize(_ pointer: UnsafeMutableRawPointer) -> Int

@Suite("Session handler size")
struct HandlerSizeTests {
    /// glibc serves blocks up to 1032 bytes from each thread's cache; a bigger handler
    /// goes through malloc's slow path on every connection (at 1112 bytes, callgrind
    /// counted about 1,900 instructions more per connection, malloc_consolidate among
    /// them). Box what is rare.
    @Test("A session handler fits glibc's per-thread cache (1032 bytes)")
    func fitsTheThreadCache() throws {
        let handler = SMTPSessionHandler(
            configuration: SessionConfiguration(hostname: "h"),
            policy: SessionPolicy(mode: .accept, configuration: PolicyConfiguration()),
            remote: try SocketAddress(ipAddress: "192.0.2.1", port: 1), headerLogLimit: 100,
            logger: Logger(label: "size"))
        let size = mallocUsableSize(Unmanaged.passUnretained(handler).toOpaque())
        #expect(size <= 1032, "the handler takes \(size) bytes")
    }
}
