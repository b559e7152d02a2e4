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
        // SHA-256 of image blobs and layers (images); the registry client wants it too.
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // System libraries berth links (Debian: libyaml-dev, libcap-dev, libseccomp-dev).
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CCap", pkgConfig: "libcap", providers: [.apt(["libcap-dev"])]),
        // hardening: seccomp filters are compiled with libseccomp (Debian: libseccomp-dev).
        .systemLibrary(name: "CSeccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
        // Image layers and archives are read with libarchive (Debian: libarchive-dev).
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),

        // The few lines that must run between clone() and execve().
        .target(name: "CBerth"),

        // Typed wrappers over syscalls, /proc, /sys/fs/cgroup and rtnetlink.
        .target(
            name: "BerthKernel",
            dependencies: [
                "CBerth", "CCap", "CSeccomp", "CArchive",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),

        // YAML to a validated model, with file:line:col diagnostics.
        .target(name: "BerthSpec", dependencies: ["CYAML"]),

        // observe -> plan -> apply -> reconcile, and the state store.
        .target(
            name: "Berth",
            dependencies: [
                "BerthSpec", "BerthKernel", "CArchive",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Crypto", package: "swift-crypto"),
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
