import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import SinkholeConfig
import SinkholeServer

/// `sinkhole healthcheck`: connects to the running sinkhole, expects its `220`
/// greeting, says `QUIT`, and exits 0 — or 1 with one line on stderr. The
/// container image has no curl or nc; this is its `HEALTHCHECK`.
struct Healthcheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "healthcheck",
        abstract: "Connect to a running sinkhole and expect its 220 greeting; exit 0 if it answers, 1 if not.",
        discussion: """
        Without --address it checks the first address sinkhole listens on (SINKHOLE_LISTEN, or listen in \
        SINKHOLE_CONFIG's file, else 127.0.0.1:2525), with 0.0.0.0 and [::] read as loopback.
        """
    )

    @Option(name: .customLong("address"), help: ArgumentHelp("Address to check.", valueName: "host:port"))
    var address: String?

    @Option(name: .customLong("timeout"), help: ArgumentHelp(
        "How long the whole check may take. (default: 3s)", valueName: "duration"))
    var timeout: String = "3s"

    func run() async throws {
        guard let limit = Parse.duration(timeout), limit > .zero else {
            Self.fail("invalid --timeout \"\(timeout)\": expected a duration such as 3s", code: 2)
        }
        let target: ListenAddress
        do {
            target = try resolveAddress()
        } catch {
            Self.fail("\(error)", code: 2)
        }
        do {
            let greeting = try await Self.greeting(of: target, within: limit)
            print("ok: \(target) said \(greeting)")
        } catch {
            Self.fail("\(target): \(Self.describe(error))", code: 1)
        }
    }

    private static func describe(_ error: any Error) -> String {
        if let connection = error as? NIOConnectionError, let first = connection.connectionErrors.first {
            return describe(first.error)
        }
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)) }
        return "\(error)"
    }

    private func resolveAddress() throws -> ListenAddress {
        if let address {
            guard let parsed = ListenAddress(parsing: address) else {
                throw SettingsError(description: "invalid --address \"\(address)\": expected HOST:PORT")
            }
            return parsed
        }
        let environment = ProcessInfo.processInfo.environment
        var layers = SettingLayers(flags: [:], environment: environment, file: [:])
        if let path = environment["SINKHOLE_CONFIG"] {
            try layers.readFile(path, knownKeys: Set(Sinkhole().flagValues.keys))
        }
        guard let (values, origin) = layers.lookup("listen"), let first = values.first else {
            return ListenAddress(host: "127.0.0.1", port: 2525)
        }
        // A listener's options may follow its address.
        guard var parsed = ListenAddress(parsing: String(first.prefix { $0 != "," })) else {
            throw SettingsError(description: "invalid \(origin) \"\(first)\": expected HOST:PORT")
        }
        switch parsed.host {
        case "0.0.0.0": parsed.host = "127.0.0.1"
        case "::": parsed.host = "::1"
        default: break
        }
        return parsed
    }

    struct CheckError: Error, CustomStringConvertible {
        var description: String
    }

    /// The greeting's first line, if it is a 220.
    static func greeting(of target: ListenAddress, within limit: Duration) async throws -> String {
        try await withThrowingTaskGroup(of: String.self) { group in
            group.addTask {
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connectTimeout(.seconds(2))
                    .connect(host: target.host, port: target.port) { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                        }
                    }
                return try await channel.executeThenClose { inbound, outbound in
                    var received = ByteBuffer()
                    for try await chunk in inbound {
                        received.writeImmutableBuffer(chunk)
                        // The last line of a (possibly multi-line) reply has a space after the code.
                        let text = String(buffer: received)
                        let lines = text.split(separator: "\r\n", omittingEmptySubsequences: false)
                        guard let last = lines.dropLast().last(where: { $0.count >= 4 && $0.dropFirst(3).first == " " })
                        else {
                            if received.readableBytes > 4096 { throw CheckError(description: "no greeting in 4096 bytes") }
                            continue
                        }
                        let reply = String(last)
                        try? await outbound.write(ByteBuffer(string: "QUIT\r\n"))
                        guard reply.hasPrefix("220 ") else { throw CheckError(description: "greeting was \"\(reply)\"") }
                        return reply
                    }
                    throw CheckError(description: "closed without a greeting")
                }
            }
            group.addTask {
                try await Task.sleep(for: limit)
                throw CheckError(description: "no greeting within \(limit)")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    static func fail(_ reason: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("sinkhole healthcheck: \(reason)\n".utf8))
        Foundation.exit(code)
    }
}
