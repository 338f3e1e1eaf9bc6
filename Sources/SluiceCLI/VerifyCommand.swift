import ArgumentParser
import BPFVM
import Foundation
import Sluice

/// `sluice verify PROG.o`: prove the program safe, or say exactly where and why not.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify a program: memory safety, initialisation, termination, helper arguments.",
        discussion: "Prints OK with statistics, or the instruction, source line, register state and reason; exits 1 when the program is refused. --json prints one JSON document instead (docs/verify-json.md).")

    @Argument(help: "The BPF object file.")
    var object: String

    @Option(help: "ELF section of the program.")
    var section: String?

    @Option(help: "Function name of the program.")
    var program: String?

    @Flag(help: "Also print per-program statistics of tail-call targets and warnings.")
    var verbose = false

    @Flag(help: "Print one JSON document (docs/verify-json.md); exit 0 accepted, 1 refused, 2 not verified.")
    var json = false

    @Flag(
        help: ArgumentHelp(
            "Print Sluice's instructions processed and states stored beside the kernel verifier's figures.",
            discussion: "The kernel's figures come from its verifier log (loaded through libbpf); they need root."))
    var stats = false

    /// `--stats`: what compiling the program to native code costs (the native engine's load-time work).
    static func nativeCompileLine(_ verified: VerifiedProgram) -> String {
        do {
            let loaded = try ProgramLoader.load(verified: verified, possibleCPUs: 1, engine: .native)
            let milliseconds = Double(loaded.compileNanoseconds) / 1e6
            return "native compile time: \((milliseconds * 10).rounded() / 10) ms (LLVM 19: lowering, O2, machine code; "
                + "\(loaded.program.siblings.count) program(s): the entry and its tail-call targets)"
        } catch {
            return "native compile time: - (\(error))"
        }
    }

    func run() throws {
        if json {
            let (document, status) = VerifyJSONDocument.make(
                object: object, program: program, section: section, statistics: stats)
            print(try document.json())
            if status != 0 { throw ExitCode(status) }
            return
        }
        let spec: ProgramSpec
        do { spec = try ProgramSource.open(objectPath: object, program: program, section: section).spec } catch {
            throw CLIError("\(error)")
        }
        let start = ContinuousClock.now
        let verified: VerifiedProgram
        do { verified = try Verifier().verifyWithSiblings(spec) } catch {
            print("REFUSED \(spec.name)")
            print(error.description)
            throw ExitCode(1)
        }
        let reports = verified.reports
        let elapsed = ContinuousClock.now - start
        let milliseconds = Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000
        let main = reports[spec.name]!
        print(
            "OK \(spec.name): \(spec.instructions.count) instructions, \(main.instructionsProcessed) processed, "
                + "\(main.statesStored) states stored, \(main.statesPruned) pruned, stack \(main.stackDepth) B, "
                + "\((milliseconds * 100).rounded() / 100) ms"
                + (reports.count > 1 ? " (\(reports.count - 1) tail-call targets verified too)" : ""))
        for warning in main.warnings { print("warning: \(warning)") }
        if stats {
            print(VerifyStatistics(report: main, objectPath: object, program: spec.name).table)
            print(Self.nativeCompileLine(verified))
        }
        if verbose {
            for (name, report) in reports.sorted(by: { $0.key < $1.key }) where name != spec.name {
                print("  \(name): \(report.instructionsProcessed) processed, \(report.statesStored) states")
                for warning in report.warnings { print("  warning: \(warning)") }
            }
        }
    }
}
