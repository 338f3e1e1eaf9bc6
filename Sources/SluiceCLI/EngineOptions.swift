import ArgumentParser
import Sluice

extension EngineChoice: ExpressibleByArgument {}

/// `--engine` (and its older spelling `--no-verify`), shared by replay, run and bench.
struct EngineOptions: ParsableArguments {
    @Option(
        help: """
            Execution engine: auto (native when LLVM 19 is available, else the interpreter), native (verified, \
            compiled to machine code with LLVM), interpreter (verified, no bounds checks), checked (unverified, \
            every memory access bounds-checked).
            """)
    var engine: EngineChoice?

    @Flag(help: "Run unverified, with every memory access bounds-checked (same as --engine checked).")
    var noVerify = false

    func validate() throws {
        if noVerify, let engine, engine != .checked {
            throw ValidationError("--no-verify means --engine checked; it cannot be combined with --engine \(engine)")
        }
    }

    var choice: EngineChoice { noVerify ? .checked : engine ?? .auto }
}
