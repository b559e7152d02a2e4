// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "berth",
    products: [
        .executable(name: "berth", targets: ["berth"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
    ],
    targets: [
        // System libraries berth links (Debian: libyaml-dev, libcap-dev, libnftables-dev).
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CCap", pkgConfig: "libcap", providers: [.apt(["libcap-dev"])]),
        .systemLibrary(name: "CNftables", pkgConfig: "libnftables", providers: [.apt(["libnftables-dev"])]),

        // The few lines that must run between clone() and execve().
        .target(name: "CBerth"),

        // Typed wrappers over syscalls, /proc, /sys/fs/cgroup and rtnetlink.
        .target(
            name: "BerthKernel",
            dependencies: [
                "CBerth", "CCap", "CNftables",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),

        // YAML to a validated model, with file:line:col diagnostics.
        .target(name: "BerthSpec", dependencies: ["CYAML"]),

        // observe -> plan -> apply -> reconcile, and the state store.
        .target(
            name: "Berth",
            dependencies: [
                "BerthSpec", "BerthKernel",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // The commands, as a library so that they are tested like any other code.
        .target(
            name: "BerthCLI",
            dependencies: [
                "Berth",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "berth", dependencies: ["BerthCLI"]),
        // `make bench`: times the kernel layer and the runtime in-process (not shipped).
        .executableTarget(name: "berth-bench", dependencies: ["Berth"], path: "Benchmarks/berth-bench"),

        .testTarget(name: "BerthSpecTests", dependencies: ["BerthSpec"], resources: [.copy("Fixtures")]),
        .testTarget(name: "BerthKernelTests", dependencies: ["BerthKernel"]),
        .testTarget(name: "BerthTests", dependencies: ["Berth"]),
        .testTarget(name: "BerthCLITests", dependencies: ["BerthCLI"]),
    ],
    swiftLanguageModes: [.v6]
)
