import ArgumentParser
import BPFVM
import Foundation
import Logging
import Sluice
import SluiceBench

/// `sluice bench offline PROG.o` (packets in memory) and `sluice bench live` (AF_XDP on a veth pair of its own):
/// Sluice's figures next to references measured in the same run. `sluice bench PROG.o` is `bench offline`.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark a program: offline over packets in memory, or live on a veth pair against a C receiver.",
        subcommands: [OfflineBenchCommand.self, LiveBenchCommand.self],
        defaultSubcommand: OfflineBenchCommand.self)
}

/// Options both benchmarks take.
struct BenchCommonOptions: ParsableArguments {
    @OptionGroup var selection: ProgramSelectionOptions

    @OptionGroup var budget: BudgetOptions

    @OptionGroup var engineOptions: EngineOptions

    @Flag(help: "Print the report as JSON.")
    var json = false

    func loadProgram(_ path: String) throws -> (source: ProgramSource, spec: ProgramSpec) {
        let opened = try selection.open(path)
        return (opened.source, opened.spec)
    }

    func printJSON(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}

/// `sluice bench offline PROG.o`.
struct OfflineBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "offline",
        abstract: "Time a program over packets held in memory, against the kernel's JIT in the same run.",
        discussion: """
            Runs PROG.o over the packets of --pcap or --synthetic traffic held in memory and reports \
            ns/packet, packets/s, eBPF instructions per packet, per-packet latency percentiles (HDR histogram), and \
            replay throughput; --against-kernel times the same object on the same packets in the kernel \
            (BPF_PROG_TEST_RUN with repeat, JIT) and the per-packet kernel path, and prints the ratios. Every \
            measurement runs once per round, interleaved; the report gives min and median over rounds.
            """)

    @Argument(help: "The BPF object file.")
    var object: String?

    @OptionGroup var common: BenchCommonOptions

    @Option(help: "Packets from this capture (pcap or pcapng).")
    var pcap: String?

    @Option(help: "Synthetic packets: udp, tcp or mixed (default udp when no --pcap).")
    var synthetic: SyntheticTraffic?

    /// The packets are held in memory, each in its own buffer (about 100 bytes for a 64-byte frame, more for large
    /// ones): more than this would exhaust the memory of the machines Sluice runs on before measuring anything.
    static let maximumPackets = 2_000_000

    @Option(
        parsing: .unconditional,
        help: "Number of packets (synthetic: generated; --pcap: at most this many read), 1...\(maximumPackets).",
        transform: {
            try NumberArgument.count(
                $0, in: 1...OfflineBenchCommand.maximumPackets, what: "packets (they are held in memory)")
        })
    var packets: Int?

    @Option(
        parsing: .unconditional, help: "Rounds of every measurement (min and median reported), default 5.",
        transform: { try NumberArgument.count($0, in: 1...1000, what: "rounds") })
    var `repeat`: Int?

    @Flag(help: "Also time the program in the kernel (BPF_PROG_TEST_RUN, JIT; needs root) and print the ratio.")
    var againstKernel = false

    @Flag(help: "Skip the replay measurements.")
    var noReplay = false

    @Option(
        help: ArgumentHelp(
            "Run the program only on packets matching this tcpdump expression (see 'sluice filter').",
            discussion: "The filter runs on every packet and is timed with the program; the others are counted (filtered out: N).",
            valueName: "expression"))
    var filter: String?

    /// The mode flag of earlier versions; the live benchmark is a subcommand now.
    @Flag(help: .hidden)
    var live = false

    func validate() throws {
        if filter != nil && againstKernel {
            throw ValidationError("--filter cannot be compared with the kernel (its test run runs every packet)")
        }
        if live {
            throw ValidationError("the live benchmark is a subcommand now: sluice bench live [PROG.o] [--size N] ...")
        }
        if pcap != nil && synthetic != nil { throw ValidationError("--pcap and --synthetic exclude each other") }
        if object == nil { throw ValidationError("missing PROG.o (sluice bench offline PROG.o)") }
    }

    func run() throws {
        let (source, spec) = try common.loadProgram(object ?? "")
        let packetSet: BenchPackets
        if let pcap {
            do { packetSet = try BenchPackets(capturePath: pcap, limit: packets) } catch { throw CLIError("\(error)") }
        } else {
            packetSet = BenchPackets(frames: (synthetic ?? .udp).frames(count: packets ?? 10_000))
        }
        var options = OfflineBenchmark.Options()
        options.rounds = self.repeat ?? 5
        options.againstKernel = againstKernel
        options.replay = !noReplay
        options.capturePath = pcap
        options.engine = common.engineOptions.choice
        options.budget = common.budget.instructions
        options.filterExpression = filter
        let benchmark = OfflineBenchmark(source: source, spec: spec, packets: packetSet, options: options)
        let showProgress = !common.json && isatty(2) != 0
        let report: OfflineBenchReport
        do {
            report = try benchmark.run { if showProgress { StandardError.write("\r\($0)") } }
        } catch { throw CLIError("\(error)") }
        if showProgress { StandardError.write("\r\u{1b}[K") }
        if common.json {
            try common.printJSON(report)
        } else {
            print(BenchReportTable.offline(report, traffic: pcap ?? "synthetic \((synthetic ?? .udp).rawValue)"))
        }
    }
}

/// `sluice bench live [PROG.o]`.
struct LiveBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "live",
        abstract: "Sluice's AF_XDP engine against the C libxdp receiver on a veth pair of its own (root).",
        discussion: """
            Makes its own network namespace and veth pair, drives traffic into the host end with an in-kernel \
            generator (programs/build/bench_txgen.o through BPF_PROG_TEST_RUN with live frames), and alternates \
            Sluice's engine running PROG.o (default programs/build/parse_bench.o) with the C baseline receiver \
            (Benchmarks/afxdp-baseline) over --rounds rounds; reports received packets/s, drops by cause and \
            receiver CPU time per packet, medians and the ratio Sluice/baseline. Everything is bounded in time and \
            removed afterwards, also on errors and Ctrl-C.
            """)

    @Argument(help: "The BPF object file (default programs/build/parse_bench.o).")
    var object: String?

    @OptionGroup var common: BenchCommonOptions

    @Option(
        parsing: .unconditional, help: "Frame size in bytes (64 or 1500).",
        transform: { try NumberArgument.count($0, in: 60...3000, what: "bytes per frame") })
    var size: Int = 64

    @Option(
        parsing: .unconditional, help: "Seconds each receiver is measured per round, (0, 60].",
        transform: { try NumberArgument.seconds($0, in: 0...60) })
    var duration: Double = 3

    @Option(
        parsing: .unconditional,
        help: "Rounds (each round measures Sluice and the C baseline once, alternating which goes first), default 3.",
        transform: { try NumberArgument.count($0, in: 1...100, what: "rounds") })
    var rounds: Int?

    @Option(help: "Attach mode of the redirect program (native or skb).")
    var mode: XDPAttachMode = .native

    func validate() throws {
        if mode == .auto { throw ValidationError("--mode must be native or skb for a fair comparison") }
    }

    func run() throws {
        let path = object ?? "programs/build/parse_bench.o"
        let (source, spec) = try common.loadProgram(path)
        var options = LiveBenchmark.Options()
        options.frameSize = size
        options.durationSeconds = duration
        options.rounds = rounds ?? 3
        options.mode = mode
        options.engine = common.engineOptions.choice
        options.budget = common.budget.instructions
        var logger = Logger(label: "sluice.bench")
        logger.logLevel = .warning
        let benchmark = LiveBenchmark(source: source, spec: spec, options: options, logger: logger)
        let report: LiveBenchReport
        do {
            report = try benchmark.run { if !common.json { StandardError.write("\($0)\n") } }
        } catch { throw CLIError("\(error)") }
        if common.json {
            try common.printJSON(report)
        } else {
            print(BenchReportTable.live(report))
        }
        if let signal = report.stoppedBySignal { throw ExitCode(128 + signal) }
    }
}

extension SyntheticTraffic: ExpressibleByArgument {}

/// Human tables for `sluice bench`.
enum BenchReportTable {
    static func offline(_ r: OfflineBenchReport, traffic: String) -> String {
        var lines: [String] = []
        lines.append(
            "program \(r.program) (\(r.object)), engine \(r.engine.rawValue), \(r.packets) packets of \(traffic), mean \(fixed(r.meanPacketLength, 1)) B; \(r.rounds) rounds on CPU \(r.cpu)"
        )
        if let note = r.engineNote { lines.append("  (the interpreter ran: \(note))") }
        if let ms = r.compileMilliseconds { lines.append("native compile time: \(fixed(ms, 1)) ms") }
        if r.skippedShort > 0 { lines.append("  (\(r.skippedShort) packets shorter than 14 bytes left out)") }
        if r.truncatedToLinear > 0 { lines.append("  (\(r.truncatedToLinear) packets cut to the linear XDP buffer)") }
        lines.append(
            "verdicts: " + r.verdicts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                + (r.faults > 0 ? ", faults \(r.faults)" : ""))
        if let filtered = r.filteredOut { lines.append("filtered out: \(filtered) (did not match --filter, not run)") }
        lines.append("")
        lines.append(row("measurement", "median", "min", "unit"))
        lines.append(
            row(
                "Sluice VM (copy + run)", fixed(r.nanosecondsPerPacket.median, 1), fixed(r.nanosecondsPerPacket.min, 1),
                "ns/packet"))
        lines.append(
            row(
                "  of which frame copy", fixed(r.copyNanosecondsPerPacket.median, 1),
                fixed(r.copyNanosecondsPerPacket.min, 1), "ns/packet"))
        lines.append(
            row(
                "Sluice VM rate", rate(r.packetsPerSecond), rate(1e9 / max(r.nanosecondsPerPacket.min, 1e-9)),
                "packets/s"))
        lines.append(row("eBPF instructions", fixed(r.instructionsPerPacket, 1), "", "insn/packet"))
        lines.append(row("VM per instruction", fixed(r.nanosecondsPerInstruction, 2), "", "ns/insn (copy excluded)"))
        lines.append(
            row(
                "latency p50 / p99 / p99.9", "\(r.latency.p50) / \(r.latency.p99) / \(r.latency.p999)", "",
                "ns (timer \(fixed(r.timerOverheadNanoseconds, 0)) ns subtracted)"))
        if let k = r.kernelNanosecondsPerPacket, let v = r.sampleNanosecondsPerPacket {
            let how = "\(r.kernelSamplePackets ?? 0) packets × \(r.kernelRepeat ?? 0)"
            lines.append(row("Sluice VM, kernel's sample (\(how))", fixed(v.median, 1), fixed(v.min, 1), "ns/packet"))
            lines.append(row("kernel JIT, test run (\(how))", fixed(k.median, 1), fixed(k.min, 1), "ns/packet"))
            if let i = r.interpreterSampleNanosecondsPerPacket {
                lines.append(row("interpreter, kernel's sample", fixed(i.median, 1), fixed(i.min, 1), "ns/packet"))
            }
        }
        if let i = r.interpreterNanosecondsPerPacket {
            lines.append(row("interpreter (copy + run)", fixed(i.median, 1), fixed(i.min, 1), "ns/packet"))
        }
        if let p = r.replayPacketsPerSecond {
            lines.append(row("Sluice replay, no outputs", rate(p.median), rate(p.max), "packets/s"))
        }
        if let p = r.replayWithOutputsPacketsPerSecond {
            lines.append(row("Sluice replay, pcaps + results", rate(p.median), rate(p.max), "packets/s"))
        }
        if let p = r.kernelPerPacketPathPacketsPerSecond {
            lines.append(row("kernel per-packet test run", rate(p.median), rate(p.max), "packets/s"))
        }
        lines.append("")
        if let ratio = r.ratioToKernel {
            lines.append("ratio Sluice VM / kernel JIT (ns/packet, same sample): \(fixed(ratio, 2))")
        }
        if let ratio = r.interpreterRatioToKernel {
            lines.append("ratio interpreter / kernel JIT (same run, same sample): \(fixed(ratio, 2))")
        }
        if let ratio = r.ratioToInterpreter {
            lines.append("ratio native / interpreter (ns/packet, all packets): \(fixed(ratio, 2))")
        }
        if let ratio = r.replayRatio {
            lines.append("ratio replay / per-packet kernel path (packets/s): \(fixed(ratio, 1))")
        }
        if let ratio = r.replayWithOutputsRatio {
            lines.append("ratio replay with outputs / per-packet kernel path (packets/s): \(fixed(ratio, 1))")
        }
        return lines.joined(separator: "\n")
    }

    static func live(_ r: LiveBenchReport) -> String {
        var lines: [String] = []
        lines.append(
            "live: \(r.program) on veth \(r.interface) (\(r.mode), copy mode), \(r.frameSize)-byte frames, \(r.rounds) rounds of \(fixed(r.durationSeconds, 1)) s per receiver"
        )
        lines.append("")
        lines.append(row("receiver", "Mpps (median)", "CPU ns/packet", "rx_ring_full / fill_ring_empty per s"))
        for (name, s) in [("Sluice VM", r.sluice), ("C baseline (libxdp rxdrop)", r.baseline)] {
            lines.append(
                row(
                    name, fixed(s.packetsPerSecond.median / 1e6, 2), fixed(s.cpuNanosecondsPerPacket.median, 1),
                    "\(rate(s.rxRingFullPerSecond.median)) / \(rate(s.fillRingEmptyPerSecond.median))"))
        }
        lines.append(row("generator (sent)", fixed(r.generatorPacketsPerSecond.median / 1e6, 2), "", ""))
        lines.append("")
        lines.append("ratio Sluice / baseline (packets/s, medians): \(fixed(r.ratio, 2))")
        lines.append("ratio Sluice / baseline (CPU ns/packet, medians): \(fixed(r.cpuRatio, 2))")
        for round in r.perRound {
            lines.append(
                "  round \(round.round) \(round.receiver): \(fixed(round.packetsPerSecond / 1e6, 2)) Mpps, \(fixed(round.cpuNanosecondsPerPacket, 1)) ns CPU/packet, received \(round.received), rx_ring_full \(round.rxRingFull), fill_ring_empty \(round.fillRingEmpty)"
            )
        }
        for note in r.notes { lines.append("note: \(note)") }
        lines.append("load average: \(r.loadAverageBefore) before, \(r.loadAverageAfter) after")
        return lines.joined(separator: "\n")
    }

    static func row(_ a: String, _ b: String, _ c: String, _ d: String) -> String {
        func pad(_ s: String, _ n: Int) -> String {
            s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count)
        }
        return pad(a, 50) + pad(b, 16) + pad(c, 14) + d
    }

    static func fixed(_ value: Double, _ digits: Int) -> String {
        guard value.isFinite else { return "-" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        var text = String(rounded)
        if digits == 0 { return String(Int(rounded)) }
        if let dot = text.firstIndex(of: ".") {
            let decimals = text.distance(from: dot, to: text.endIndex) - 1
            if decimals < digits { text += String(repeating: "0", count: digits - decimals) }
        }
        return text
    }

    static func rate(_ value: Double) -> String {
        if value >= 1e6 { return fixed(value / 1e6, 2) + " M" }
        if value >= 1e3 { return fixed(value / 1e3, 1) + " k" }
        return fixed(value, 0)
    }
}
