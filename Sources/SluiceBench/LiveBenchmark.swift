import Sluice
import BPFVM
import CAFXDPBench
import CLibXDP
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `sluice bench live`: Sluice's AF_XDP engine running a program, against a minimal C libxdp receiver, on a veth
/// pair of the benchmark's own, with an in-kernel generator sending from the namespace end.
///
/// Placement: the generator thread (and with it the veth's NAPI and the copy into the socket, which run on the
/// sender's CPU) is pinned to the first CPU, the receivers' threads to the last one. Each round measures both
/// receivers once, alternating which goes first; every measurement is: attach + bind, start the generator, let it
/// settle (`warmup`), take counters and the receiving thread's CPU clock, wait `duration`, take them again, stop.
/// The redirect program, its attach mode, copy mode, ring and UMEM sizes and the batch size are the same for both.
public final class LiveBenchmark {
    public struct Options: Sendable {
        /// Frame size on the wire, without FCS.
        public var frameSize = 64
        public var durationSeconds = 3.0
        public var warmupSeconds = 0.5
        public var rounds = 3
        public var mode: XDPAttachMode = .native
        public var verify = true
        /// Per-packet instruction budget (`--budget`).
        public var budget = RunBudget.defaultInstructions
        /// The engine (nil: `verify` decides between interpreter and checked).
        public var engine: EngineChoice?
        public var redirectProgramPath =
            RedirectProgramLocation.locate() ?? "programs/build/" + RedirectProgramLocation.fileName
        public var generatorProgramPath = "programs/build/bench_txgen.o"
        /// Generator bound: packets per second it may send at most, times the measurement's length.
        public var generatorMaxRate = 30_000_000.0
        public init() {}
    }

    public let source: ProgramSource
    public let spec: ProgramSpec
    public let options: Options
    let logger: Logger
    /// Raised by SIGINT/SIGTERM (after `run` installed the handler) or by the caller.
    public let stop = StopSignal()

    public struct Error: Swift.Error, CustomStringConvertible {
        public var description: String
    }

    public init(source: ProgramSource, spec: ProgramSpec, options: Options, logger: Logger) {
        self.source = source
        self.spec = spec
        self.options = options
        self.logger = logger
    }

    /// Runs all rounds; `progress` gets one line per measurement. Tears everything down on every path.
    public func run(installSignalHandlers: Bool = true, progress: ((String) -> Void)? = nil) throws -> LiveBenchReport {
        guard geteuid() == 0 else {
            throw Error(
                description:
                    "sluice bench live needs root: it creates a network namespace and a veth pair, attaches XDP programs and opens AF_XDP sockets (run it with sudo)"
            )
        }
        for path in [options.redirectProgramPath, options.generatorProgramPath] where access(path, R_OK) != 0 {
            throw Error(
                description:
                    "\(path): \(Errno.current.description) (build the programs with programs/build.sh, from the repository root)"
            )
        }
        if installSignalHandlers { stop.stopOnSignals() }
        let loadAverageBefore = Self.loadAverage()
        _ = Privileges.raiseMemlockLimit()

        let session = try ProgramSession(
            source: source, spec: spec, engine: options.engine ?? (options.verify ? .interpreter : .checked))
        let loaded = session.loaded
        let runner = session.runner(budget: options.budget)

        let generator = try GeneratorProgram(path: options.generatorProgramPath)
        defer { generator.close() }

        var report0Notes: [String] = []
        let network: BenchNetwork
        do { network = try BenchNetwork() } catch { throw Error(description: error.description) }
        defer { network.destroy() }

        if options.mode == .skb {
            let rc = bench_set_gro(network.hostInterface, 1)
            guard rc == 0 else {
                throw Error(
                    description:
                        "enabling GRO on \(network.hostInterface) (needed in skb mode): \(Errno(negated: rc).description)"
                )
            }
            report0Notes.append(
                "skb mode: GRO turned on on \(network.hostInterface) (the veth needs NAPI to receive XDP-transmitted frames)"
            )
        }
        let cpus = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let receiverCPU = max(cpus - 1, 0)
        Self.pinCurrentThread(to: receiverCPU)  // threads started from here on inherit it
        let packet = Self.packet(size: options.frameSize)

        var report = LiveBenchReport(
            program: spec.name, object: source.objectPath, namespace: network.namespace,
            interface: network.hostInterface, mode: options.mode.rawValue, frameSize: packet.count,
            durationSeconds: options.durationSeconds, rounds: options.rounds, checked: loaded.checked)
        report.notes.append(
            "generator pinned to CPU 0 (with the veth's NAPI and the copy into the socket), receivers to CPU \(receiverCPU) of \(cpus)"
        )
        if cpus < 2 { report.notes.append("only one CPU online: generator and receiver share it") }
        report.notes += report0Notes

        for round in 1...options.rounds {
            let order: [LiveBenchReport.Receiver] = round % 2 == 1 ? [.sluice, .baseline] : [.baseline, .sluice]
            for receiver in order {
                if stop.isRequested { break }
                let result: LiveBenchReport.RoundResult
                do {
                    switch receiver {
                    case .sluice:
                        result = try measureSluice(runner: runner, network: network, generator: generator, packet: packet)
                    case .baseline:
                        result = try measureBaseline(network: network, generator: generator, packet: packet)
                    }
                } catch where stop.isRequested {
                    // Interrupted mid-measurement (SIGINT/SIGTERM): report what was measured, tear down, exit.
                    break
                }
                var r = result
                r.round = round
                report.perRound.append(r)
                progress?(
                    "round \(round) \(receiver.rawValue): \(LiveBenchReport.megapackets(r.packetsPerSecond)) Mpps, \(Int(r.cpuNanosecondsPerPacket.rounded())) ns CPU/packet"
                )
            }
        }
        report.stoppedBySignal = stop.receivedSignal
        report.loadAverageBefore = loadAverageBefore
        report.loadAverageAfter = Self.loadAverage()
        report.finish()
        return report
    }

    // MARK: - Receivers

    private func measureSluice(
        runner: ProgramRunner, network: BenchNetwork, generator: GeneratorProgram, packet: [UInt8]
    ) throws -> LiveBenchReport.RoundResult {
        var configuration = LiveConfiguration(interface: network.hostInterface)
        configuration.queues = [0]
        configuration.mode = options.mode
        configuration.socket.zeroCopy = .off
        configuration.redirectProgramPath = options.redirectProgramPath
        let clock = ThreadClockCell()
        let engine: LiveEngine<ClockedProcessor>
        do {
            engine = try LiveEngine(configuration: configuration, logger: logger) { _ in
                ClockedProcessor(inner: runner.processor, clock: clock)
            }
        } catch { throw Error(description: "Sluice engine on \(network.hostInterface): \(error)") }
        defer { engine.close() }
        try engine.start()
        return try withExtendedLifetime(clock) {
            try measure(receiver: .sluice, network: network, generator: generator, packet: packet) {
                let stats = engine.stats()
                let socket = stats.socketTotal
                return Sample(
                    received: stats.total.rx.packets, cpuClock: clock.clock, rxRingFull: socket.rxRingFull,
                    fillRingEmpty: socket.rxFillRingEmpty)
            }
        }
    }

    private func measureBaseline(
        network: BenchNetwork, generator: GeneratorProgram, packet: [UInt8]
    ) throws -> LiveBenchReport.RoundResult {
        let interface: InterfaceInfo
        let attachment: RedirectAttachment
        do {
            interface = try InterfaceInfo(name: network.hostInterface)
            attachment = try RedirectAttachment(
                interface: interface, objectPath: options.redirectProgramPath, mode: options.mode, logger: logger)
        } catch { throw Error(description: "redirect program on \(network.hostInterface): \(error)") }
        defer { attachment.close() }
        var handle: OpaquePointer? = nil
        let rc = afxdp_baseline_open(network.hostInterface, 0, &handle)
        guard rc == 0, let baseline = handle else {
            throw Error(description: "C baseline socket on \(network.hostInterface): \(Errno(negated: rc).description)")
        }
        defer { afxdp_baseline_close(baseline) }
        do { try attachment.insert(socketFD: afxdp_baseline_fd(baseline), queue: 0) } catch {
            throw Error(description: "XSKMAP insert for the C baseline: \(error)")
        }
        let started = afxdp_baseline_start(baseline)
        guard started == 0 else {
            throw Error(description: "C baseline thread: \(Errno(negated: started).description)")
        }
        return try measure(receiver: .baseline, network: network, generator: generator, packet: packet) {
            var counters = afxdp_baseline_counters()
            afxdp_baseline_counters(baseline, &counters)
            var stats = afxdp_baseline_xdp_stats()
            _ = afxdp_baseline_statistics(baseline, &stats)
            var clock = clockid_t()
            let ready = afxdp_baseline_cpu_clock(baseline, &clock) == 0
            return Sample(
                received: counters.rx_packets, cpuClock: ready ? clock : nil, rxRingFull: stats.rx_ring_full,
                fillRingEmpty: stats.rx_fill_ring_empty_descs)
        }
    }

    struct Sample {
        var received: UInt64
        var cpuClock: clockid_t?
        var rxRingFull: UInt64
        var fillRingEmpty: UInt64
    }

    /// Generator on; settle; sample; wait; sample; generator off.
    private func measure(
        receiver: LiveBenchReport.Receiver, network: BenchNetwork, generator: GeneratorProgram, packet: [UInt8],
        sample: () -> Sample
    ) throws -> LiveBenchReport.RoundResult {
        let total = options.warmupSeconds + options.durationSeconds + 6
        var handle: OpaquePointer? = nil
        let rc = packet.withUnsafeBytes {
            bench_txgen_start(
                generator.fd, network.namespacePath, network.namespaceInterface, $0.baseAddress, UInt32($0.count),
                UInt64(options.generatorMaxRate * total), UInt64(total * 1e9), 0, &handle)
        }
        guard rc == 0, let txgen = handle else {
            throw Error(description: "generator thread: \(Errno(negated: rc).description)")
        }
        var stopped = false
        var result = bench_txgen_result()
        defer { if !stopped { bench_txgen_stop(txgen, &result) } }

        // Settle: wait for the first frames at the receiver (a loaded machine may take a while), then `warmup`.
        let firstDeadline = Self.monotonic() + 5_000_000_000
        while !stop.isRequested && sample().cpuClock == nil && bench_txgen_finished(txgen) == 0
            && Self.monotonic() < firstDeadline
        {
            usleep(10_000)
        }
        sleep(seconds: options.warmupSeconds)
        let s0 = sample()
        let sent0 = bench_txgen_sent(txgen)
        let cpu0 = s0.cpuClock.map(Self.read) ?? 0
        let t0 = Self.monotonic()
        sleep(seconds: options.durationSeconds)
        let s1 = sample()
        let sent1 = bench_txgen_sent(txgen)
        let t1 = Self.monotonic()
        let cpu1 = s1.cpuClock.map(Self.read) ?? 0
        bench_txgen_stop(txgen, &result)
        stopped = true
        if result.error != 0 {
            let step = withUnsafeBytes(of: result.failed_step) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            throw Error(description: "generator: \(step) failed: \(Errno(negated: result.error).description)")
        }
        guard s0.cpuClock != nil, s1.cpuClock != nil else {
            throw Error(
                description:
                    "\(receiver.rawValue): no packet reached the receiver within 5 s (generator sent \(sent0)\(stop.isRequested ? ", stopped by a signal" : ""))"
            )
        }
        let seconds = Double(t1 - t0) / 1e9
        let received = s1.received &- s0.received
        if received == 0 && !stop.isRequested {
            throw Error(
                description:
                    "\(receiver.rawValue): received nothing in \(options.durationSeconds) s while the generator sent \(sent1 &- sent0) frames"
            )
        }
        return LiveBenchReport.RoundResult(
            round: 0, receiver: receiver, seconds: seconds, received: received,
            packetsPerSecond: Double(received) / seconds, generatorPacketsPerSecond: Double(sent1 &- sent0) / seconds,
            cpuNanosecondsPerPacket: received == 0 ? 0 : Double(cpu1 &- cpu0) / Double(received),
            cpuUtilisation: Double(cpu1 &- cpu0) / Double(t1 - t0),
            rxRingFull: s1.rxRingFull &- s0.rxRingFull, fillRingEmpty: s1.fillRingEmpty &- s0.fillRingEmpty)
    }

    /// Sleeps in 20 ms steps, returning early on a stop request.
    private func sleep(seconds: Double) {
        let end = Self.monotonic() + UInt64(seconds * 1e9)
        while !stop.isRequested && Self.monotonic() < end { usleep(20_000) }
    }

    // MARK: - Support

    /// The generated frame: IPv4/UDP to the discard port (parse_bench drops it: the rxdrop case).
    static func packet(size: Int) -> [UInt8] {
        SyntheticTraffic.udp4(sourcePort: 4242, destinationPort: 9, size: size)
    }

    static func monotonic() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    static func read(_ clock: clockid_t) -> UInt64 {
        var ts = timespec()
        guard clock_gettime(clock, &ts) == 0 else { return 0 }
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    static func pinCurrentThread(to cpu: Int) {
        var mask = [UInt64](repeating: 0, count: 16)
        guard cpu < 1024 else { return }
        mask[cpu / 64] = 1 << UInt64(cpu % 64)
        _ = mask.withUnsafeBytes { sluice_sched_setaffinity(UInt($0.count), $0.baseAddress) }
    }

    static func loadAverage() -> String {
        let fd = open("/proc/loadavg", O_RDONLY)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return "" }
        return String(decoding: buffer[0..<n], as: UTF8.self).split(separator: " ").prefix(3).joined(separator: " ")
    }
}

/// The generator's XDP_TX program, loaded once with libbpf.
public final class GeneratorProgram {
    private var object: OpaquePointer?
    public let fd: Int32

    public init(path: String) throws {
        guard let object = bpf_object__open_file(path, nil) else {
            throw LiveBenchmark.Error(description: "\(path): \(Errno.current.description)")
        }
        let rc = bpf_object__load(object)
        guard rc == 0, let program = bpf_object__next_program(object, nil) else {
            bpf_object__close(object)
            throw LiveBenchmark.Error(description: "\(path): loading failed: \(Errno(negated: rc).description)")
        }
        self.object = object
        fd = bpf_program__fd(program)
    }

    public func close() {
        if let object { bpf_object__close(object) }
        object = nil
    }

    deinit { close() }
}

/// Where a worker thread publishes its CPU-time clock id (once, at its first frame).
final class ThreadClockCell: Sendable {
    // Thread CPU clock ids are negative numbers: a separate flag says whether one was published.
    private let ready = Atomic<Bool>(false)
    private let value = Atomic<Int32>(0)
    func publish(_ clock: clockid_t) {
        value.store(Int32(clock), ordering: .relaxed)
        ready.store(true, ordering: .releasing)
    }
    var clock: clockid_t? {
        ready.load(ordering: .acquiring) ? clockid_t(value.load(ordering: .relaxed)) : nil
    }
}

/// The VM processor plus, on the first frame only, publication of the worker thread's CPU clock; afterwards one
/// predictable branch per frame.
struct ClockedProcessor: FrameProcessor {
    var inner: VMFrameProcessor
    unowned(unsafe) let clock: ThreadClockCell
    var published = false

    init(inner: VMFrameProcessor, clock: ThreadClockCell) {
        self.inner = inner
        self.clock = clock
    }

    @inline(__always)
    mutating func process(_ frame: inout Frame) -> UInt64 { verdict(for: &frame).returnValue }

    @inline(__always)
    mutating func verdict(for frame: inout Frame) -> Verdict {
        publishOnce()
        return inner.verdict(for: &frame)
    }

    @inline(__always)
    private mutating func publishOnce() {
        if !published {
            published = true
            var id = clockid_t()
            if pthread_getcpuclockid(pthread_self(), &id) == 0 { clock.publish(id) }
        }
    }

    var redirectTarget: RedirectTarget? { inner.redirectTarget }
    var lastFault: ExecutionFault? { inner.lastFault }
    mutating func takeBudgetExceeded() -> UInt64 { inner.takeBudgetExceeded() }
    mutating func takeFiltered() -> UInt64 { inner.takeFiltered() }
}

/// What `sluice bench live` reports. Rates in packets per second, CPU time in nanoseconds of the receiving
/// thread's CPU clock per received packet.
public struct LiveBenchReport: Codable, Sendable {
    public enum Receiver: String, Codable, Sendable {
        case sluice
        case baseline
    }

    public struct RoundResult: Codable, Sendable {
        public var round: Int
        public var receiver: Receiver
        public var seconds: Double
        public var received: UInt64
        public var packetsPerSecond: Double
        public var generatorPacketsPerSecond: Double
        public var cpuNanosecondsPerPacket: Double
        /// Receiving thread's CPU time ÷ wall time (1 = one core busy).
        public var cpuUtilisation: Double
        /// XDP_STATISTICS deltas over the measured window.
        public var rxRingFull: UInt64
        public var fillRingEmpty: UInt64
    }

    public struct ReceiverSummary: Codable, Sendable {
        public var packetsPerSecond: Stat
        public var cpuNanosecondsPerPacket: Stat
        public var rxRingFullPerSecond: Stat
        public var fillRingEmptyPerSecond: Stat
    }

    public var program: String
    public var object: String
    public var namespace: String
    public var interface: String
    public var mode: String
    public var frameSize: Int
    public var durationSeconds: Double
    public var rounds: Int
    public var checked: Bool
    public var perRound: [RoundResult] = []
    public var sluice = ReceiverSummary(
        packetsPerSecond: Stat([]), cpuNanosecondsPerPacket: Stat([]), rxRingFullPerSecond: Stat([]),
        fillRingEmptyPerSecond: Stat([]))
    public var baseline = ReceiverSummary(
        packetsPerSecond: Stat([]), cpuNanosecondsPerPacket: Stat([]), rxRingFullPerSecond: Stat([]),
        fillRingEmptyPerSecond: Stat([]))
    public var generatorPacketsPerSecond = Stat([])
    /// Sluice ÷ baseline, medians of packets per second (issue 7 wants ≥ 0.9).
    public var ratio = 0.0
    /// Sluice ÷ baseline, medians of receiver CPU time per packet.
    public var cpuRatio = 0.0
    public var notes: [String] = []
    public var loadAverageBefore = ""
    public var loadAverageAfter = ""
    public var stoppedBySignal: Int32?

    init(
        program: String, object: String, namespace: String, interface: String, mode: String, frameSize: Int,
        durationSeconds: Double, rounds: Int, checked: Bool
    ) {
        self.program = program
        self.object = object
        self.namespace = namespace
        self.interface = interface
        self.mode = mode
        self.frameSize = frameSize
        self.durationSeconds = durationSeconds
        self.rounds = rounds
        self.checked = checked
    }

    mutating func finish() {
        func summary(_ receiver: Receiver) -> ReceiverSummary {
            let rounds = perRound.filter { $0.receiver == receiver }
            return ReceiverSummary(
                packetsPerSecond: Stat(rounds.map(\.packetsPerSecond)),
                cpuNanosecondsPerPacket: Stat(rounds.map(\.cpuNanosecondsPerPacket)),
                rxRingFullPerSecond: Stat(rounds.map { Double($0.rxRingFull) / $0.seconds }),
                fillRingEmptyPerSecond: Stat(rounds.map { Double($0.fillRingEmpty) / $0.seconds }))
        }
        sluice = summary(.sluice)
        baseline = summary(.baseline)
        generatorPacketsPerSecond = Stat(perRound.map(\.generatorPacketsPerSecond))
        ratio = sluice.packetsPerSecond.median / max(baseline.packetsPerSecond.median, 1e-9)
        cpuRatio = sluice.cpuNanosecondsPerPacket.median / max(baseline.cpuNanosecondsPerPacket.median, 1e-9)
    }

    static func megapackets(_ rate: Double) -> String {
        String((rate / 1e4).rounded() / 100)
    }
}
