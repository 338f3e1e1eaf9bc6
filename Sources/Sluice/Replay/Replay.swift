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
        var reader = try PcapReader(path: capturePath, synthesizeEthernet: options.synthesizeEthernet)
        let totalBytes = reader.fileSize
        var summary = Summary()
        summary.budget = runner.budget
        var verdictWriters = try options.outputDirectory.map { directory throws(PcapError) in
            try VerdictPcapWriters(directory: directory, format: options.outputFormat)
        }
        var results = try options.resultsPath.map { path throws(SystemError) in
            try ResultsWriter(path: path, includeBytes: options.includeBytes)
        }

        let buffer = UnsafeMutableRawPointer.allocate(byteCount: XDPFrameGeometry.frameSize, alignment: 64)
        defer { buffer.deallocate() }
        var tail = [UInt8]()  // bytes past the linear buffer of oversized frames (rare)
        var output = [UInt8]()
        output.reserveCapacity(PcapReader.maximumRecordLength)
        let frameEnd = XDPFrameGeometry.frameSize - XDPFrameGeometry.tailroom
        // bpf_trace_printk writes here; drained after every run that printed.
        let printk = UnsafeMutablePointer<TraceBuffer>.allocate(capacity: 1)
        printk.initialize(to: TraceBuffer(capacity: 1 << 16))
        runner.environment.pointee.trace = printk
        defer {
            runner.environment.pointee.trace = nil
            printk.pointee.bytes.deallocate()
            printk.deallocate()
        }
        let eventMaps = runner.program.maps.filter { $0.spec.type == .ringbuf || $0.spec.type == .perfEventArray }
        // Trace and coverage runs are observed; everything else takes the unobserved fast path.
        let recorder =
            options.coveragePath != nil || options.traceAll || !options.tracePackets.isEmpty
            ? ExecutionRecorder(program: runner.program, contextPointer: runner.contextPointer) : nil
        let observing = recorder != nil
        var actionCounts = [Int](repeating: 0, count: XDPAction.allCases.count)  // per verdict, no hashing per packet
        var filter = try ReplayFilter(options, snapshotLength: reader.snapshotLength, engine: runner.engine)
        let start = Self.monotonicNanoseconds()

        while options.limit.map({ summary.packets < $0 }) ?? true {
            if summary.packets & 255 == 0, let stop, stop.isRequested {
                summary.stoppedBySignal = stop.receivedSignal ?? SIGINT
                break
            }
            guard let record = try reader.next() else { break }
            let index = record.index
            summary.packets += 1
            if record.isTruncated { summary.truncatedRecords += 1 }
            let lengthIn = record.bytes.count
            if try filter.passesThrough(record, results: &results) {
                summary.filtered += 1
                continue
            }
            if lengthIn < 14 {
                summary.refused += 1
                try results?.writeRefused(
                    index: index, lengthIn: lengthIn,
                    note: lengthIn == 0
                        ? "refused: zero-length record (the kernel's test run returns EINVAL for frames under 14 bytes)"
                        : "refused: \(lengthIn) bytes is shorter than an Ethernet header (the kernel's test run returns EINVAL)")
                if let kernel { try compareRefused(kernel.runner, record: record, summary: &summary) }
                continue
            }
            let linear = min(lengthIn, XDPFrameGeometry.maxLinearData)
            // The kernel's test run starts every frame with zeroed headroom; adjust_head/meta uncover it unchanged.
            buffer.initializeMemory(as: UInt8.self, repeating: 0, count: XDPFrameGeometry.headroom)
            buffer.advanced(by: XDPFrameGeometry.headroom).copyMemory(from: record.bytes.baseAddress!, byteCount: linear)
            tail.removeAll(keepingCapacity: true)
            var note: String? = nil
            if linear < lengthIn {
                summary.oversized += 1
                tail.append(contentsOf: UnsafeRawBufferPointer(rebasing: record.bytes[linear...]))
                note = "frame of \(lengthIn) bytes: the program saw the first \(linear) (the kernel's linear XDP buffer); the other \(lengthIn - linear) followed unchanged"
            }
            var frame = Frame(
                buffer: buffer, bufferSize: frameEnd, dataOffset: XDPFrameGeometry.headroom, length: linear,
                timestampNanos: record.timestampNanos, ingressIfindex: options.ingressIfindex)
            let result: XDPRunResult
            if observing, let recorder {
                let traced =
                    options.traceOutput != nil
                    && (options.tracePackets.contains(index) || (options.traceAll && summary.traced < options.traceLimit))
                recorder.recordsSteps = traced
                recorder.begin()
                result = runner.runObserved(&frame, frameEnd: frameEnd, observer: recorder.observer)
                recorder.end(registers: runner.finalRegisters, faulted: result.fault != nil)
                if traced, let output = options.traceOutput {
                    summary.traced += 1
                    for line in TraceReport.lines(
                        packet: index, steps: recorder.steps, instructionCount: result.instructionCount,
                        returnValue: result.returnValue, fault: result.fault, registers: runner.finalRegisters,
                        style: options.traceStyle)
                    {
                        output(line)
                    }
                }
            } else {
                result = runner.run(&frame, frameEnd: frameEnd)
            }
            var returnValue = result.returnValue
            if let fault = result.fault {
                summary.faults += 1
                if fault.isBudgetExceeded { summary.budgetExceeded += 1 }
                returnValue = UInt64(XDPAction.aborted.rawValue)
                note = "fault: \(fault)"
            }
            let action = XDPAction(returnValue: returnValue)
            actionCounts[Int(action.rawValue)] += 1

            if verdictWriters != nil || results != nil || kernel != nil {
                output.removeAll(keepingCapacity: true)
                output.append(contentsOf: UnsafeRawBufferPointer(frame.bytes))
                output.append(contentsOf: tail)
                if verdictWriters != nil {
                    try output.withUnsafeBytes { bytes in
                        try verdictWriters?.write(
                            bytes, timestampNanos: record.timestampNanos, action: action,
                            annotation: PacketAnnotation(
                                index: index, action: action,
                                returnValue: UInt64(UInt32(truncatingIfNeeded: returnValue)),
                                interfaceID: record.interfaceID, inputComment: record.comment))
                    }
                }
                if results != nil {
                    let metadata = UnsafeRawBufferPointer(frame.metadata)
                    let printed =
                        printk.pointee.count > 0
                        ? UnsafeRawBufferPointer(start: printk.pointee.bytes, count: printk.pointee.count) : nil
                    // Event records are copied out only for programs that have ring buffers or perf-event arrays.
                    var events: [(map: String, record: [UInt8])] = []
                    for map in eventMaps {
                        for record in map.drainRecords() { events.append((map.spec.name, record)) }
                    }
                    try output.withUnsafeBytes { packet in
                        try results?.writePacket(
                            index: index, returnValue: UInt64(UInt32(truncatingIfNeeded: returnValue)),
                            lengthIn: lengthIn, metadata: metadata, packet: packet, note: note, trace: printed,
                            events: events)
                    }
                }
                if let kernel {
                    // Comparison mode allocates per packet; it is bounded by the kernel's own per-packet cost.
                    let ours = RunOutcome(
                        returnValue: UInt32(truncatingIfNeeded: returnValue), packet: output,
                        metadata: Array(UnsafeRawBufferPointer(frame.metadata)))
                    try compare(kernel, ours: ours, record: record, summary: &summary)
                }
            }
            if printk.pointee.count > 0 || printk.pointee.dropped > 0 {
                Self.drainPrintk(printk, packet: index, timestampNanos: record.timestampNanos, summary: &summary,
                                 output: options.printkOutput)
            }
            if summary.packets & 4095 == 0, let progress {
                progress(Progress(packets: summary.packets, bytesRead: reader.bytePosition, totalBytes: totalBytes))
            }
        }
        summary.elapsedNanoseconds = Self.monotonicNanoseconds() - start
        for action in XDPAction.allCases where actionCounts[Int(action.rawValue)] > 0 {
            summary.counts[action] = actionCounts[Int(action.rawValue)]
        }

        let snapshots = runner.program.mapSnapshots()
        if let kernel {
            let theirs = try kernel.runner.mapSnapshots()
            for difference in MapComparison.differences(sluice: snapshots, kernel: theirs) {
                record(difference, in: &summary, max: kernel.maxReported)
            }
        }
        try results?.writeMaps(snapshots, omitZeroArrayValues: options.omitZeroArrayValues)
        if let path = options.coveragePath, let recorder {
            var file = try OutputFile(path: path, atomically: true)
            let text = Array(CoverageReport.lcov(recorder.programs, testName: runner.program.spec.name).utf8)
            try text.withUnsafeBytes { bytes in Result { () throws(SystemError) in try file.write(bytes) } }.get()
            try file.close()
        }
        try results?.close()
        try verdictWriters?.close()
        try filter.close()
        return summary
    }

    private func compare(
        _ kernel: KernelComparison, ours: RunOutcome, record: PcapRecord, summary: inout Summary
    ) throws {
        let packet = Array(record.bytes)
        let theirs: RunOutcome
        do { theirs = try kernel.runner.run(packet: packet) } catch {
            self.record("packet \(record.index): the kernel refused it (\(error)), Sluice ran it", in: &summary, max: kernel.maxReported)
            return
        }
        var what: [String] = []
        if theirs.returnValue != ours.returnValue {
            what.append("verdict: Sluice \(ours.returnValue) (\(ours.action)), kernel \(theirs.returnValue) (\(theirs.action))")
        }
        if theirs.packet != ours.packet {
            what.append("bytes: \(BytesDifference.describe(ours.packet, theirs.packet))")
        }
        if theirs.metadata != ours.metadata {
            what.append("metadata: \(BytesDifference.describe(ours.metadata, theirs.metadata))")
        }
        if !what.isEmpty {
            self.record("packet \(record.index): " + what.joined(separator: "; "), in: &summary, max: kernel.maxReported)
        }
    }

    private func compareRefused(_ kernel: KernelRunner, record: PcapRecord, summary: inout Summary) throws {
        if let outcome = try? kernel.run(packet: Array(record.bytes)) {
            self.record(
                "packet \(record.index): Sluice refused a \(record.bytes.count)-byte frame, the kernel ran it (verdict \(outcome.returnValue))",
                in: &summary, max: self.kernel?.maxReported ?? 10)
        }
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

/// Compares final map contents from Sluice and from the kernel.
public enum MapComparison {
    public static func differences(sluice: [MapSnapshot], kernel: [MapSnapshot]) -> [String] {
        var result: [String] = []
        let kernelByName = Dictionary(kernel.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for ours in sluice {
            guard let theirs = kernelByName[ours.name] else { continue }
            // Maps whose contents the kernel runner cannot read (prog arrays, ring buffers, …) have no entries there.
            if theirs.entries.isEmpty && !ours.entries.isEmpty && !MapSnapshot.comparable(type: ours.type) { continue }
            if ours.entries != theirs.entries {
                let ourKeys = Set(ours.entries.map(\.key))
                let theirKeys = Set(theirs.entries.map(\.key))
                if ourKeys != theirKeys {
                    result.append(
                        "map \(ours.name): keys differ (\(ourKeys.subtracting(theirKeys).count) only in Sluice, \(theirKeys.subtracting(ourKeys).count) only in the kernel)")
                } else {
                    let theirEntries = Dictionary(theirs.entries.map { ($0.key, $0.values) }, uniquingKeysWith: { a, _ in a })
                    let differing = ours.entries.first { theirEntries[$0.key] != $0.values }
                    let key = differing.map { Hex.string($0.key) } ?? "?"
                    result.append("map \(ours.name): value of key \(key) differs")
                }
            }
        }
        return result
    }
}

extension MapSnapshot {
    /// Map types whose entries have a byte image both Sluice and the kernel runner report.
    static func comparable(type: UInt32) -> Bool {
        [MapType.hash, .array, .percpuHash, .percpuArray, .lruHash, .lruPercpuHash, .lpmTrie, .devmap, .devmapHash]
            .contains(MapType(rawValue: type))
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
        engine: EngineChoice? = nil, stop: StopSignal? = nil,
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
        let loaded = try ProgramLoader.load(
            spec, possibleCPUs: possibleCPUs, engine: engine ?? (verify ? .interpreter : .checked))
        try source.state.apply(to: loaded.program)
        let runner = ProgramRunner(loaded: loaded, budget: budget, seed: seed)
        let replay = Replay(runner: runner, options: options, kernel: kernel.map { KernelComparison(runner: $0) })
        var summary = try replay.run(capturePath: capture, stop: stop, progress: progress)
        summary.engine = runner.engine
        summary.engineNote = loaded.engineNote
        return summary
    }
}
