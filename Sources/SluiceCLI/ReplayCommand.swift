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
            """)

    @OptionGroup var programOptions: ProgramOptions

    @Argument(help: "The capture (pcap or pcapng, Ethernet).")
    var capture: String

    @Option(name: .customLong("out"), help: "Directory for one pcap per verdict (pass, tx, redirect, drop, aborted).")
    var outputDirectory: String?

    @Option(help: "JSON-lines results file: one object per packet, then the final maps.")
    var results: String?

    @Flag(help: "Include the output bytes (metadata + frame, hex) in each result line.")
    var bytes = false

    @Option(help: "Seed for bpf_get_prandom_u32.")
    var seed: UInt64 = 0x5eed

    @Option(help: "Stop after this many packets.")
    var limit: Int?

    @Flag(help: "Also run every packet through the kernel (BPF_PROG_TEST_RUN, needs root) and report differences.")
    var againstKernel = false

    @Flag(help: "Run unverified, with every memory access bounds-checked.")
    var noVerify = false

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
        if let limit, limit <= 0 { throw ValidationError("--limit must be positive") }
        if let trace, Self.packets(trace) == nil {
            throw ValidationError("--trace takes packet indexes separated by commas, e.g. --trace 3,13")
        }
        if let traceAll, traceAll <= 0 { throw ValidationError("--trace-all must be positive") }
        if coverageHtml != nil && coverage == nil { throw ValidationError("--coverage-html needs --coverage FILE.info") }
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
        let (source, _, spec) = try programOptions.load()
        var options = Replay.Options()
        options.outputDirectory = outputDirectory
        options.resultsPath = results
        options.includeBytes = bytes
        options.limit = limit
        options.tracePackets = trace.flatMap(Self.packets) ?? []
        if let traceAll {
            options.traceAll = true
            options.traceLimit = traceAll
        }
        options.traceStyle = traceJson ? .json : .text
        options.traceOutput = { line in print(line) }
        options.coveragePath = coverage
        options.printkOutput = { line in
            let text = line + "\n"
            _ = text.withCString { Glibc.write(2, $0, strlen($0)) }
        }
        let progress = ProgressLine(enabled: isatty(2) != 0)
        let summary: Replay.Summary
        do {
            summary = try Replay.run(
                source: source, spec: spec, capture: capture, options: options, seed: seed,
                againstKernel: againstKernel, verify: !noVerify
            ) { progress.update($0) }
        } catch {
            progress.finish()
            let outputs = outputDirectory != nil || results != nil
            throw CLIError("\(error)" + (outputs ? " (no output files were written)" : ""))
        }
        progress.finish()
        if let coverage, let coverageHtml {
            do { try CoverageReport.genhtml(tracefile: coverage, outputDirectory: coverageHtml) } catch {
                throw CLIError(error.description)
            }
        }
        ReplayReport.print(summary, againstKernel: againstKernel)
        if againstKernel && summary.differenceCount > 0 { throw ExitCode(1) }
    }
}
