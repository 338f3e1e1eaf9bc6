// sluice-malloc-bench: heap allocations per packet in steady state, counted by interposing malloc (CMallocCounter).
//
//   swift build -c release --product sluice-malloc-bench
//   .build/release/sluice-malloc-bench [PROG.o] [--live] [--trace N]
//
// Offline: the VM over in-memory frames (bench's timed loop) and Replay's loop without outputs (the difference
// between a long and a short capture, so setup cancels out). Live (root): Sluice's AF_XDP worker loop on a veth pair
// of its own, fed by the in-kernel generator; all threads' allocations counted while only the worker, the generator
// thread and a sleeping main thread run. Each figure must be 0; --trace N prints the backtraces of the first N
// allocations inside a measured window.
import BPFVM
import CAFXDPBench
import CMallocCounter
import Logging
import Sluice
import SluiceBench

#if canImport(Glibc)
    import Glibc
#endif

var arguments = Array(CommandLine.arguments.dropFirst())
var live = false
var trace: UInt32 = 0
var objectPath = "programs/build/parse_bench.o"
var index = 0
while index < arguments.count {
    switch arguments[index] {
    case "--live": live = true
    case "--trace":
        index += 1
        trace = index < arguments.count ? UInt32(arguments[index]) ?? 10 : 10
    default: objectPath = arguments[index]
    }
    index += 1
}

func fail(_ message: String) -> Never {
    let line = "sluice-malloc-bench: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(1)
}

@MainActor
func measure(_ body: () throws -> Void) rethrows -> UInt64 {
    if trace > 0 { malloc_counter_trace(trace) }
    let before = malloc_counter_allocations()
    try body()
    let after = malloc_counter_allocations()
    malloc_counter_trace(0)
    return after - before
}

var results: [(String, UInt64, UInt64)] = []  // (what, allocations, packets)

// The counter must see Swift's own allocations, or every 0 below would mean nothing.
@inline(never) func allocate(_ n: Int) -> [Int] { [Int](repeating: n, count: n) }
let probe = measure { _ = allocate(1000).count }
guard probe >= 1 else { fail("malloc is not interposed (an array allocation was not counted)") }

do {
    let opened = try ProgramSource.open(objectPath: objectPath)
    let session = try ProgramSession(source: opened.source, spec: opened.spec, engine: .interpreter)
    let loaded = session.loaded
    let runner = session.runner()

    // 1. The VM over in-memory frames.
    let packets = BenchPackets(frames: SyntheticTraffic.mixed.frames(count: 10_000))
    let loop = VMLoop(runner: runner, packets: packets)
    loop.throughputPass()
    let passes = 10
    let vm = measure { for _ in 0..<passes { loop.throughputPass() } }
    results.append(
        ("VM over in-memory frames (\(loaded.checked ? "checked" : "verified"))", vm, UInt64(passes * packets.count)))
    loop.close()

    // 1b. The same with native code (LLVM), when the native tier is available: compiled once at load, then no
    // allocation per packet either.
    let nativeSession = try ProgramSession(source: opened.source, spec: opened.spec, engine: .auto)
    let nativeLoaded = nativeSession.loaded
    if nativeLoaded.engine == .native {
        let nativeRunner = nativeSession.runner()
        let nativeLoop = VMLoop(runner: nativeRunner, packets: packets)
        nativeLoop.throughputPass()
        let native = measure { for _ in 0..<passes { nativeLoop.throughputPass() } }
        results.append(("native code over in-memory frames (LLVM)", native, UInt64(passes * packets.count)))
        nativeLoop.close()
    } else {
        print("native engine not measured: \(nativeLoaded.engineNote ?? "not available")")
    }

    // 1c. With a filter expression (`--filter`): the translated classic program runs before the program on every
    // frame, on each engine; still no allocation per packet.
    for engine in [EngineChoice.interpreter, .auto] {
        let filterLoop = VMLoop(runner: ProgramRunner(program: loaded.program), packets: packets)
        filterLoop.filter = try PacketFilter(expression: "udp and not port 9 or ip6", engine: engine)
        filterLoop.throughputPass()
        let filtered = measure { for _ in 0..<passes { filterLoop.throughputPass() } }
        let name = filterLoop.filter?.engine.rawValue ?? ""
        results.append(("VM with --filter (filter on \(name))", filtered, UInt64(passes * packets.count)))
        filterLoop.close()
    }

    // 2. Replay's loop without outputs: the allocations of replaying captures of 1 000, 10 000 and 20 000 packets.
    // Setup allocates the same in each; what grows with the packet count is per-packet. A constant difference
    // (a buffer sized by the file) is setup, not steady state: the per-packet figure is the slope between the two
    // longer captures.
    var counts: [(packets: Int, allocations: UInt64)] = []
    var filteredCounts: [(packets: Int, allocations: UInt64)] = []
    var filterOptions = Replay.Options()
    filterOptions.filterExpression = "udp and not port 9 or ip6"
    for size in [1_000, 10_000, 20_000] {
        let path = "/tmp/sluice-malloc-\(getpid())-\(size).pcap"
        defer { unlink(path) }
        try BenchPackets(frames: SyntheticTraffic.mixed.frames(count: size)).writeCapture(path: path)
        _ = try Replay.run(source: opened.source, spec: opened.spec, capture: path, options: Replay.Options())
        let allocations = try measure {
            _ = try Replay.run(source: opened.source, spec: opened.spec, capture: path, options: Replay.Options())
        }
        counts.append((size, allocations))
        // The same with --filter (no outputs): filtered records take the filter's path, the others the program's.
        let filtered = try measure {
            _ = try Replay.run(source: opened.source, spec: opened.spec, capture: path, options: filterOptions)
        }
        filteredCounts.append((size, filtered))
    }
    let filteredSlope =
        filteredCounts[2].allocations >= filteredCounts[1].allocations
        ? filteredCounts[2].allocations - filteredCounts[1].allocations : 0
    results.append((
        "Replay loop with --filter (slope between 10000 and 20000 packets)", filteredSlope, 10_000))
    print("Replay setup + loop: " + counts.map { "\($0.packets) packets → \($0.allocations) allocations" }.joined(separator: ", "))
    let slope = counts[2].allocations >= counts[1].allocations ? counts[2].allocations - counts[1].allocations : 0
    results.append((
        "Replay loop, no outputs (slope between \(counts[1].packets) and \(counts[2].packets) packets)", slope,
        UInt64(counts[2].packets - counts[1].packets)))

    // 3. The live worker loop: the plain VM processor, then the control plane's reloadable one (the processor
    // `sluice run` uses), each for the same window on the same veth and generator. Received frames per window give
    // the reloadable processor's throughput as a ratio of the plain one's, measured in the same run.
    if live {
        guard geteuid() == 0 else { fail("--live needs root") }
        let network = try BenchNetwork()
        defer { network.destroy() }
        let generator = try GeneratorProgram(path: "programs/build/bench_txgen.o")
        defer { generator.close() }
        var configuration = LiveConfiguration(interface: network.hostInterface)
        configuration.queues = [0]
        configuration.mode = .native
        configuration.socket.zeroCopy = .off
        var logger = Logger(label: "sluice.malloc-bench")
        logger.logLevel = .warning
        func window<P: FrameProcessor>(_ engine: LiveEngine<P>) throws -> (allocations: UInt64, packets: UInt64) {
            try engine.start()
            let packet = SyntheticTraffic.udp4(sourcePort: 4242, destinationPort: 9, size: 64)
            var handle: OpaquePointer? = nil
            let rc = packet.withUnsafeBytes {
                bench_txgen_start(
                    generator.fd, network.namespacePath, network.namespaceInterface, $0.baseAddress, UInt32($0.count),
                    200_000_000, 10_000_000_000, 0, &handle)
            }
            guard rc == 0, let txgen = handle else { fail("generator: \(String(cString: strerror(-rc)))") }
            usleep(1_000_000)  // settle: first frames, rings warm
            let r0 = engine.stats().total.rx.packets
            let allocations = measure { usleep(3_000_000) }
            let r1 = engine.stats().total.rx.packets
            var result = bench_txgen_result()
            bench_txgen_stop(txgen, &result)
            engine.stopWorkers()
            return (allocations, r1 - r0)
        }
        let plain: (allocations: UInt64, packets: UInt64)
        do {
            let engine = try LiveEngine(configuration: configuration, logger: logger) { _ in runner.processor }
            defer { engine.close() }
            plain = try window(engine)
        }
        results.append(("Live worker loop (AF_XDP, veth, all threads)", plain.allocations, plain.packets))
        let program = LiveProgram(
            loaded: loaded, objectPath: objectPath, budget: RunBudget.defaultInstructions, engineChoice: .interpreter)
        let reloadable: (allocations: UInt64, packets: UInt64)
        do {
            let engine = try LiveEngine(configuration: configuration, logger: logger) { program.processor(worker: $0) }
            defer { engine.close() }
            reloadable = try window(engine)
        }
        results.append(
            ("Live worker loop, reloadable processor (sluice run's)", reloadable.allocations, reloadable.packets))
        print(
            "reloadable/plain received frames in equal windows: "
                + "\(Double(reloadable.packets) / Double(max(plain.packets, 1)))")
    }
} catch {
    fail("\(error)")
}

var nonZero = false
for (what, allocations, packets) in results {
    let perPacket = packets == 0 ? 0 : Double(allocations) / Double(packets)
    print("\(what): \(allocations) allocations over \(packets) packets = \(perPacket) per packet")
    if allocations > 0 { nonZero = true }
}
print(nonZero ? "RESULT allocations_in_steady_state=nonzero" : "RESULT allocations_in_steady_state=0")
exit(nonZero ? 2 : 0)
