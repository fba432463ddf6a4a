// swift-tools-version:6.2
import PackageDescription

// Each target is one layer of the architecture:
//   CJavaScriptCore  the system JavaScriptCore C API (Debian's libjavascriptcoregtk-4.1)
//   BrigantineCore   the domain: projects, IDs, log levels, build logs, secret redaction, safe file reads
//   JSHost           a thin host over JavaScriptCore: values, native functions, event loop, console, CommonJS
//   JobRunners       how a Job runs: the runner protocol, `local` and `simulate`
//   BrigadierJS      the JavaScript half of the `brigadier` module (brigadier-js/)
//   Brigadier        the native half of `brigadier`: jobs, events and projects as scripts see them
//   Store            durable builds, jobs and logs, and the queue of builds to run (SQLite, PostgreSQL)
//   Worker           the build lifecycle Brigade's worker had: load, fire, idle, after/error
//   Scheduler        runs stored builds: a pool of workers, per-project limits, results into the store
//   Gateway          the HTTP server: registry and generic webhooks in, durable builds out, the read API
//   brig             the command line
let package = Package(
    name: "brigantine",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "brig", targets: ["brig"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"), // LogEvent, for the JSON log handler
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.24.0"), // Hummingbird's already
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.21.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CJavaScriptCore",
            pkgConfig: "javascriptcoregtk-4.1",
            providers: [.apt(["libjavascriptcoregtk-4.1-dev"])]
        ),
        .target(
            name: "JSHost",
            dependencies: [
                "CJavaScriptCore",
                "BrigantineCore",
                .product(name: "HeapModule", package: "swift-collections"),
            ],
            resources: [.copy("js")]
        ),
        .target(
            name: "BrigantineCore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "JobRunners",
            dependencies: [
                "BrigantineCore",
                .product(name: "Subprocess", package: "swift-subprocess"),
                // The container runner talks to the engine's HTTP API over its unix socket.
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // The JavaScript half of `brigadier`, at the top level beside Sources/.
        .target(name: "BrigadierJS", path: "brigadier-js", resources: [.copy("lib")]),
        .target(name: "Brigadier", dependencies: ["BrigadierJS", "JSHost", "JobRunners", "BrigantineCore"]),
        .target(
            name: "Store",
            dependencies: [
                "BrigantineCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Scheduler",
            dependencies: [
                "Store", "Worker", "Brigadier", "JSHost", "JobRunners", "BrigantineCore",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Gateway",
            dependencies: [
                "Scheduler", "Store", "Worker", "JobRunners", "BrigantineCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                // HTTPS for webhooks (on NIOSSL, which PostgresNIO brings already).
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                // Its HTTP/1 channel configuration, for a handler of our own in each connection.
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                // Its parser's errors, which Hummingbird answers itself (400, and the connection closed).
                .product(name: "NIOHTTP1", package: "swift-nio"),
                // The request parts Hummingbird's channel carries, for the per-request deadline.
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                // Hummingbird runs on it already: the gateway joins its shutdown signal.
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                // And its signal sequence, for SIGHUP (read the projects again).
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(
            name: "Worker",
            dependencies: [
                "Brigadier", "JSHost", "CJavaScriptCore", "JobRunners", "BrigantineCore",
                .product(name: "HeapModule", package: "swift-collections"),
            ]
        ),
        .executableTarget(
            name: "brig",
            dependencies: [
                "Worker", "JobRunners", "BrigantineCore", "Gateway", "Store",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "brig-bench",
            dependencies: ["Worker", "JobRunners", "BrigantineCore"],
            path: "bench/Sources/brig-bench"
        ),
        .testTarget(name: "JSHostTests", dependencies: ["JSHost", "CJavaScriptCore", "BrigantineCore"]),
        .testTarget(
            name: "BrigadierTests",
            dependencies: ["Worker", "Brigadier", "JSHost", "CJavaScriptCore", "JobRunners", "BrigantineCore", "TestSupport"]
        ),
        .testTarget(name: "JobRunnerTests", dependencies: [
            "JobRunners", "BrigantineCore", "TestSupport",
            // A fake engine on a unix socket, for what a real one does only now and then.
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        .testTarget(name: "BrigantineCoreTests", dependencies: ["BrigantineCore"]),
        .testTarget(name: "StoreTests", dependencies: ["Store", "BrigantineCore", "TestSupport"]),
        .testTarget(name: "SchedulerTests", dependencies: ["Scheduler", "Store", "JobRunners", "BrigantineCore", "TestSupport"]),
        // Shared by tests: starting programs, and awaiting what settles once (an exit, an outcome).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        // Runs the real `brig` binary; depending on it makes `swift test` build it first.
        // Fixtures are read from the source tree (registry payloads, see their SOURCES.md).
        .testTarget(
            name: "CLITests",
            dependencies: [
                "brig", "Gateway", "Store", "Worker", "JobRunners", "BrigantineCore", "TestSupport",
                .product(name: "Crypto", package: "swift-crypto"), // signing webhooks as registries do
                .product(name: "Logging", package: "swift-log"),
                // A client for the gateway that waits as tasks do (see LoopbackHTTP).
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            exclude: ["Fixtures"]),
    ]
)
