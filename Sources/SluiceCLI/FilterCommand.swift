import ArgumentParser
import Sluice

#if canImport(Glibc)
    import Glibc
#endif

/// `sluice filter EXPR CAPTURE`: which packets does this tcpdump expression match? The expression is compiled by
/// libpcap, translated to eBPF and run in Sluice's VM.
struct FilterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "filter",
        abstract: "Match a capture's packets against a tcpdump/libpcap filter expression, run as eBPF in Sluice's VM.",
        discussion: """
            The expression (one argument: quote it) is compiled by libpcap's pcap_compile for Ethernet and the \
            capture's snapshot length, as tcpdump compiles it; the classic BPF program is validated as the kernel \
            validates socket filters, translated to eBPF as the kernel translates them (packet loads as direct \
            packet access, bounds-checked against data_end), verified and run. A packet matches when the program \
            returns non-zero. `len` (`greater`, `less`) is the length on the wire, as with tcpdump. See docs/FILTERS.md.

            Output: one line per match, `INDEX SECONDS.NANOSECONDS LENGTH` (index from 0, captured length; `/WIRE` \
            follows when the record was cut short), then the last line `N matched of M packets`. --count prints \
            only the last line. With `--write -` the capture goes to standard output and these lines to standard \
            error. Exit status 0 whether or not anything matched; non-zero for a bad expression or capture.
            """)

    @Argument(help: "The filter expression, as for tcpdump (e.g. 'tcp port 80 and not host 10.0.0.1').")
    var expression: String

    @Argument(help: "The capture (pcap or pcapng, Ethernet; '-': standard input). Optional with --disasm.")
    var capture: String?

    @Flag(help: "Print only the number of matching packets.")
    var count = false

    @Option(
        name: .customLong("write"),
        help: ArgumentHelp("Write the matching packets to this pcap ('-': standard output).", valueName: "out.pcap"))
    var writePath: String?

    @Flag(help: "Print the classic program (as tcpdump -d does) and the translated eBPF program.")
    var disasm = false

    @Flag(
        help:
            "Accept raw-IP (101, 228, 229) and Linux cooked (113, 276) captures: put an Ethernet header in front of each packet (the filter sees Ethernet frames)."
    )
    var synthesizeEthernet = false

    @Option(
        parsing: .unconditional, help: "Stop after this many packets.",
        transform: { try NumberArgument.count($0, in: 1...Int.max, what: "packets") })
    var limit: Int?

    @OptionGroup var engineOptions: EngineOptions

    func validate() throws {
        if capture == nil && !disasm {
            throw ValidationError("give a capture to filter (or --disasm to only show the program)")
        }
        if capture == nil && (count || writePath != nil) {
            throw ValidationError("--count and --write need a capture")
        }
        if engineOptions.choice == .checked {
            throw ValidationError("the filter always runs verified; --engine checked (--no-verify) does not apply")
        }
    }

    func run() throws {
        let toStandardError = writePath == "-"
        func say(_ line: String) {
            if toStandardError {
                let text = line + "\n"
                _ = text.withCString { Glibc.write(2, $0, strlen($0)) }
            } else {
                print(line)
            }
        }
        let engine = engineOptions.choice
        guard let capture else {
            let filter: PacketFilter
            do { filter = try PacketFilter(expression: expression, engine: engine) } catch {
                throw CLIError("\(error)")
            }
            for line in filter.disassembly { say(line) }
            return
        }
        // Property-wrapper reads are not free; none per packet.
        let countOnly = count
        let stop = StopSignal()
        stop.stopOnSignals()
        let summary: CaptureFilter.Summary
        do {
            summary = try CaptureFilter.run(
                capturePath: capture, synthesizeEthernet: synthesizeEthernet, writePath: writePath, limit: limit,
                stop: stop,
                makeFilter: { snapshotLength in
                    let filter = try PacketFilter(
                        expression: expression, snapshotLength: snapshotLength, engine: engine)
                    if disasm { for line in filter.disassembly { say(line) } }
                    return filter
                },
                onMatch: { match in
                    guard !countOnly else { return }
                    let seconds = match.timestampNanos / 1_000_000_000
                    let fraction = String(match.timestampNanos % 1_000_000_000)
                    let nanos = String(repeating: "0", count: 9 - fraction.count) + fraction
                    let wire = match.originalLength > match.capturedLength ? "/\(match.originalLength)" : ""
                    say("\(match.index) \(seconds).\(nanos) \(match.capturedLength)\(wire)")
                })
        } catch {
            throw CLIError("\(error)" + (writePath != nil ? " (no output file was written)" : ""))
        }
        say("\(summary.matched) matched of \(summary.packets) packets")
        if let signal = summary.stoppedBySignal { throw ExitCode(128 + signal) }
    }
}
