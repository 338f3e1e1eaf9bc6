import ArgumentParser
import BPFVM
import Sluice

#if canImport(Glibc)
    import Glibc
#endif

/// `sluice replay PROG.o CAPTURE`: what does my XDP program do to this capture? Deterministically.
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Run an XDP program over a pcap/pcapng capture, deterministically.",
        discussion: """
            The clock is the capture's timestamps, randomness comes from --seed, one ordered worker: the same inputs \
            give byte-identical outputs. Frames are laid out as the kernel's BPF_PROG_TEST_RUN lays them out.

            Outputs behave as with Unix tools: '-' is standard output (and '-' as the capture is standard input); a \
            regular file is replaced atomically when the replay completes; a FIFO, a device (/dev/null, /dev/stdout) \
            or a symbolic link's target that is one is written in place; a symbolic link is kept. SIGINT (Ctrl-C) \
            or SIGTERM ends the replay early: the summary so far is printed, the outputs are finished with the \
            packets replayed so far, and the exit status is 128 + the signal (130 for SIGINT).
            """)

    @OptionGroup var programOptions: ProgramOptions

    @OptionGroup var budget: BudgetOptions

    @Argument(help: "The capture (pcap or pcapng, Ethernet; '-': standard input).")
    var capture: String

    @Option(name: .customLong("out"), help: "Directory for one pcap per verdict (pass, tx, redirect, drop, aborted).")
    var outputDirectory: String?

    @Option(
        help:
            "Verdict captures as pcap, or pcapng with a comment per packet (input index, verdict, return value) and the input's interface ids and comments kept."
    )
    var format: CaptureFormat = .pcap

    @Option(help: "JSON-lines results file: one object per packet, then the final maps ('-': standard output).")
    var results: String?

    @Flag(help: "Include the output bytes (metadata + frame, hex) in each result line.")
    var bytes = false

    @Option(
        parsing: .unconditional, help: "Seed for bpf_get_prandom_u32 (0...2^64-1, decimal or 0x hex).",
        transform: NumberArgument.seed)
    var seed: UInt64 = 0x5eed

    @Option(
        parsing: .unconditional, help: "Stop after this many packets.",
        transform: { try NumberArgument.count($0, in: 1...Int.max, what: "packets") })
    var limit: Int?

    @Flag(
        help:
            "Accept raw-IP (101, 228, 229) and Linux cooked (113, 276) captures: put an Ethernet header in front of each packet."
    )
    var synthesizeEthernet = false

    @Flag(help: "Also run every packet through the kernel (BPF_PROG_TEST_RUN, needs root) and report differences.")
    var againstKernel = false

    @Option(
        help: ArgumentHelp(
            "With --against-kernel: leave this map out of the comparison (repeatable), for state that differs by design.",
            valueName: "name"))
    var ignoreMap: [String] = []

    @Option(
        help: ArgumentHelp(
            "With --against-kernel: leave one key of a map out (repeatable); the key as hex bytes in memory order, as the results' maps line shows it.",
            valueName: "name:keyhex"))
    var ignoreKey: [String] = []

    @Option(
        help: ArgumentHelp(
            "Write the final maps as JSON in bpftool map dump -j's shape: hex bytes plus BTF-decoded values, every array entry, per-CPU values per CPU ('-': standard output).",
            valueName: "file"))
    var mapsOut: String?

    @Option(
        help: ArgumentHelp(
            "Decode ring-buffer / perf-event records of MAP as these BTF types (repeatable): a record whose length is a type's size gets a \"formatted\" value in the results.",
            valueName: "map=type[,type…]"))
    var eventType: [String] = []

    @OptionGroup var engineOptions: EngineOptions

    @Option(
        help: ArgumentHelp(
            "Run the program only on packets matching this tcpdump expression (see 'sluice filter').",
            discussion: "The others are not run: verdict \"filtered\" in --results, written unchanged to filtered.pcap with --out, and counted in the summary.",
            valueName: "expression"))
    var filter: String?

    @Option(help: "Trace these packets (capture indexes from 0, comma-separated) instruction by instruction, to stdout.")
    var trace: String?

    @Option(help: "Trace every packet, at most this many.")
    var traceAll: Int?

    @Flag(help: "Trace as JSON lines instead of text.")
    var traceJson = false

    @Option(help: "Write an lcov tracefile of source lines and branches executed over the whole capture.")
    var coverage: String?

    @Option(help: "Render the coverage as HTML into this directory with genhtml (Debian lcov); needs --coverage.")
    var coverageHtml: String?

    func validate() throws {
        if outputDirectory == "-" {
            throw ValidationError("--out takes a directory for one pcap per verdict; '-' (standard output) is not one")
        }
        if let trace, Self.packets(trace) == nil {
            throw ValidationError("--trace takes packet indexes separated by commas, e.g. --trace 3,13")
        }
        if let traceAll, traceAll <= 0 { throw ValidationError("--trace-all must be positive") }
        if coverageHtml != nil && coverage == nil {
            throw ValidationError("--coverage-html needs --coverage FILE.info")
        }
        if !againstKernel && !(ignoreMap.isEmpty && ignoreKey.isEmpty) {
            throw ValidationError("--ignore-map and --ignore-key only apply with --against-kernel")
        }
        for text in eventType where EventTypeList.parse(text) == nil {
            throw ValidationError(
                "--event-type takes MAP=TYPE[,TYPE…] (e.g. events=ip_event,frame_event), not '\(text)'")
        }
        for key in ignoreKey where MapIgnoreList.parseKey(key) == nil {
            throw ValidationError("--ignore-key takes NAME:KEYHEX (e.g. flows:0a000001), not '\(key)'")
        }
    }

    static func packets(_ text: String) -> Set<Int>? {
        var result = Set<Int>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let index = Int(part), index >= 0 else { return nil }
            result.insert(index)
        }
        return result.isEmpty ? nil : result
    }

    func run() throws {
        let (source, object, spec) = try programOptions.load()
        let ignoring: MapComparison.Options
        do { ignoring = try MapIgnoreList.options(maps: ignoreMap, keys: ignoreKey, in: spec.maps) } catch {
            throw CLIError(error.description)
        }
        let eventTypes: [String: [BTFType]]
        do { eventTypes = try EventTypeList.types(eventType, in: object) } catch { throw CLIError(error.description) }
        var options = Replay.Options()
        options.outputDirectory = outputDirectory
        options.resultsPath = results
        options.includeBytes = bytes
        options.limit = limit
        options.synthesizeEthernet = synthesizeEthernet
        options.outputFormat = format
        options.tracePackets = trace.flatMap(Self.packets) ?? []
        if let traceAll {
            options.traceAll = true
            options.traceLimit = traceAll
        }
        options.traceStyle = traceJson ? .json : .text
        options.traceOutput = { line in print(line) }
        options.coveragePath = coverage
        options.mapsOutPath = mapsOut
        options.eventTypes = eventTypes
        options.filterExpression = filter
        options.printkOutput = { line in
            let text = line + "\n"
            _ = text.withCString { Glibc.write(2, $0, strlen($0)) }
        }
        let progress = ProgressLine(enabled: isatty(2) != 0)
        // SIGINT/SIGTERM become a stop request the replay checks between packets, so that the outputs are finished.
        let stop = StopSignal()
        stop.stopOnSignals()
        let summary: Replay.Summary
        do {
            summary = try Replay.run(
                source: source, spec: spec, capture: capture, options: options, seed: seed,
                againstKernel: againstKernel, budget: budget.instructions, engine: engineOptions.choice, stop: stop,
                mapComparison: ignoring
            ) { progress.update($0) }
        } catch {
            progress.finish()
            let outputs = outputDirectory != nil || results != nil || mapsOut != nil
            throw CLIError("\(error)" + (outputs ? " (no output files were written)" : ""))
        }
        progress.finish()
        if let coverage, let coverageHtml {
            do { try CoverageReport.genhtml(tracefile: coverage, outputDirectory: coverageHtml) } catch {
                throw CLIError(error.description)
            }
        }
        ReplayReport.print(summary, againstKernel: againstKernel)
        if let signal = summary.stoppedBySignal { throw ExitCode(128 + signal) }
        if againstKernel && summary.differenceCount > 0 { throw ExitCode(1) }
    }
}

extension CaptureFormat: ExpressibleByArgument {}
