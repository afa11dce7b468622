// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "sinkhole",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sinkhole", targets: ["sinkhole"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
    ],
    targets: [
        // Pure SMTP: model, parser, reply encoder, session state machine. ByteBuffer only.
        .target(
            name: "SMTPProtocol",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        // Pure policy: modes, greylist, decisions. Clock injected, no NIO.
        .target(
            name: "SinkholePolicy",
            dependencies: ["SMTPProtocol"],
            swiftSettings: swiftSettings
        ),
        // Configuration: the layers (flags > environment > file > defaults), the
        // config file with its nested sections (rules:, listeners:), validation
        // with one-line errors, smtp-sink's switches as rules. No I/O but reading files at start.
        .target(
            name: "SinkholeConfig",
            dependencies: [
                "SMTPProtocol",
                "SinkholePolicy",
                "SinkholeTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        // Where the mode comes from, and the cache that refreshes it in the background.
        .target(
            name: "ModeSources",
            dependencies: [
                "SinkholePolicy",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // libcurl, loaded with dlopen on first use (only `ssm:` needs it), through
        // typed wrappers around its variadic setopt/getinfo. Needs its headers
        // (libcurl4-openssl-dev) to build, libcurl4 to run an `ssm:` source.
        .target(name: "CCurl"),
        // The mode from AWS SSM Parameter Store: HTTP over libcurl (SigV4 signed
        // by libcurl), the credential chain, AWS error answers.
        .target(
            name: "SinkholeAWS",
            dependencies: [
                "CCurl",
                "ModeSources",
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The operations HTTP listener: /healthz, /readyz, Prometheus /metrics.
        .target(
            name: "SinkholeOps",
            dependencies: [
                "ModeSources",
                "SinkholePolicy",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // TLS: certificates (loaded from PEM, or generated at start as a throwaway CA
        // and leaf, in each profile), and the swift-nio-ssl contexts the listeners use.
        .target(
            name: "SinkholeTLS",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: swiftSettings
        ),
        // AUTH's accounts (--auth-users): the credential checker that verifies CRAM digests.
        .target(
            name: "SinkholeAuth",
            dependencies: [
                "SMTPProtocol",
                "SinkholePolicy",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // The NIO shell: framing decoder, session handler, listeners.
        .target(
            name: "SinkholeServer",
            dependencies: [
                "SMTPProtocol",
                "SinkholeTLS",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                "SinkholeConfig",
                "SinkholePolicy",
                "ModeSources",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "sinkhole",
            dependencies: [
                "SinkholeServer",
                "SinkholeConfig",
                "SinkholeAWS",
                "SinkholeOps",
                "SinkholeTLS",
                "SinkholeAuth",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                "ModeSources",
                "SinkholePolicy",
                "SMTPProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            // The release link's function layout (see the Makefile's release target).
            exclude: ["sinkhole.order"],
            swiftSettings: swiftSettings
        ),
        // libFuzzer target: built only with -sanitize=fuzzer (make fuzz), in .build-fuzz.
        .executableTarget(
            name: "SinkholeFuzzer",
            dependencies: ["SMTPProtocol", "SinkholePolicy", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SMTPProtocolTests",
            dependencies: ["SMTPProtocol", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SinkholeConfigTests",
            dependencies: ["SinkholeConfig", "SinkholePolicy", "SMTPProtocol"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SinkholeOpsTests",
            dependencies: ["SinkholeOps", "SinkholePolicy", .product(name: "Hummingbird", package: "hummingbird")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SinkholePolicyTests",
            dependencies: ["SinkholePolicy"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ModeSourcesTests",
            dependencies: ["ModeSources", "SinkholePolicy", .product(name: "Logging", package: "swift-log"),
                           .product(name: "MetricsTestKit", package: "swift-metrics")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AWSTests",
            dependencies: [
                "SinkholeAWS",
                "ModeSources",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SinkholeServerTests",
            dependencies: [
                "SinkholeServer",
                "SinkholeConfig",
                "SMTPProtocol",
                "SinkholePolicy",
                "ModeSources",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
