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

    @OptionGroup var engineOptions: EngineOptions

    func validate() throws {
        if let limit, limit <= 0 { throw ValidationError("--limit must be positive") }
    }

    func run() throws {
        let (source, _, spec) = try programOptions.load()
        var options = Replay.Options()
        options.outputDirectory = outputDirectory
        options.resultsPath = results
        options.includeBytes = bytes
        options.limit = limit
        let progress = ProgressLine(enabled: isatty(2) != 0)
        let summary: Replay.Summary
        do {
            summary = try Replay.run(
                source: source, spec: spec, capture: capture, options: options, seed: seed,
                againstKernel: againstKernel, engine: engineOptions.choice
            ) { progress.update($0) }
        } catch {
            progress.finish()
            let outputs = outputDirectory != nil || results != nil
            throw CLIError("\(error)" + (outputs ? " (no output files were written)" : ""))
        }
        progress.finish()
        ReplayReport.print(summary, againstKernel: againstKernel)
        if againstKernel && summary.differenceCount > 0 { throw ExitCode(1) }
    }
}
