import ArgumentParser
import BPFVM
import Foundation
import Sluice
import Testing

@testable import SluiceCLI

/// The command line reads like its documentation: every command is reachable, its help names its options, and bad
/// combinations are refused before anything runs.
@Suite struct CommandLineTests {
    @Test func everyCommandIsListedInTheHelp() {
        let help = SluiceCommand.helpMessage()
        for name in ["run", "replay", "detach", "conformance", "exec", "asm", "disasm"] {
            #expect(help.contains("  \(name) "), "sluice --help does not list '\(name)'")
        }
    }

    @Test func replayHelpNamesItsOptions() {
        let help = SluiceCommand.helpMessage(for: ReplayCommand.self)
        for option in ["--out", "--results", "--bytes", "--seed", "--limit", "--against-kernel", "--maps", "--set", "--section"] {
            #expect(help.contains(option), "sluice replay --help does not mention \(option)")
        }
    }

    @Test func runHelpNamesItsOptions() {
        let help = SluiceCommand.helpMessage(for: RunCommand.self)
        for option in ["--iface", "--queues", "--mode", "--copy", "--zero-copy", "--batch", "--duration", "--pass-to-tap",
                       "--redirect-iface", "--persist", "--stats-interval", "--json"] {
            #expect(help.contains(option), "sluice run --help does not mention \(option)")
        }
    }

    @Test func verifyStatsPrintsSluiceBesideTheKernel() throws {
        #expect(SluiceCommand.helpMessage(for: VerifyCommand.self).contains("--stats"))
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        let object = root.path + "/programs/build/alu_switch_loop.o"
        try #require(FileManager.default.fileExists(atPath: object), "\(object) is missing: run programs/build.sh")
        let (document, status) = VerifyJSONDocument.make(object: object, program: nil, section: nil, statistics: true)
        #expect(status == 0)
        let stats = try #require(document.stats)
        #expect(stats.sluice.instructionsProcessed == document.instructionsProcessed)
        #expect(stats.sluice.statesTotal == document.statesStored)
        #expect(stats.sluice.statesPeak > 0 && stats.sluice.statesPeak <= stats.sluice.statesTotal)
        #expect(stats.table.contains("instructions processed"))
        let json = try document.json()
        #expect(json.contains("\"stats\"") && json.contains("\"states_peak\""))
        if geteuid() == 0 {
            let kernel = try #require(stats.kernel, "no kernel figures: \(stats.kernelError ?? "")")
            #expect(kernel.instructionsProcessed > 0 && kernel.statesTotal > 0)
            #expect(stats.kernelError == nil)
        } else {
            #expect(stats.kernel == nil && stats.kernelError?.contains("root") == true)
        }
        let (plain, _) = VerifyJSONDocument.make(object: object, program: nil, section: nil)
        #expect(plain.stats == nil)
        // The native engine's load-time cost: a time in ms where LLVM 19 is, otherwise the reason.
        let spec = try ProgramSource.open(objectPath: object).spec
        let compile = VerifyCommand.nativeCompileLine(try Verifier().verifyWithSiblings(spec))
        #expect(compile.hasPrefix("native compile time: "))
        #expect(compile.contains(" ms (LLVM 19") || compile.contains("- ("), "\(compile)")
    }

    @Test func conflictingOrInvalidOptionsAreRefused() {
        #expect(throws: (any Error).self) { try SluiceCommand.parseAsRoot(["run", "--iface", "x", "p.o", "--copy", "--zero-copy"]) }
        #expect(throws: (any Error).self) { try SluiceCommand.parseAsRoot(["run", "--iface", "x", "p.o", "--batch", "0"]) }
        #expect(throws: (any Error).self) { try SluiceCommand.parseAsRoot(["run", "--iface", "x", "p.o", "--mode", "turbo"]) }
        #expect(throws: (any Error).self) { try SluiceCommand.parseAsRoot(["replay", "p.o", "c.pcap", "--limit", "0"]) }
        for budget in ["0", "99", "-5", "lots", "1099511627777"] {
            #expect(throws: (any Error).self) { try SluiceCommand.parseAsRoot(["replay", "p.o", "c.pcap", "--budget", budget]) }
            #expect(throws: (any Error).self) { try SluiceCommand.parseAsRoot(["bench", "p.o", "--budget", budget]) }
        }
        #expect(throws: Never.self) { try SluiceCommand.parseAsRoot(["replay", "p.o", "c.pcap", "--budget", "1_000_000"]) }
        #expect(throws: (any Error).self) { try SluiceCommand.parseAsRoot(["replay", "p.o"]) }
    }

    @Test func missingFilesAreNamedInTheError() throws {
        var command = try SluiceCommand.parseAsRoot(["replay", "/nonexistent/prog.o", "/nonexistent/c.pcap"])
        do {
            try command.run()
            Issue.record("replay of a missing object must fail")
        } catch {
            #expect("\(error)".contains("/nonexistent/prog.o"))
        }
    }
}
