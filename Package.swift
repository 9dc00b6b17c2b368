// swift-tools-version: 6.0
// Cloister: a guix-daemon-compatible build daemon. ARCHITECTURE.md explains the modules.
import PackageDescription

let package = Package(
    name: "Cloister",
    products: [
        .executable(name: "cloister", targets: ["cloister"]),
        .executable(name: "cloister-daemon", targets: ["cloister-daemon"]),
    ],
    targets: [
        // C shims at the bottom: libgcrypt (what Guix itself hashes and verifies with),
        // the system SQLite, and the clone/setup/exec child.
        .target(name: "CGcrypt", linkerSettings: [.linkedLibrary("gcrypt"), .linkedLibrary("gpg-error")]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .target(name: "CSandbox"),
        // zlib and libbzip2 for build logs.
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev", "libbz2-dev"])]),

        .target(name: "LinuxSystem", dependencies: ["CSandbox"]),
        .target(name: "StoreFormats", dependencies: ["CGcrypt"]),
        .target(name: "WorkerProtocol", dependencies: ["StoreFormats"]),
        .target(name: "LocalStore", dependencies: ["StoreFormats", "LinuxSystem", "CSQLite"]),
        .target(name: "Sandbox", dependencies: ["LinuxSystem", "CSandbox"]),
        .target(name: "Builder", dependencies: ["StoreFormats", "LocalStore", "Sandbox", "LinuxSystem", "CZlib"]),
        .target(name: "Daemon", dependencies: ["StoreFormats", "WorkerProtocol", "LocalStore", "Builder", "LinuxSystem"]),

        .executableTarget(name: "cloister", dependencies: ["StoreFormats", "WorkerProtocol", "LocalStore", "LinuxSystem", "Builder"]),
        .executableTarget(name: "cloister-daemon", dependencies: ["Daemon", "LinuxSystem"]),

        // The benchmarks behind `make bench` (release build, ratios against same-run references).
        .executableTarget(name: "cloister-bench", dependencies: ["StoreFormats", "WorkerProtocol", "LocalStore", "LinuxSystem", "Sandbox", "Builder"]),
        // One libFuzzer binary for every parser (Fuzz/FuzzTargets.swift; `make fuzz`).
        .executableTarget(name: "cloister-fuzz", dependencies: ["StoreFormats", "WorkerProtocol"], path: "Fuzz"),

        .testTarget(name: "StoreFormatsTests", dependencies: ["StoreFormats"]),
        // A child process for LocalStoreTests (concurrent adds, SIGKILL crash-safety loop).
        .executableTarget(name: "cloister-store-worker", dependencies: ["LocalStore", "StoreFormats", "LinuxSystem"],
                          path: "Tests/LocalStoreWorker"),
        .testTarget(name: "LocalStoreTests", dependencies: ["LocalStore", "StoreFormats", "LinuxSystem"]),
        .testTarget(name: "WorkerProtocolTests", dependencies: ["WorkerProtocol", "StoreFormats"]),
        .testTarget(name: "SandboxTests", dependencies: ["Sandbox", "LinuxSystem"]),
        .testTarget(name: "BuilderTests", dependencies: ["Builder", "LocalStore", "StoreFormats", "Sandbox", "LinuxSystem"]),
        .testTarget(name: "DaemonTests", dependencies: ["Daemon", "WorkerProtocol", "StoreFormats", "LocalStore", "LinuxSystem"]),
    ]
)
