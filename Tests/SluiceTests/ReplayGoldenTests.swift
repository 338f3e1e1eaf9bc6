import BPFVM
import Foundation
import Testing

@testable import Sluice

/// Replay is deterministic and matches the kernel: each program in programs/ replayed over its capture reproduces the
/// committed results byte for byte, a rerun is byte-identical, and the kernel (BPF_PROG_TEST_RUN) agrees — with the
/// interpreter and with native code (LLVM), each.
@Suite(.serialized) struct ReplayGoldenTests {
    /// The verified engines; native needs LLVM 19 (scripts/setup.sh installs it), and a run that fell back to the
    /// interpreter fails the test rather than passing for the wrong engine.
    static let engines: [EngineChoice] = [.interpreter, .native]

    static func replay(
        _ name: String, into directory: String, againstKernel: Bool = false, engine: EngineChoice = .interpreter
    ) throws -> Replay.Summary {
        let mapsPath = Repository.path("pcaps/\(name).maps.json")
        let maps = FileManager.default.fileExists(atPath: mapsPath) ? try Array(Data(contentsOf: URL(fileURLWithPath: mapsPath))) : nil
        let (source, _, spec) = try ProgramSource.open(objectPath: try Repository.object(name), mapsJSON: maps)
        var options = Replay.Options()
        options.outputDirectory = directory
        options.resultsPath = directory + "/results.jsonl"
        options.includeBytes = true
        let summary = try Replay.run(
            source: source, spec: spec, capture: Repository.path("pcaps/\(name).pcap"), options: options,
            againstKernel: againstKernel, engine: engine)
        #expect(summary.engine.rawValue == engine.rawValue, "ran on \(summary.engine), asked for \(engine)")
        return summary
    }

    @Test func everyProgramHasACapture() {
        #expect(Repository.replayedPrograms.count >= 15, "programs with captures: \(Repository.replayedPrograms)")
    }

    @Test(arguments: Repository.replayedPrograms, engines)
    func goldenResultsReproduceByteForByte(program: String, engine: EngineChoice) throws {
        let first = try Repository.temporaryDirectory()
        let second = try Repository.temporaryDirectory()
        defer {
            try? FileManager.default.removeItem(atPath: first)
            try? FileManager.default.removeItem(atPath: second)
        }
        let summary = try Self.replay(program, into: first, engine: engine)
        #expect(summary.packets > 0)
        let golden = try Data(contentsOf: URL(fileURLWithPath: Repository.path("pcaps/\(program).results.jsonl")))
        let produced = try Data(contentsOf: URL(fileURLWithPath: first + "/results.jsonl"))
        #expect(produced == golden, "pcaps/\(program).results.jsonl differs: regenerate with scripts/make-golden.sh only if the change is intended")

        _ = try Self.replay(program, into: second, engine: engine)
        for file in ["results.jsonl"] + XDPAction.allCases.map(VerdictPcapWriters.fileName(for:)) {
            let a = try Data(contentsOf: URL(fileURLWithPath: first + "/" + file))
            let b = try Data(contentsOf: URL(fileURLWithPath: second + "/" + file))
            #expect(a == b, "\(file) differs between two runs of \(program)")
        }
    }

    @Test(arguments: Repository.replayedPrograms, engines)
    func kernelAgrees(program: String, engine: EngineChoice) throws {
        try #require(Repository.isRoot, "BPF_PROG_TEST_RUN needs root (CAP_BPF + CAP_NET_ADMIN); run the suite as root")
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let summary = try Self.replay(program, into: directory, againstKernel: true, engine: engine)
        #expect(summary.differenceCount == 0, "\(summary.differences.joined(separator: "\n"))")
        #expect(summary.packets > 20)
    }

    /// The comparison must be able to fail: the kernel gets no blocked ports, Sluice gets three.
    @Test func kernelComparisonFindsAnInjectedDifference() throws {
        try #require(Repository.isRoot, "BPF_PROG_TEST_RUN needs root (CAP_BPF + CAP_NET_ADMIN); run the suite as root")
        let object = try Repository.object("firewall")
        let maps = Array(#"{"blocked_ports": {"1600":"01","3500":"01","a100":"01"}}"#.utf8)
        let (source, _, spec) = try ProgramSource.open(objectPath: object, mapsJSON: maps)
        CPUAffinity.pinToFirstCPU()
        let kernel = try ProgramSource(objectPath: object).kernelRunner()
        let loaded = try ProgramLoader.load(spec, possibleCPUs: kernel.possibleCPUs, verify: true)
        try source.state.apply(to: loaded.program)
        var comparison = Replay.KernelComparison(runner: kernel)
        comparison.maxReported = 1000
        let replay = Replay(
            runner: ProgramRunner(program: loaded.program), options: Replay.Options(),
            kernel: comparison)
        let summary = try replay.run(capturePath: Repository.path("pcaps/firewall.pcap"))
        #expect(summary.differenceCount > 0)
        #expect(summary.differences.contains { $0.contains("verdict: Sluice 1 (drop), kernel 2 (pass)") })
        #expect(summary.differences.contains { $0.hasPrefix("map blocked_ports") || $0.hasPrefix("map verdicts") })
    }
}
