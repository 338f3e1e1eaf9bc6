import BPFVM

#if canImport(Glibc)
import Glibc
#endif

/// Deterministic replay: a pcap is the packet source, per-verdict pcaps and a JSON-lines file are the sinks, the
/// clock is the capture's timestamps, randomness is seeded, one ordered worker. The same inputs always give
/// byte-identical outputs.
///
/// Frames are laid out exactly as the kernel's `BPF_PROG_TEST_RUN` lays them out (`XDPFrameGeometry`): frames shorter
/// than an Ethernet header are refused, and of a frame longer than the linear buffer the program sees the first
/// `XDPFrameGeometry.maxLinearData` bytes while the rest follows unchanged — both reported per packet.
public final class Replay {
    public struct Options: Sendable {
        /// Directory for `pass.pcap`, `tx.pcap`, `redirect.pcap`, `drop.pcap`, `aborted.pcap`.
        public var outputDirectory: String?
        /// JSON-lines results file.
        public var resultsPath: String?
        /// Include the output bytes (metadata + frame, hex) in each result line.
        public var includeBytes = false
        /// Stop after this many packets.
        public var limit: Int?
        /// Leave all-zero values of array maps out of the final maps line.
        public var omitZeroArrayValues = true
        /// `xdp_md.ingress_ifindex` the program sees: 1 (loopback), what the kernel's test run reports by default.
        public var ingressIfindex: UInt32 = 1
        /// Accept raw-IP and Linux cooked captures by putting an Ethernet header in front of each packet
        /// (`--synthesize-ethernet`, `PcapReader.synthesizeEthernetHeader`).
        public var synthesizeEthernet = false
        /// The verdict captures' format: classic pcap, or pcapng with a comment per packet (input index, verdict,
        /// return value) and the input's interface ids and comments kept.
        public var outputFormat: CaptureFormat = .pcap
        /// Packets (capture indexes, from 0) to trace instruction by instruction (`--trace`).
        public var tracePackets: Set<Int> = []
        /// Trace every packet (`--trace-all`), at most `traceLimit` of them.
        public var traceAll = false
        public var traceLimit = 100
        public var traceStyle: TraceReport.Style = .text
        /// Where trace lines go, one call per line (no newline); nil: traces are not written.
        public var traceOutput: (@Sendable (String) -> Void)?
        /// Write an lcov tracefile of the whole replay here (`--coverage`).
        public var coveragePath: String?
        /// Where `bpf_trace_printk` messages go, as the kernel's trace_pipe shows them (one call per line, no
        /// newline); nil: only the results file has them.
        public var printkOutput: (@Sendable (String) -> Void)?
        /// Write the final maps here, BTF-decoded in `bpftool map dump -j`'s shape (`MapDump`, `--maps-out`).
        public var mapsOutPath: String?
        /// Record types of ring buffers / perf-event arrays by map name (`--event-type`), for decoded events.
        public var eventTypes: [String: [BTFType]] = [:]
        /// `--filter`: only records matching this libpcap expression are run; the others are "filtered" in the
        /// results, written unchanged to `filtered.pcap` in the output directory, and counted (`PacketFilter`).
        public var filterExpression: String?
        public init() {}
    }

    public struct Summary: Sendable {
        public var packets = 0
        /// Records `--filter` did not match (not run, not in `counts`).
        public var filtered = 0
        /// Records the kernel's test-run path refuses (shorter than an Ethernet header).
        public var refused = 0
        /// Records longer than the linear buffer (the program saw only the linear part).
        public var oversized = 0
        /// Records whose captured length is shorter than the original length.
        public var truncatedRecords = 0
        public var counts: [XDPAction: Int] = [:]
        /// Runs that faulted (checked mode, or the budget in any mode; counted as aborted too).
        public var faults = 0
        /// Runs that went past the instruction budget (among `faults`).
        public var budgetExceeded = 0
        /// The per-packet instruction budget the replay ran with.
        public var budget: UInt64 = 0
        public var elapsedNanoseconds: UInt64 = 0
        /// Differences from the kernel (`--against-kernel`), first ones first.
        public var differences: [String] = []
        public var differenceCount = 0
        /// Map entries that differ from the kernel's only by time stamps (not counted), first ones first.
        public var byDesignDifferences: [String] = []
        public var byDesignCount = 0
        /// Map entries left out of the comparison by --ignore-map / --ignore-key.
        public var ignoredEntries = 0
        /// When map entries differ and the program reads a clock: how to leave out values computed from time.
        public var mapHint: String?
        /// The signal (SIGINT, SIGTERM) that stopped the replay early; the outputs were finished up to that packet.
        public var stoppedBySignal: Int32?
        /// Packets traced instruction by instruction.
        public var traced = 0
        /// `bpf_trace_printk` messages printed, and those lost because a run printed more than the buffer holds.
        public var printkMessages = 0
        public var printkDropped = 0
        /// The engine that ran the program.
        public var engine: Engine = .interpreter
        /// Why `--engine auto` fell back to the interpreter, if it did.
        public var engineNote: String?
        public var packetsPerSecond: Double {
            elapsedNanoseconds == 0 ? 0 : Double(packets) * 1e9 / Double(elapsedNanoseconds)
        }
    }

    /// One packet's comparison with the kernel, reported to the caller.
    public struct KernelComparison {
        public var runner: KernelRunner
        /// How many differences to describe (all are counted).
        public var maxReported = 10
        /// Maps and keys left out, and the time-stamp classification (`MapComparison`).
        public var maps = MapComparison.Options()
        public init(runner: KernelRunner) { self.runner = runner }
    }

    public let runner: ProgramRunner
    public let options: Options
    var kernel: KernelComparison?

    public init(runner: ProgramRunner, options: Options, kernel: KernelComparison? = nil) {
        self.runner = runner
        self.options = options
        self.kernel = kernel
    }

    /// Progress of a replay: packets so far, and bytes read of the capture's size when it is a regular file.
    public struct Progress: Sendable {
        public var packets: Int
        public var bytesRead: Int?
        public var totalBytes: Int?
    }

    /// Replays `capturePath` (`-`: standard input). `progress` is called every 4096 packets. When `stop` is raised
    /// (checked every 256 packets) the replay ends early: the outputs are finished with the packets replayed so far
    /// (the results end with the maps line as usual) and the summary records the signal.
    public func run(
        capturePath: String, stop: StopSignal? = nil, progress: ((Progress) -> Void)? = nil
    ) throws -> Summary {
        let source = try PcapFrameSource(
            path: capturePath, synthesizeEthernet: options.synthesizeEthernet, ingressIfindex: options.ingressIfindex)
        // `--filter`: the source leaves non-matching records out (not run); the sink records them as filtered.
        let filter = try ReplayFilter(options, snapshotLength: source.reader.snapshotLength, engine: runner.engine)
        source.filter = filter.filter
        let sink = try ReplaySink(options: options, runner: runner, filter: filter)
        runner.environment.pointee.trace = sink.printk
        defer { runner.environment.pointee.trace = nil }
        let start = Self.monotonicNanoseconds()
        // Clock readings the kernel's runs may store fall in this window (the "differs by design (time)" rule).
        var timeWindow = kernel != nil ? MapComparison.TimeWindow.open() : nil
        var stoppedBySignal: Int32?
        var traced = 0
        var recorder: ExecutionRecorder?
        var differences: (list: [String], count: Int) = ([], 0)
        /// The sink, decorated with the kernel comparison when there is one; each combination is its own
        /// specialised pipeline.
        func replay<P: FrameProcessor>(_ processor: inout P, prepare: (inout P, Int) -> Void) throws {
            if let kernel {
                var comparison = KernelComparisonSink(inner: sink, kernel: kernel.runner, maxReported: kernel.maxReported)
                stoppedBySignal = try drive(source, &comparison, &processor, stop: stop, progress: progress, prepare: prepare)
                differences = (comparison.differences, comparison.differenceCount)
            } else {
                var plain = sink
                stoppedBySignal = try drive(source, &plain, &processor, stop: stop, progress: progress, prepare: prepare)
            }
        }
        // Trace and coverage runs are observed; everything else takes the unobserved fast path.
        if options.coveragePath != nil || options.traceAll || !options.tracePackets.isEmpty {
            var processor = ObservedProcessor(runner: runner, options: options)
            recorder = processor.recorder
            try replay(&processor) { $0.packetIndex = $1 }
            traced = processor.traced
        } else {
            var processor = runner.processor
            try replay(&processor) { _, _ in }
        }
        sink.summary.elapsedNanoseconds = Self.monotonicNanoseconds() - start
        sink.summary.stoppedBySignal = stoppedBySignal
        sink.summary.traced = traced
        sink.summary.differences = differences.list
        sink.summary.differenceCount = differences.count

        let snapshots = runner.program.mapSnapshots()
        if let kernel {
            let theirs = try kernel.runner.mapSnapshots()
            timeWindow?.close()
            var mapOptions = kernel.maps
            mapOptions.timeWindow = timeWindow
            mapOptions.programReadsTime = MapComparison.readsTime(runner.program.spec)
            let specs = Dictionary(runner.program.maps.map { ($0.spec.name, $0.spec) }, uniquingKeysWith: { a, _ in a })
            let report = MapComparison.compare(specs: specs, sluice: snapshots, kernel: theirs, options: mapOptions)
            for difference in report.differences { record(difference, in: &sink.summary, max: kernel.maxReported) }
            sink.summary.byDesignCount += report.byDesign.count
            sink.summary.byDesignDifferences += report.byDesign.prefix(kernel.maxReported)
            sink.summary.ignoredEntries += report.ignored
            sink.summary.mapHint = report.hint
        }
        try sink.finish(
            maps: snapshots, specs: runner.program.maps.map(\.spec), omitZeroArrayValues: options.omitZeroArrayValues)
        if let path = options.coveragePath, let recorder {
            var file = try OutputFile(path: path, atomically: true)
            let text = Array(CoverageReport.lcov(recorder.programs, testName: runner.program.spec.name).utf8)
            try text.withUnsafeBytes { bytes in Result { () throws(SystemError) in try file.write(bytes) } }.get()
            try file.close()
        }
        return sink.summary
    }

    /// The replay loop: one record per batch, in capture order, until the capture ends, `--limit` is reached or
    /// `stop` is raised (checked every 256 records). `prepare` tells the processor the next record's index. Returns
    /// the signal that stopped it, if one did.
    private func drive<Sink: VerdictSink, P: FrameProcessor>(
        _ source: PcapFrameSource, _ sink: inout Sink, _ processor: inout P, stop: StopSignal?,
        progress: ((Progress) -> Void)?, prepare: (inout P, Int) -> Void
    ) throws -> Int32? where Sink.Token == ReplayPacket {
        var pipeline = Pipeline(source: source, sink: sink)
        defer { sink = pipeline.sink }
        let totalBytes = source.reader.fileSize
        var stopped: Int32?
        while options.limit.map({ source.delivered < $0 }) ?? true {
            if source.delivered & 255 == 0, let stop, stop.isRequested {
                stopped = stop.receivedSignal ?? SIGINT
                break
            }
            prepare(&processor, source.delivered)
            guard try pipeline.runBatch(upTo: 1, processor: &processor) != nil else { break }
            if source.delivered & 4095 == 0, let progress {
                progress(Progress(packets: source.delivered, bytesRead: source.reader.bytePosition, totalBytes: totalBytes))
            }
        }
        if let failure = source.failure { throw failure }
        return stopped
    }

    /// Counts (and prints, as the kernel's trace_pipe shows them) the run's `bpf_trace_printk` messages, then empties
    /// the buffer. The task field is `packet-INDEX`, the time the capture's.
    static func drainPrintk(
        _ printk: UnsafeMutablePointer<TraceBuffer>, packet: Int, timestampNanos: UInt64, summary: inout Summary,
        output: ((String) -> Void)?
    ) {
        let bytes = UnsafeRawBufferPointer(start: printk.pointee.bytes, count: printk.pointee.count)
        var start = 0
        for index in 0..<bytes.count where bytes[index] == UInt8(ascii: "\n") {
            summary.printkMessages += 1
            if let output {
                let message = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                let line = TracePipeFormat.line(
                    task: "packet", pid: packet, cpu: 0, timestampNanos: timestampNanos, message: message)
                output(line)
            }
            start = index + 1
        }
        summary.printkDropped += printk.pointee.dropped
        printk.pointee.count = 0
        printk.pointee.dropped = 0
    }

    private func record(_ difference: String, in summary: inout Summary, max: Int) {
        summary.differenceCount += 1
        if summary.differences.count < max { summary.differences.append(difference) }
    }

    public static func monotonicNanosecondsNow() -> UInt64 { monotonicNanoseconds() }

    static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

/// Describes where two byte strings first differ.
enum BytesDifference {
    static func describe(_ sluice: [UInt8], _ kernel: [UInt8]) -> String {
        if sluice.count != kernel.count {
            return "length Sluice \(sluice.count), kernel \(kernel.count)"
        }
        let first = sluice.indices.first { sluice[$0] != kernel[$0] } ?? 0
        return "first difference at byte \(first): Sluice 0x\(String(sluice[first], radix: 16)), kernel 0x\(String(kernel[first], radix: 16))"
    }
}

/// Lowercase hex of bytes.
public enum Hex {
    public static func string(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses hex (even length, optional `0x`); nil if malformed.
    public static func bytes(_ text: String) -> [UInt8]? {
        var s = Substring(text)
        if s.hasPrefix("0x") { s = s.dropFirst(2) }
        guard s.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(s.count / 2)
        var index = s.startIndex
        while index < s.endIndex {
            let next = s.index(index, offsetBy: 2)
            guard let byte = UInt8(s[index..<next], radix: 16) else { return nil }
            out.append(byte)
            index = next
        }
        return out
    }
}

extension Replay {
    /// Everything `sluice replay` does: load the program with its initial state (and the same program into the
    /// kernel when comparing), replay the capture, write the outputs.
    public static func run(
        source: ProgramSource, spec: ProgramSpec, capture: String, options: Options, seed: UInt64 = 0x5eed,
        againstKernel: Bool = false, verify: Bool = true, budget: UInt64 = RunBudget.defaultInstructions,
        engine: EngineChoice? = nil, stop: StopSignal? = nil, mapComparison: MapComparison.Options = .init(),
        progress: ((Progress) -> Void)? = nil
    ) throws -> Summary {
        var kernel: KernelRunner? = nil
        var possibleCPUs = 1
        if againstKernel {
            let missing = KernelPrivileges.missing()
            guard missing.isEmpty else {
                throw ProgramSource.Error(
                    description: "--against-kernel needs \(missing.joined(separator: ", ")) (run as root)")
            }
            // Per-CPU map slots written by the kernel's test run land on the CPU this thread runs on: make it CPU 0's
            // counterpart of Sluice's processor id 0.
            CPUAffinity.pinToFirstCPU()
            let runner = try source.kernelRunner()
            kernel = runner
            possibleCPUs = runner.possibleCPUs
        }
        let session = try ProgramSession(
            source: source, spec: spec, engine: engine ?? (verify ? .interpreter : .checked), possibleCPUs: possibleCPUs)
        let runner = session.runner(budget: budget, seed: seed)
        let replay = Replay(
            runner: runner, options: options,
            kernel: kernel.map {
                var comparison = KernelComparison(runner: $0)
                comparison.maps = mapComparison
                return comparison
            })
        var summary = try replay.run(capturePath: capture, stop: stop, progress: progress)
        summary.engine = runner.engine
        summary.engineNote = session.engineNote
        return summary
    }
}
