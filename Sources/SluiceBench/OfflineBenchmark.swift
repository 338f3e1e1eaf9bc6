import Sluice
import BPFVM
import Histogram

#if canImport(Glibc)
    import Glibc
#endif

/// `sluice bench PROG.o`: times a program over packets held in memory, next to references measured in the same run
/// (the kernel's JIT through `BPF_PROG_TEST_RUN`, and the per-packet kernel path for replay).
///
/// Each round runs every measurement once, in the same order, so drift on a shared machine hits all of them alike;
/// the report gives the minimum and the median over rounds. The timed VM loop copies each packet into one reused
/// frame buffer laid out as the kernel's test run lays it out (the copy is timed separately and reported), runs the
/// program, and touches no file, array or allocator.
public final class OfflineBenchmark {
    public struct Options: Sendable {
        /// Rounds of every measurement (min and median are reported).
        public var rounds = 5
        /// Also time the program in the kernel (`BPF_PROG_TEST_RUN` with `repeat`, JIT) and replay's kernel path.
        public var againstKernel = false
        /// Kernel repetitions per packet (nil: enough for about two million runs per round, at least 100).
        public var kernelRepeat: Int?
        /// Time `Replay` over a capture of the packets (with and without outputs).
        public var replay = true
        /// The capture to replay (nil: the packets are written to a temporary capture).
        public var capturePath: String?
        /// Directory for temporary files (the capture, replay's outputs).
        public var temporaryDirectory = "/tmp"
        /// Run unverified, bounds-checked (as `sluice replay --no-verify`).
        public var verify = true
        /// Per-packet instruction budget (`--budget`).
        public var budget = RunBudget.defaultInstructions
        /// The engine (nil: `verify` decides between interpreter and checked). With native code, the interpreter is
        /// timed too, in the same rounds, as the reference.
        public var engine: EngineChoice?
        /// `--filter`: only packets matching this expression run the program; the filter runs on every packet and
        /// is timed with it. Not with `againstKernel` (the kernel runs every packet).
        public var filterExpression: String?
        public init() {}
    }

    public let source: ProgramSource
    public let spec: ProgramSpec
    public let packets: BenchPackets
    public let options: Options

    public init(source: ProgramSource, spec: ProgramSpec, packets: BenchPackets, options: Options) {
        self.source = source
        self.spec = spec
        self.packets = packets
        self.options = options
    }

    public struct Error: Swift.Error, CustomStringConvertible {
        public var description: String
    }

    /// Runs every round and returns the report.
    public func run(progress: ((String) -> Void)? = nil) throws -> OfflineBenchReport {
        guard packets.count > 0 else { throw Error(description: "no packets to run (all shorter than 14 bytes?)") }
        var kernel: KernelRunner? = nil
        var possibleCPUs = 1
        if options.againstKernel {
            let missing = KernelPrivileges.missing()
            guard missing.isEmpty else {
                throw Error(description: "--against-kernel needs \(missing.joined(separator: ", ")) (run as root)")
            }
            let runner = try source.kernelRunner()
            kernel = runner
            possibleCPUs = runner.possibleCPUs
        }
        // One CPU for the whole run: the kernel's per-CPU slots and our timings stay on one core.
        let cpu = CPUAffinity.pinToFirstCPU()
        defer { kernel?.close() }

        let session = try ProgramSession(source: source, spec: spec, engine: engineChoice, possibleCPUs: possibleCPUs)
        let loaded = session.loaded
        let runner = session.runner(budget: options.budget)
        let loop = VMLoop(runner: runner, packets: packets)
        defer { loop.close() }
        loop.filter = try BenchFilter.make(options, engine: engineChoice)
        // Native code is measured against the interpreter on the same program and packets, round by round.
        let interpreterLoop =
            runner.engine == .native
            ? VMLoop(runner: ProgramRunner(program: loaded.program, budget: options.budget), packets: packets) : nil
        defer { interpreterLoop?.close() }
        interpreterLoop?.filter = loop.filter

        var report = OfflineBenchReport(
            program: spec.name, object: source.objectPath, packets: packets.count, meanPacketLength: packets.meanLength,
            rounds: options.rounds, checked: loaded.checked, cpu: cpu)
        report.engine = runner.engine
        report.engineNote = loaded.engineNote
        if runner.engine == .native { report.compileMilliseconds = Double(loaded.compileNanoseconds) / 1e6 }
        report.skippedShort = packets.skippedShort
        report.truncatedToLinear = packets.truncatedToLinear

        // Instructions and verdicts: one counting pass (not timed).
        let counted = loop.countingPass()
        report.instructionsPerPacket = Double(counted.instructions) / Double(packets.count)
        report.verdicts = counted.verdicts
        report.faults = counted.faults
        report.filteredOut = loop.filter == nil ? nil : counted.filtered
        report.timerOverheadNanoseconds = Self.timerOverhead()

        // Replay's capture.
        var capturePath = options.replay ? options.capturePath : nil
        var temporaryCapture: String? = nil
        if options.replay && capturePath == nil {
            let path = "\(options.temporaryDirectory)/sluice-bench-\(getpid()).pcap"
            try packets.writeCapture(path: path)
            capturePath = path
            temporaryCapture = path
        }
        defer { if let temporaryCapture { unlink(temporaryCapture) } }
        let outputDirectory = "\(options.temporaryDirectory)/sluice-bench-\(getpid())-out"

        let kernelRepeat = options.kernelRepeat ?? 10_000
        report.kernelRepeat = kernel == nil ? nil : kernelRepeat
        var vm: [Double] = []
        var copy: [Double] = []
        var kernelTimed: [Double] = []
        var vmSample: [Double] = []
        var latencies: [Histogram<UInt64>] = []
        var replayPlain: [Double] = []
        var replayOutputs: [Double] = []
        var kernelPerPacket: [Double] = []
        var interpreterAll: [Double] = []
        var interpreterSample: [Double] = []
        loop.throughputPass()  // warm-up: caches, branch predictors, page faults in the frame buffer
        interpreterLoop?.throughputPass()
        for round in 0..<options.rounds {
            progress?("round \(round + 1)/\(options.rounds)")
            vm.append(Double(loop.throughputPass()) / Double(packets.count))
            copy.append(Double(loop.copyPass()) / Double(packets.count))
            if let kernel {
                kernelTimed.append(try Self.kernelTimedPass(kernel, packets: packets, repeat: kernelRepeat))
                vmSample.append(Self.vmSamplePass(loop, packets: packets, repeat: kernelRepeat))
                if let interpreterLoop {
                    interpreterSample.append(Self.vmSamplePass(interpreterLoop, packets: packets, repeat: kernelRepeat))
                }
            }
            if let interpreterLoop {
                interpreterAll.append(Double(interpreterLoop.throughputPass()) / Double(packets.count))
            }
            latencies.append(loop.latencyPass(timerOverhead: UInt64(report.timerOverheadNanoseconds.rounded())))
            if let capturePath {
                replayPlain.append(try replayRate(capture: capturePath, outputDirectory: nil))
                replayOutputs.append(try replayRate(capture: capturePath, outputDirectory: outputDirectory))
            }
            if let kernel { kernelPerPacket.append(try Self.kernelPerPacketRate(kernel, packets: packets)) }
        }
        report.nanosecondsPerPacket = Stat(vm)
        report.copyNanosecondsPerPacket = Stat(copy)
        let medianRound = latencies.indices.sorted {
            latencies[$0].valueAtPercentile(50) < latencies[$1].valueAtPercentile(50)
        }[
            latencies.count / 2]
        let histogram = latencies[medianRound]
        report.latency = Percentiles(
            p50: histogram.valueAtPercentile(50), p99: histogram.valueAtPercentile(99),
            p999: histogram.valueAtPercentile(99.9), max: histogram.max)
        if !kernelTimed.isEmpty {
            report.kernelNanosecondsPerPacket = Stat(kernelTimed)
            report.sampleNanosecondsPerPacket = Stat(vmSample)
            report.kernelSamplePackets = Self.kernelSample(packets.count).count
        }
        if !replayPlain.isEmpty {
            report.replayPacketsPerSecond = Stat(replayPlain)
            report.replayWithOutputsPacketsPerSecond = Stat(replayOutputs)
        }
        if !kernelPerPacket.isEmpty { report.kernelPerPacketPathPacketsPerSecond = Stat(kernelPerPacket) }
        if !interpreterAll.isEmpty { report.interpreterNanosecondsPerPacket = Stat(interpreterAll) }
        if !interpreterSample.isEmpty { report.interpreterSampleNanosecondsPerPacket = Stat(interpreterSample) }
        report.finish()
        return report
    }

    var engineChoice: EngineChoice { options.engine ?? (options.verify ? .interpreter : .checked) }

    /// Sluice's whole replay over the capture; packets per second of its loop (reading included).
    private func replayRate(capture: String, outputDirectory: String?) throws -> Double {
        var replayOptions = Replay.Options()
        replayOptions.filterExpression = options.filterExpression
        if let outputDirectory {
            mkdir(outputDirectory, 0o700)
            replayOptions.outputDirectory = outputDirectory
            replayOptions.resultsPath = outputDirectory + "/results.jsonl"
        }
        defer {
            if let outputDirectory {
                for name in ["pass", "tx", "redirect", "drop", "aborted", "filtered"] { unlink("\(outputDirectory)/\(name).pcap") }
                unlink(outputDirectory + "/results.jsonl")
                rmdir(outputDirectory)
            }
        }
        let summary = try Replay.run(
            source: source, spec: spec, capture: capture, options: replayOptions, budget: options.budget,
            engine: engineChoice)
        return summary.packetsPerSecond
    }

    /// The kernel's own average per packet (JIT, `repeat` runs of each packet), averaged over an evenly spaced
    /// sample of the packets: every test run with `repeat` > 1 swaps the XDP dispatcher's program in and out, two RCU
    /// synchronisations of milliseconds each, so one call per packet of a large set would take minutes.
    static func kernelTimedPass(_ kernel: KernelRunner, packets: BenchPackets, repeat count: Int) throws -> Double {
        let sample = kernelSample(packets.count)
        var total = 0.0
        for i in sample {
            total += Double(try kernel.timedRun(packet: packets.frames[i], repeat: count).nanosecondsPerRun)
        }
        return total / Double(sample.count)
    }

    /// Indices of the packets the kernel's timed runs use: all of them up to 64, otherwise 64 evenly spaced.
    static func kernelSample(_ count: Int) -> [Int] {
        let size = min(count, 64)
        return (0..<size).map { $0 * count / size }
    }

    /// The VM's time per packet over the same sample as the kernel's (copy + run, `repeat` runs each, like the
    /// kernel's loop), so the ratio compares the same packets.
    static func vmSamplePass(_ loop: VMLoop, packets: BenchPackets, repeat count: Int) -> Double {
        let sample = kernelSample(packets.count)
        var total: UInt64 = 0
        for i in sample { total &+= loop.repeatPass(packet: i, count: count) }
        return Double(total) / Double(sample.count * count)
    }

    /// The per-packet kernel path (`KernelRunner.run`, one `BPF_PROG_TEST_RUN` per packet, as `replay
    /// --against-kernel` does it): packets per second.
    static func kernelPerPacketRate(_ kernel: KernelRunner, packets: BenchPackets) throws -> Double {
        let start = monotonicNanoseconds()
        for frame in packets.frames { _ = try kernel.run(packet: frame) }
        let elapsed = monotonicNanoseconds() - start
        return Double(packets.count) * 1e9 / Double(max(elapsed, 1))
    }

    /// The median cost of one `clock_gettime(CLOCK_MONOTONIC)` pair around nothing.
    static func timerOverhead() -> Double {
        var samples: [UInt64] = []
        samples.reserveCapacity(10_001)
        for _ in 0...10_000 {
            let a = monotonicNanoseconds()
            let b = monotonicNanoseconds()
            samples.append(b - a)
        }
        samples.sort()
        return Double(samples[samples.count / 2])
    }

    @inline(__always)
    static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}

/// The VM's timed loops over in-memory packets, with one reused frame buffer in the kernel's geometry: each is the
/// `Pipeline` with a `MemoryFrameSource` and a `NullSink`. Public for the allocation benchmark (`sluice-malloc-bench`).
public final class VMLoop {
    let runner: ProgramRunner
    let packets: BenchPackets
    let buffer: UnsafeMutableRawPointer
    /// Frames per pipeline batch (as the live engine's default batch).
    static let batchSize = 64
    /// Keeps results observable so the optimiser cannot drop runs.
    var sink: UInt64 = 0
    /// `--filter`: packets it does not match are not run (the timed passes include the filter).
    public var filter: PacketFilter?

    public init(runner: ProgramRunner, packets: BenchPackets) {
        self.runner = runner
        self.packets = packets
        buffer = .allocate(byteCount: XDPFrameGeometry.frameSize, alignment: 64)
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: XDPFrameGeometry.frameSize)
    }

    public func close() { buffer.deallocate() }

    /// Runs `processor` over `source` to its end; returns the elapsed nanoseconds.
    @inline(__always)
    private func pass<P: FrameProcessor>(_ source: MemoryFrameSource, _ processor: inout P) -> UInt64 {
        var pipeline = Pipeline(source: source, sink: NullSink())
        let start = OfflineBenchmark.monotonicNanoseconds()
        while pipeline.runBatch(upTo: Self.batchSize, processor: &processor) != nil {}
        let elapsed = OfflineBenchmark.monotonicNanoseconds() &- start
        sink &+= pipeline.sink.accumulated
        return elapsed
    }

    /// Runs every packet once; returns the elapsed nanoseconds.
    @inline(never) @discardableResult
    public func throughputPass() -> UInt64 {
        var processor = runner.processor
        return pass(MemoryFrameSource(packets: packets, buffer: buffer, filter: filter), &processor)
    }

    /// Runs packet `i` `count` times (copied in each time); returns the elapsed nanoseconds.
    @inline(never)
    func repeatPass(packet i: Int, count: Int) -> UInt64 {
        var processor = runner.processor
        return pass(MemoryFrameSource(packets: packets, buffer: buffer, filter: filter, repeating: i, count: count), &processor)
    }

    /// The copy alone (what `throughputPass` spends outside the program).
    @inline(never)
    func copyPass() -> UInt64 {
        var processor = TouchProcessor()
        defer { sink &+= processor.touched }
        return pass(MemoryFrameSource(packets: packets, buffer: buffer, filter: filter), &processor)
    }

    /// Times every packet on its own (copy + run, one-frame batches), timer cost subtracted, into an HDR histogram
    /// (1 ns .. 1 s, 3 significant digits).
    @inline(never)
    func latencyPass(timerOverhead: UInt64) -> Histogram<UInt64> {
        var histogram = Histogram<UInt64>(highestTrackableValue: 1_000_000_000, numberOfSignificantValueDigits: .three)
        var processor = runner.processor
        var pipeline = Pipeline(source: MemoryFrameSource(packets: packets, buffer: buffer, filter: filter), sink: NullSink())
        while true {
            let start = OfflineBenchmark.monotonicNanoseconds()
            guard pipeline.runBatch(upTo: 1, processor: &processor) != nil else { break }
            let elapsed = OfflineBenchmark.monotonicNanoseconds() &- start
            _ = histogram.record(elapsed > timerOverhead ? elapsed - timerOverhead : 0)
        }
        sink &+= pipeline.sink.accumulated
        return histogram
    }

    /// Runs every packet once with instruction counting: total instructions, verdicts, faults.
    func countingPass() -> (instructions: UInt64, verdicts: [String: Int], faults: Int, filtered: Int) {
        var processor = CountingProcessor(runner: runner)
        var pipeline = Pipeline(
            source: MemoryFrameSource(packets: packets, buffer: buffer, filter: filter), sink: VerdictCountingSink())
        while pipeline.runBatch(upTo: Self.batchSize, processor: &processor) != nil {}
        var verdicts: [String: Int] = [:]
        for action in XDPAction.allCases where pipeline.sink.counts[Int(action.rawValue)] > 0 {
            verdicts["\(action)"] = pipeline.sink.counts[Int(action.rawValue)]
        }
        return (processor.instructions, verdicts, processor.faults, pipeline.sink.filtered)
    }
}

/// In-memory packets as a pipeline source: each frame copied into one reused buffer (zeroed headroom, as the
/// kernel's test run), in order, or one packet `count` times. With a filter (`--filter`), packets it does not match
/// come out without a frame (not run; the sink counts them), so the timed passes include the filter.
struct MemoryFrameSource: FrameSource {
    let packets: BenchPackets
    let buffer: UnsafeMutableRawPointer
    /// Reached at +0 per frame (no retain and release).
    let filterRef: Unmanaged<PacketFilter>?
    let frameEnd = XDPFrameGeometry.frameSize - XDPFrameGeometry.tailroom
    let repeating: Int?
    let total: Int
    var position = 0
    var batchStart = 0

    init(
        packets: BenchPackets, buffer: UnsafeMutableRawPointer, filter: PacketFilter? = nil, repeating: Int? = nil,
        count: Int? = nil
    ) {
        self.packets = packets
        self.buffer = buffer
        filterRef = filter.map { Unmanaged.passUnretained($0) }
        self.repeating = repeating
        total = count ?? packets.count
    }

    @inline(__always)
    mutating func receive(upTo limit: Int) -> Int? {
        guard position < total else { return nil }
        batchStart = position
        let n = min(limit, total - position)
        position += n
        return n
    }

    @inline(__always)
    mutating func frame(_ i: Int) -> (frame: Frame?, token: Int) {
        let index = repeating ?? (batchStart + i)
        let length = packets.lengths[index]
        (buffer + XDPFrameGeometry.headroom).copyMemory(from: packets.bytes + packets.offsets[index], byteCount: length)
        let frame = Frame(
            buffer: buffer, bufferSize: frameEnd, dataOffset: XDPFrameGeometry.headroom, length: length,
            timestampNanos: 1_700_000_000_000_000_000 &+ UInt64(index) &* 1000, ingressIfindex: 1)
        if let filterRef, !filterRef._withUnsafeGuaranteedRef({ $0.matches(frame) }) { return (nil, index) }
        return (frame, index)
    }
}

/// The timed passes' sink: keeps every verdict observable, so that no run can be optimised away, and nothing else.
struct NullSink: VerdictSink {
    var accumulated: UInt64 = 0
    /// Packets the source's filter left out.
    var filtered = 0

    @inline(__always)
    mutating func apply(_ verdict: Verdict, to frame: Frame, token: Int) { accumulated &+= verdict.returnValue }

    @inline(__always)
    mutating func refuse(_ token: Int) { filtered &+= 1 }
}

/// The counting pass's sink (not timed): verdicts by action.
struct VerdictCountingSink: VerdictSink {
    var counts = [Int](repeating: 0, count: XDPAction.allCases.count)
    var filtered = 0

    mutating func apply(_ verdict: Verdict, to frame: Frame, token: Int) { counts[Int(verdict.action.rawValue)] += 1 }

    mutating func refuse(_ token: Int) { filtered += 1 }
}

/// Runs no program: touches the frame's first byte (the copy pass's baseline).
struct TouchProcessor: FrameProcessor {
    var touched: UInt64 = 0
    var redirectTarget: RedirectTarget? { nil }
    @inline(__always)
    mutating func process(_ frame: inout Frame) -> UInt64 {
        touched &+= UInt64(frame.data.load(as: UInt8.self))
        return UInt64(XDPAction.drop.rawValue)
    }
}

/// Runs the program counting instructions (the benchmarks' counting pass), in the runner's mode.
struct CountingProcessor: FrameProcessor {
    unowned(unsafe) let runner: ProgramRunner
    var instructions: UInt64 = 0
    var faults = 0
    private(set) var lastFault: ExecutionFault?
    var redirectTarget: RedirectTarget? { nil }

    init(runner: ProgramRunner) { self.runner = runner }

    mutating func process(_ frame: inout Frame) -> UInt64 {
        let result = runner.runCounting(frame)
        instructions &+= result.instructionCount
        lastFault = result.fault
        if result.fault != nil { faults += 1 }
        return result.fault == nil ? result.returnValue : UInt64(XDPAction.aborted.rawValue)
    }
}

/// Minimum and median over rounds.
public struct Stat: Codable, Sendable, Hashable {
    public var min: Double
    public var median: Double
    public var max: Double
    public init(_ samples: [Double]) {
        let sorted = samples.sorted()
        min = sorted.first ?? 0
        max = sorted.last ?? 0
        median =
            sorted.isEmpty
            ? 0
            : (sorted.count % 2 == 1
                ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2)
    }
}

/// Per-packet latency percentiles in nanoseconds.
public struct Percentiles: Codable, Sendable, Hashable {
    public var p50: UInt64
    public var p99: UInt64
    public var p999: UInt64
    public var max: UInt64
}

/// What `sluice bench` reports for an offline run. Times in nanoseconds, rates in packets per second.
public struct OfflineBenchReport: Codable, Sendable {
    public var program: String
    public var object: String
    public var packets: Int
    public var meanPacketLength: Double
    public var rounds: Int
    /// The program ran in checked mode (every access bounds-checked) rather than verified.
    public var checked: Bool
    /// The CPU the benchmark thread was pinned to.
    public var cpu: Int
    /// The engine that ran the program (`ratioToKernel` is this engine's).
    public var engine: Engine = .interpreter
    /// Why `--engine auto` fell back to the interpreter, if it did.
    public var engineNote: String?
    /// Native engine: LLVM compile time of the program and its tail-call targets (lowering, O2, machine code).
    public var compileMilliseconds: Double?
    /// Native engine: the interpreter on the same packets in the same rounds (copy + run), as the reference.
    public var interpreterNanosecondsPerPacket: Stat?
    /// Native engine with --against-kernel: the interpreter on the kernel's sample, as `sampleNanosecondsPerPacket`.
    public var interpreterSampleNanosecondsPerPacket: Stat?
    /// interpreterSampleNanosecondsPerPacket ÷ kernel (medians): the interpreter's `ratioToKernel` in this run.
    public var interpreterRatioToKernel: Double?
    /// Native ns/packet ÷ interpreter ns/packet (medians, all packets).
    public var ratioToInterpreter: Double?
    public var skippedShort = 0
    public var truncatedToLinear = 0
    public var instructionsPerPacket = 0.0
    public var verdicts: [String: Int] = [:]
    public var faults = 0
    /// `--filter`: packets the filter did not match (not run; not in `verdicts`).
    public var filteredOut: Int?
    /// Median cost of an empty `clock_gettime` pair, subtracted from every latency sample.
    public var timerOverheadNanoseconds = 0.0
    /// VM: copy into the frame buffer + run, per packet.
    public var nanosecondsPerPacket = Stat([])
    /// The copy alone, per packet.
    public var copyNanosecondsPerPacket = Stat([])
    /// Per-packet latency (copy + run), from the median round's histogram.
    public var latency = Percentiles(p50: 0, p99: 0, p999: 0, max: 0)
    public var kernelRepeat: Int?
    /// Packets (evenly spaced) the kernel's timed runs and the VM's matching runs use.
    public var kernelSamplePackets: Int?
    /// Kernel JIT, `BPF_PROG_TEST_RUN` duration per run, averaged over the sample.
    public var kernelNanosecondsPerPacket: Stat?
    /// VM (copy + run) on the same sample, each packet `kernelRepeat` times in a row, as the kernel runs them.
    public var sampleNanosecondsPerPacket: Stat?
    public var replayPacketsPerSecond: Stat?
    public var replayWithOutputsPacketsPerSecond: Stat?
    /// One `BPF_PROG_TEST_RUN` per packet (the path of `replay --against-kernel`).
    public var kernelPerPacketPathPacketsPerSecond: Stat?

    public init(
        program: String, object: String, packets: Int, meanPacketLength: Double, rounds: Int, checked: Bool, cpu: Int
    ) {
        self.program = program
        self.object = object
        self.packets = packets
        self.meanPacketLength = meanPacketLength
        self.rounds = rounds
        self.checked = checked
        self.cpu = cpu
    }

    /// Derived figures (stored, so `--json` has them too); set by `finish()`.
    public var packetsPerSecond = 0.0
    /// (VM ns/packet − copy ns/packet) ÷ instructions per packet.
    public var nanosecondsPerInstruction = 0.0
    /// VM ns/packet ÷ kernel JIT ns/packet on the same sample, same repetition (medians): times slower than the JIT.
    public var ratioToKernel: Double?
    /// Replay packets/s ÷ per-packet kernel path packets/s (medians); issue 7 wants ≥ 10.
    public var replayRatio: Double?
    public var replayWithOutputsRatio: Double?

    mutating func finish() {
        packetsPerSecond = 1e9 / max(nanosecondsPerPacket.median, 1e-9)
        nanosecondsPerInstruction =
            instructionsPerPacket == 0
            ? 0 : (nanosecondsPerPacket.median - copyNanosecondsPerPacket.median) / instructionsPerPacket
        if let kernel = kernelNanosecondsPerPacket, let sample = sampleNanosecondsPerPacket {
            ratioToKernel = sample.median / max(kernel.median, 1e-9)
            interpreterRatioToKernel = interpreterSampleNanosecondsPerPacket.map { $0.median / max(kernel.median, 1e-9) }
        }
        ratioToInterpreter = interpreterNanosecondsPerPacket.map { nanosecondsPerPacket.median / max($0.median, 1e-9) }
        if let k = kernelPerPacketPathPacketsPerSecond {
            replayRatio = replayPacketsPerSecond.map { $0.median / max(k.median, 1e-9) }
            replayWithOutputsRatio = replayWithOutputsPacketsPerSecond.map { $0.median / max(k.median, 1e-9) }
        }
    }
}

/// `bench --filter`: the filter for the benchmark's loops, on the engine the program runs on.
enum BenchFilter {
    static func make(_ options: OfflineBenchmark.Options, engine: EngineChoice) throws -> PacketFilter? {
        try options.filterExpression.map { expression throws(FilterError) in
            try PacketFilter(expression: expression, engine: engine == .checked ? .interpreter : engine)
        }
    }
}
