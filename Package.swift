// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "berth",
    products: [
        .executable(name: "berth", targets: ["berth"]),
        // Every container's PID 1 (and `berth exec`'s relay): small, so that its memory is small.
        .executable(name: "berth-init", targets: ["berth-init"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        // SHA-256 of image blobs and layers (images); the registry client wants it too.
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        // The registry client's HTTP/1.1 + TLS stack (docs/registry.md says why this one).
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.100.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.30.0"),
        // operations: `berth reconcile --metrics-address` (Prometheus' text format, on swift-metrics' CoreMetrics).
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // System libraries berth links (Debian: libyaml-dev, libcap-dev, libseccomp-dev).
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CCap", pkgConfig: "libcap", providers: [.apt(["libcap-dev"])]),
        // Seccomp filters are compiled with libseccomp (Debian: libseccomp-dev).
        .systemLibrary(name: "CSeccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
        // Image layers and archives are read with libarchive, linked statically with its tar reader
        // and gzip and zstd filters only (module.modulemap says why; Debian: libarchive-dev, libzstd-dev).
        .systemLibrary(name: "CArchive", providers: [.apt(["libarchive-dev", "libzstd-dev"])]),
        // berth's firewall speaks nftables' JSON through libnftables: the header from
        // libnftables-dev, the library loaded at its first use (module.modulemap says why).
        .systemLibrary(name: "CNftables", providers: [.apt(["libnftables-dev"])]),

        // The few lines that must run between clone() and execve().
        .target(name: "CBerth"),

        // The container side of the kernel layer: what berth-init runs inside the container
        // (root filesystem, mounts, capabilities, the compiled seccomp filter, the log relay,
        // the exit record). No Foundation, no Crypto, no NIO: every container pays its pages.
        .target(
            name: "BerthInit",
            dependencies: ["CBerth", "CCap", .product(name: "SystemPackage", package: "swift-system")]
        ),
        .executableTarget(
            name: "berth-init", dependencies: ["BerthInit"],
            // Release: a static PIE (still loaded at a random address). Without the dynamic
            // loader and the shared libraries' relocated pages, a container's init keeps about
            // a hundred KiB less of anonymous memory. lld: gold cannot link a static PIE.
            linkerSettings: [.unsafeFlags(["-static-executable", "-use-ld=lld", "-Xclang-linker", "-static-pie"],
                                          .when(configuration: .release))]
        ),

        // Typed wrappers over syscalls, /proc, /sys/fs/cgroup and rtnetlink.
        .target(
            name: "BerthKernel",
            dependencies: [
                "BerthInit", "CBerth", "CCap", "CSeccomp", "CArchive", "CNftables",
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
                // operations: the metrics endpoint of `berth reconcile`.
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),

        // Compose files in (berth import compose), Kubernetes manifests out (berth export kubernetes).
        .target(name: "BerthConvert", dependencies: ["BerthSpec", .product(name: "SystemPackage", package: "swift-system")]),

        // The OCI distribution client: references, auth, TLS, manifests, blobs into an OCI layout.
        .target(
            name: "BerthRegistry",
            dependencies: [
                // BerthKernel: the one atomic-file writer (AtomicFile) and its dead-writer sweep.
                "BerthSpec", "BerthKernel",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),

        // The commands, as a library so that they are tested like any other code.
        .target(
            name: "BerthCLI",
            dependencies: [
                "Berth", "BerthConvert", "BerthRegistry",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .executableTarget(
            name: "berth", dependencies: ["BerthCLI"],
            // Release: the static Swift stdlib's link arguments export every symbol of berth's own
            // objects (36,000, 3 MB of .dynsym/.dynstr/.gnu.hash read at each start, and walked
            // by the runtime's dladdr): nothing looks them up, so none are exported.
            linkerSettings: [.unsafeFlags(["-Xlinker", "--no-export-dynamic"], .when(configuration: .release))]
        ),
        // `make bench`: times the kernel layer and the runtime in-process (not shipped).
        .executableTarget(name: "berth-bench", dependencies: ["Berth"], path: "Benchmarks/berth-bench"),

        .testTarget(name: "BerthSpecTests", dependencies: ["BerthSpec"], resources: [.copy("Fixtures")]),
        .testTarget(name: "BerthKernelTests", dependencies: ["BerthKernel", "BerthInit"]),
        // What several suites share: host-wide allocation of what can collide between runs.
        .target(name: "BerthTestSupport", dependencies: ["BerthKernel"], path: "Tests/BerthTestSupport"),
        .testTarget(name: "BerthTests", dependencies: ["Berth", "BerthTestSupport"]),
        .testTarget(name: "BerthCLITests", dependencies: ["BerthCLI"]),
        .testTarget(name: "BerthConvertTests", dependencies: ["BerthConvert"], resources: [.copy("Corpus")]),
        .testTarget(name: "BerthRegistryTests", dependencies: ["BerthRegistry", "BerthCLI"], exclude: ["Support"]),
    ],
    swiftLanguageModes: [.v6]
)
