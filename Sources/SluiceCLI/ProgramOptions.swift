import ArgumentParser
import BPFObject
import BPFVM
import Sluice

/// Which program of an object, and the state it starts with: shared by every command that loads a program.
struct ProgramSelectionOptions: ParsableArguments {
    @Option(help: "ELF section of the program (xdp, xdp.frags, …).")
    var section: String?

    @Option(help: "Function name of the program (when a section holds several).")
    var program: String?

    @Option(help: "Initial map contents: a JSON file {\"map name\": {\"hex key\": \"hex value\"}} (.rodata/.data too).")
    var maps: String?

    @Option(name: .customLong("set"), help: "Set a global variable by its BTF name: NAME=VALUE (integer or hex:BYTES).")
    var globals: [String] = []

    /// The object at `path`, the selected program with the initial state applied to its global data, and the source.
    func open(_ path: String) throws -> (source: ProgramSource, object: BPFObjectFile, spec: ProgramSpec) {
        do {
            return try ProgramSource.open(
                objectPath: path, program: program, section: section,
                mapsJSON: try maps.map { try FileSystem.readBytes($0) }, mapsSource: maps ?? "--maps", globals: globals)
        } catch let error as ProgramSource.Error { throw CLIError(error.description) }
    }
}

/// A required object file plus the program selection and state options.
struct ProgramOptions: ParsableArguments {
    @Argument(help: "The BPF object file (clang -O2 -g -target bpf).")
    var object: String

    @OptionGroup var selection: ProgramSelectionOptions

    func load() throws -> (source: ProgramSource, object: BPFObjectFile, spec: ProgramSpec) {
        try selection.open(object)
    }
}

/// `--budget N`: the per-packet instruction budget of replay, run and bench.
struct BudgetOptions: ParsableArguments {
    @Option(
        name: .customLong("budget"),
        help: ArgumentHelp(
            "Per-packet instruction budget: a packet whose run goes past it ends as XDP_ABORTED with a note.",
            discussion: "Default \(RunBudget.defaultInstructions); from \(RunBudget.accepted.lowerBound) to "
                + "\(RunBudget.accepted.upperBound). Unchecked runs charge it at back edges and bpf_loop passes.",
            valueName: "n"))
    var value: String?

    /// The budget in instructions (validated).
    var instructions: UInt64 {
        value.flatMap { UInt64($0.filter { $0 != "_" }) } ?? RunBudget.defaultInstructions
    }

    func validate() throws {
        guard let value else { return }
        let accepted = RunBudget.accepted
        guard let n = UInt64(value.filter { $0 != "_" }) else {
            throw ValidationError("--budget must be a whole number of instructions, got '\(value)'")
        }
        guard accepted.contains(n) else {
            throw ValidationError(
                "--budget \(n) is outside \(accepted.lowerBound)...\(accepted.upperBound) instructions per packet "
                    + (n < accepted.lowerBound
                        ? "(no real program finishes in so few)" : "(one packet could run for hours)"))
        }
    }
}
