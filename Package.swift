// swift-tools-version: 6.1
import PackageDescription

// Layers follow ../shared/DESIGN.md: C libraries → BPFVM (pure Swift) → BPFObject (ELF) → Sluice (engine) → SluiceCLI.
let package = Package(
    name: "Sluice",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sluice", targets: ["sluice"]),
        .library(name: "BPFVM", targets: ["BPFVM"]),
        .library(name: "BPFObject", targets: ["BPFObject"]),
        .library(name: "Sluice", targets: ["Sluice"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // `sluice run --metrics`: Prometheus text through swift-metrics, served by a SwiftNIO HTTP/1 server.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
    ],
    targets: [
        // C libraries, imported as system libraries (no C code of ours).
        .systemLibrary(
            name: "CLibXDP", pkgConfig: "libxdp",
            providers: [.apt(["libxdp-dev", "libbpf-dev", "libelf-dev"])]),
        .systemLibrary(name: "CLibPcap", pkgConfig: "libpcap", providers: [.apt(["libpcap-dev"])]),
        .systemLibrary(name: "CLibElf", pkgConfig: "libelf", providers: [.apt(["libelf-dev"])]),

        // The eBPF VM: ISA, assembler, verifier, interpreter, maps, helper table. Imports no C library (only our own
        // dispatch trampolines below).
        .target(name: "BPFVM", dependencies: ["CBPFDispatch"]),
        // The interpreter's direct-threading trampolines: a header compiled into BPFVM by the Swift compiler (no C
        // library; see its header).
        .target(name: "CBPFDispatch"),
        // The native tier: verified programs → LLVM IR → machine code (ORC LLJIT). libLLVM (Debian llvm-19) is
        // loaded at run time with dlopen, so everything builds and runs on the interpreter without it.
        .target(name: "BPFNative", dependencies: ["BPFVM"]),
        // ELF object loader: clang -target bpf objects → BPFVM programs + map specs.
        .target(name: "BPFObject", dependencies: ["BPFVM", "CLibElf", "CLibXDP"]),
        // The engine: frames, batch pipeline, pcap replay, AF_XDP, kernel runner, stats.
        .target(
            name: "Sluice",
            dependencies: [
                "BPFVM", "BPFNative", "BPFObject", "CLibXDP", "CLibPcap",
                .product(name: "Logging", package: "swift-log"),
            ]),
        // Benchmarks as a library (`sluice bench offline|live`, sluice-malloc-bench): the in-memory and live
        // benchmarks, their C references, and the synthetic traffic. Not part of the engine.
        .target(
            name: "SluiceBench",
            dependencies: [
                "Sluice", "BPFVM", "BPFNative", "BPFObject", "CLibXDP", "CAFXDPBench",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]),
        // The Prometheus endpoint of a live run (`--metrics HOST:PORT`): its own target, so the engine does not
        // depend on SwiftNIO.
        .target(
            name: "SluiceMetrics",
            dependencies: [
                "Sluice",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]),
        // CLI commands as a library; the executable is a thin @main.
        .target(
            name: "SluiceCLI",
            dependencies: [
                "Sluice", "SluiceBench", "BPFVM", "BPFObject", "SluiceMetrics",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(name: "sluice", dependencies: ["SluiceCLI"]),

        // Benchmarks (release builds only; never timed in tests). The C reference interpreter is measured in the
        // same run as ours, so figures are ratios against it.
        .target(name: "CReferenceInterpreter", path: "Benchmarks/CReferenceInterpreter"),
        // `sluice bench live`: the C baseline receiver (libxdp rxdrop) and the in-kernel traffic generator's thread.
        .target(
            name: "CAFXDPBench", path: "Benchmarks/afxdp-baseline",
            linkerSettings: [.linkedLibrary("xdp"), .linkedLibrary("bpf"), .linkedLibrary("pthread")]),
        // Zero allocations per packet: malloc interposed in a C target linked only into this benchmark.
        .target(name: "CMallocCounter", path: "Benchmarks/MallocCounter"),
        .executableTarget(
            name: "sluice-malloc-bench",
            dependencies: ["Sluice", "SluiceBench", "BPFVM", "CMallocCounter", "CAFXDPBench", .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/MallocCount"),
        .executableTarget(
            name: "sluice-vm-bench", dependencies: ["BPFVM", "CReferenceInterpreter"], path: "Benchmarks/VMBenchmark"),

        .testTarget(name: "BPFVMTests", dependencies: ["BPFVM"]),
        .testTarget(name: "BPFNativeTests", dependencies: ["BPFNative", "BPFVM"]),
        .testTarget(name: "BPFObjectTests", dependencies: ["BPFObject", "BPFVM"]),
        .testTarget(name: "SluiceTests", dependencies: ["Sluice", "SluiceBench", "BPFObject", "BPFVM"]),
        .testTarget(name: "SluiceCLITests", dependencies: ["SluiceCLI", "BPFVM"]),
        .testTarget(name: "SluiceMetricsTests", dependencies: ["SluiceMetrics", "Sluice"]),
        // A tiny live-engine runner for tests that need a separate process (SIGKILL, setpriv, persist).
        .executableTarget(
            name: "sluice-afxdp-probe", dependencies: ["Sluice", .product(name: "Logging", package: "swift-log")],
            path: "Tests/AFXDPProbe"),
    ]
)
