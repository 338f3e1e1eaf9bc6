import BPFVM

#if canImport(Glibc)
    import Glibc
#endif

/// A capture record on its way through the replay pipeline: the record (valid until the next is read) and how much
/// of it the program sees (the kernel's linear buffer; the rest follows unchanged).
public struct ReplayPacket {
    public var record: PcapRecord
    public var linear: Int
    /// `--filter` left it out: not run, recorded as filtered.
    public var filtered = false
    /// The bytes past the linear buffer (oversized frames only).
    var tail: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: record.bytes[linear...]) }
}

/// A pcap/pcapng capture as a pipeline source: one record per batch, laid out in one reused buffer exactly as the
/// kernel's `BPF_PROG_TEST_RUN` lays it out (`XDPFrameGeometry`: zeroed headroom, the frame, tailroom). Records
/// shorter than an Ethernet header come out refused (no frame), as the kernel's test run refuses them. A class: the
/// reader is not copyable, and the replay reads the source's position while the pipeline holds it.
final class PcapFrameSource: FrameSource {
    var reader: PcapReader
    let buffer: UnsafeMutableRawPointer
    let ingressIfindex: UInt32
    /// `--filter`: records it does not match come out without a frame, marked filtered.
    var filter: PacketFilter?
    let frameEnd = XDPFrameGeometry.frameSize - XDPFrameGeometry.tailroom
    /// Records read so far (refused ones included).
    private(set) var delivered = 0
    /// Why the source ended early (a malformed record); nil at the normal end of the capture.
    private(set) var failure: PcapError?
    private var current: PcapRecord?

    init(path: String, synthesizeEthernet: Bool, ingressIfindex: UInt32) throws(PcapError) {
        reader = try PcapReader(path: path, synthesizeEthernet: synthesizeEthernet)
        buffer = .allocate(byteCount: XDPFrameGeometry.frameSize, alignment: 64)
        self.ingressIfindex = ingressIfindex
    }

    deinit { buffer.deallocate() }

    func receive(upTo limit: Int) -> Int? {
        do {
            guard let record = try reader.next() else { return nil }
            current = record
            delivered += 1
            return 1
        } catch {
            failure = error
            return nil
        }
    }

    func frame(_ i: Int) -> (frame: Frame?, token: ReplayPacket) {
        let record = current.unsafelyUnwrapped
        let linear = min(record.bytes.count, XDPFrameGeometry.maxLinearData)
        var packet = ReplayPacket(record: record, linear: linear)
        if ReplayFilter.leavesOut(record, filter: filter) {
            packet.filtered = true
            return (nil, packet)
        }
        guard record.bytes.count >= 14 else { return (nil, packet) }
        // The kernel's test run starts every frame with zeroed headroom; adjust_head/meta uncover it unchanged.
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: XDPFrameGeometry.headroom)
        (buffer + XDPFrameGeometry.headroom).copyMemory(from: record.bytes.baseAddress!, byteCount: linear)
        let frame = Frame(
            buffer: buffer, bufferSize: frameEnd, dataOffset: XDPFrameGeometry.headroom, length: linear,
            timestampNanos: record.timestampNanos, ingressIfindex: ingressIfindex)
        return (frame, packet)
    }
}

/// Replay's sink: counts verdicts, writes the verdict captures and the JSON-lines results, and drains the run's
/// `bpf_trace_printk` messages and ring-buffer/perf-event records into them.
final class ReplaySink: VerdictSink {
    typealias Failure = any Error
    var summary = Replay.Summary()
    var verdictWriters: VerdictPcapWriters?
    var results: ResultsWriter?
    let printk: UnsafeMutablePointer<TraceBuffer>
    let eventMaps: [BPFMap]
    let printkOutput: (@Sendable (String) -> Void)?
    /// `--maps-out`: the final maps BTF-decoded (opened before the first packet, so a bad path fails first).
    var mapsOut: MapDump.OutputDocument?
    /// The kernel's return value for the packet being applied (`--against-kernel`), for its results line.
    var kernelReturnValue: UInt64?
    /// `--filter`'s outputs (the "filtered" results lines and `filtered.pcap`).
    var filter: ReplayFilter
    /// Per verdict, no hashing per packet.
    var actionCounts = [Int](repeating: 0, count: XDPAction.allCases.count)
    /// The output frame (metadata excluded) plus any bytes past the linear buffer; reused.
    private(set) var output: [UInt8] = []

    init(options: Replay.Options, runner: ProgramRunner, filter: consuming ReplayFilter) throws {
        self.filter = filter
        verdictWriters = try options.outputDirectory.map { directory throws(PcapError) in
            try VerdictPcapWriters(directory: directory, format: options.outputFormat)
        }
        results = try options.resultsPath.map { path throws(SystemError) in
            try ResultsWriter(path: path, includeBytes: options.includeBytes)
        }
        results?.eventTypes = options.eventTypes
        mapsOut = try options.mapsOutPath.map { path throws(SystemError) in try MapDump.OutputDocument(path: path) }
        printkOutput = options.printkOutput
        printk = .allocate(capacity: 1)
        printk.initialize(to: TraceBuffer(capacity: 1 << 16))
        eventMaps = runner.program.maps.filter { $0.spec.type == .ringbuf || $0.spec.type == .perfEventArray }
        output.reserveCapacity(PcapReader.maximumRecordLength)
        summary.budget = runner.budget
    }

    deinit {
        printk.pointee.bytes.deallocate()
        printk.deallocate()
    }

    /// Whether per-packet outputs are written (otherwise only counts are kept).
    var writesOutputs: Bool { verdictWriters != nil || results != nil }

    func apply(_ verdict: Verdict, to frame: Frame, token packet: ReplayPacket) throws {
        let record = packet.record
        count(record)
        var note: String? = nil
        if packet.linear < record.bytes.count {
            summary.oversized += 1
            note = "frame of \(record.bytes.count) bytes: the program saw the first \(packet.linear) (the kernel's linear XDP buffer); the other \(record.bytes.count - packet.linear) followed unchanged"
        }
        if let fault = verdict.fault {
            summary.faults += 1
            if fault.isBudgetExceeded { summary.budgetExceeded += 1 }
            note = "fault: \(fault)"
        }
        actionCounts[Int(verdict.action.rawValue)] += 1
        let returnValue = UInt64(UInt32(truncatingIfNeeded: verdict.returnValue))
        if writesOutputs {
            fillOutput(frame, packet)
            if verdictWriters != nil {
                try output.withUnsafeBytes { bytes in
                    try verdictWriters?.write(
                        bytes, timestampNanos: record.timestampNanos, action: verdict.action,
                        annotation: PacketAnnotation(
                            index: record.index, action: verdict.action, returnValue: returnValue,
                            interfaceID: record.interfaceID, inputComment: record.comment))
                }
            }
            if results != nil {
                let printed =
                    printk.pointee.count > 0
                    ? UnsafeRawBufferPointer(start: printk.pointee.bytes, count: printk.pointee.count) : nil
                // Event records are copied out only for programs that have ring buffers or perf-event arrays.
                var events: [(map: String, record: [UInt8])] = []
                for map in eventMaps {
                    for record in map.drainRecords() { events.append((map.spec.name, record)) }
                }
                try output.withUnsafeBytes { bytes in
                    try results?.writePacket(
                        index: record.index, returnValue: returnValue, lengthIn: record.bytes.count,
                        metadata: UnsafeRawBufferPointer(frame.metadata), packet: bytes, note: note, trace: printed,
                        events: events, kernelReturnValue: kernelReturnValue, timestampNanos: record.timestampNanos)
                }
            }
        }
        if printk.pointee.count > 0 || printk.pointee.dropped > 0 {
            Replay.drainPrintk(
                printk, packet: record.index, timestampNanos: record.timestampNanos, summary: &summary,
                output: printkOutput)
        }
    }

    func refuse(_ packet: ReplayPacket) throws {
        let record = packet.record
        count(record)
        if packet.filtered {
            summary.filtered += 1
            try filter.write(record, results: &results)
            return
        }
        summary.refused += 1
        try results?.writeRefused(
            index: record.index, lengthIn: record.bytes.count,
            note: record.bytes.isEmpty
                ? "refused: zero-length record (the kernel's test run returns EINVAL for frames under 14 bytes)"
                : "refused: \(record.bytes.count) bytes is shorter than an Ethernet header (the kernel's test run returns EINVAL)",
            timestampNanos: record.timestampNanos)
    }

    private func count(_ record: PcapRecord) {
        summary.packets += 1
        if record.isTruncated { summary.truncatedRecords += 1 }
    }

    /// The bytes that leave the program: the frame as it ended, then whatever followed the linear buffer.
    func fillOutput(_ frame: Frame, _ packet: ReplayPacket) {
        output.removeAll(keepingCapacity: true)
        output.append(contentsOf: UnsafeRawBufferPointer(frame.bytes))
        if packet.linear < packet.record.bytes.count { output.append(contentsOf: packet.tail) }
    }

    /// Writes the final maps (results line, `--maps-out`) and closes the outputs.
    func finish(maps snapshots: [MapSnapshot], specs: [MapSpec], omitZeroArrayValues: Bool) throws {
        for action in XDPAction.allCases where actionCounts[Int(action.rawValue)] > 0 {
            summary.counts[action] = actionCounts[Int(action.rawValue)]
        }
        try mapsOut?.write(specs: specs, snapshots: snapshots)
        try results?.writeMaps(snapshots, omitZeroArrayValues: omitZeroArrayValues)
        try results.take()?.close()
        try mapsOut.take()?.close()
        try verdictWriters.take()?.close()
        try filter.close()
    }
}

/// Decorates replay's sink with the kernel comparison (`--against-kernel`): every packet also runs through the same
/// program in the kernel (`BPF_PROG_TEST_RUN`), and verdict, bytes and metadata are compared.
struct KernelComparisonSink: VerdictSink {
    typealias Failure = any Error
    let inner: ReplaySink
    let kernel: KernelRunner
    /// How many differences to describe (all are counted).
    let maxReported: Int
    var differences: [String] = []
    var differenceCount = 0

    mutating func apply(_ verdict: Verdict, to frame: Frame, token packet: ReplayPacket) throws {
        // The kernel runs first: the results line carries its verdict next to Sluice's.
        let index = packet.record.index
        let theirs: RunOutcome?
        do { theirs = try kernel.run(packet: Array(packet.record.bytes)) } catch {
            record("packet \(index): the kernel refused it (\(error)), Sluice ran it")
            theirs = nil
        }
        inner.kernelReturnValue = theirs.map { UInt64($0.returnValue) }
        defer { inner.kernelReturnValue = nil }
        try inner.apply(verdict, to: frame, token: packet)
        guard let theirs else { return }
        // Comparison mode allocates per packet; it is bounded by the kernel's own per-packet cost.
        inner.fillOutput(frame, packet)
        let ours = RunOutcome(
            returnValue: UInt32(truncatingIfNeeded: verdict.returnValue), packet: inner.output,
            metadata: Array(UnsafeRawBufferPointer(frame.metadata)))
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
        if !what.isEmpty { record("packet \(index): " + what.joined(separator: "; ")) }
    }

    mutating func refuse(_ packet: ReplayPacket) throws {
        try inner.refuse(packet)
        guard !packet.filtered else { return }  // not run by Sluice by request: nothing to compare
        if let outcome = try? kernel.run(packet: Array(packet.record.bytes)) {
            record(
                "packet \(packet.record.index): Sluice refused a \(packet.record.bytes.count)-byte frame, the kernel ran it (verdict \(outcome.returnValue))")
        }
    }

    mutating func record(_ difference: String) {
        differenceCount += 1
        if differences.count < maxReported { differences.append(difference) }
    }
}

/// Runs each frame observed instruction by instruction (bounds-checked and counting) for `--trace` and `--coverage`,
/// and prints the chosen packets' traces. `packetIndex` is set before each frame by the replay loop.
struct ObservedProcessor: FrameProcessor {
    unowned(unsafe) let runner: ProgramRunner
    let recorder: ExecutionRecorder
    let options: Replay.Options
    var packetIndex = 0
    private(set) var traced = 0
    private(set) var redirectTarget: RedirectTarget?
    private(set) var lastFault: ExecutionFault?
    private var budgetExceeded: UInt64 = 0

    init(runner: ProgramRunner, options: Replay.Options) {
        self.runner = runner
        self.options = options
        recorder = ExecutionRecorder(program: runner.program, contextPointer: runner.contextPointer)
    }

    mutating func process(_ frame: inout Frame) -> UInt64 {
        let tracing =
            options.traceOutput != nil
            && (options.tracePackets.contains(packetIndex) || (options.traceAll && traced < options.traceLimit))
        recorder.recordsSteps = tracing
        recorder.begin()
        let result = runner.runObserved(&frame, frameEnd: frame.bufferSize, observer: recorder.observer)
        recorder.end(registers: runner.finalRegisters, faulted: result.fault != nil)
        if tracing, let output = options.traceOutput {
            traced += 1
            for line in TraceReport.lines(
                packet: packetIndex, steps: recorder.steps, instructionCount: result.instructionCount,
                returnValue: result.returnValue, fault: result.fault, registers: runner.finalRegisters,
                style: options.traceStyle)
            {
                output(line)
            }
        }
        lastFault = result.fault
        if result.fault?.isBudgetExceeded == true { budgetExceeded &+= 1 }
        redirectTarget = result.redirectTarget
        return result.verdictValue
    }

    mutating func takeBudgetExceeded() -> UInt64 {
        defer { budgetExceeded = 0 }
        return budgetExceeded
    }
}
