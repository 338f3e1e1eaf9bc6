import ArgumentParser
import BPFVM

/// `sluice conformance DIR`: runs every bpf_conformance `.data` case in DIR through the interpreter.
struct ConformanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conformance",
        abstract: "Run a bpf_conformance suite directory (*.data) through Sluice's interpreter.",
        discussion: "Prints one line per failure and a closing 'N passed, N failed' line; exits non-zero on any failure."
    )

    @Argument(help: "Directory holding the .data cases.")
    var directory: String

    @Option(help: "Execution mode: normal (unchecked), checked (every memory access bounds-checked), or both.")
    var mode: ModeChoice = .both

    @Flag(help: "Also print passing cases.")
    var verbose = false

    enum ModeChoice: String, ExpressibleByArgument, CaseIterable {
        case normal, checked, both
        var modes: [ConformanceRunner.Mode] {
            switch self {
            case .normal: [.normal]
            case .checked: [.checked]
            case .both: [.normal, .checked]
            }
        }
    }

    func run() throws {
        let names = try FileSystem.listDirectory(directory).filter { $0.hasSuffix(".data") }.sorted()
        guard !names.isEmpty else { throw ValidationError("no .data files in \(directory)") }
        let runner = ConformanceRunner(helpers: HelperTable.function(id:))
        var results: [(name: String, outcome: ConformanceRunner.Outcome)] = []
        for name in names {
            let path = directory + "/" + name
            let testCase: ConformanceCase
            do {
                testCase = try ConformanceCase.parse(try FileSystem.readText(path), name: name)
            } catch {
                results.append((name, .failed("\(error)")))
                continue
            }
            for mode in mode.modes {
                let label = mode == .normal || self.mode != .both ? name : "\(name) [checked]"
                let outcome = runner.run(testCase, mode: mode)
                results.append((label, outcome))
                switch outcome {
                case .passed: if verbose { print("PASS \(label)") }
                case .failed(let why): print("FAIL \(label): \(why)")
                case .skipped(let why): print("SKIP \(label): \(why)")
                }
            }
        }
        let report = ConformanceReport(results: results)
        print(report.summary)
        if report.failed > 0 { throw ExitCode(1) }
    }
}
