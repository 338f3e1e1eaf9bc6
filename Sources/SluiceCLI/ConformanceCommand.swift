import ArgumentParser
import BPFNative
import BPFVM

/// `sluice conformance DIR`: runs every bpf_conformance `.data` case in DIR through each engine: the interpreter
/// (unchecked and checked) and native code (LLVM).
struct ConformanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conformance",
        abstract: "Run a bpf_conformance suite directory (*.data) through Sluice's engines.",
        discussion: """
            Prints one line per failure, one 'ENGINE: N passed, N failed' line per engine and a closing \
            'N passed, N failed' line; exits non-zero on any failure. The default (all) needs LLVM 19 for the \
            native engine.
            """
    )

    @Argument(help: "Directory holding the .data cases.")
    var directory: String

    @Option(
        help: """
            Engines: normal (interpreter, unchecked), checked (interpreter, every memory access bounds-checked), \
            native (LLVM), both (normal and checked), or all.
            """)
    var mode: ModeChoice = .all

    @Flag(help: "Also print passing cases.")
    var verbose = false

    enum ModeChoice: String, ExpressibleByArgument, CaseIterable {
        case normal, checked, native, both, all
        var engines: [Engine] {
            switch self {
            case .normal: [.normal]
            case .checked: [.checked]
            case .native: [.native]
            case .both: [.normal, .checked]
            case .all: [.normal, .checked, .native]
            }
        }
    }

    enum Engine: String {
        case normal, checked, native
        var label: String {
            switch self {
            case .normal: "interpreter"
            case .checked: "interpreter, checked"
            case .native: "native"
            }
        }
    }

    func run() throws {
        let names = try FileSystem.listDirectory(directory).filter { $0.hasSuffix(".data") }.sorted()
        guard !names.isEmpty else { throw ValidationError("no .data files in \(directory)") }
        if mode.engines.contains(.native), let reason = NativeCompiler.unavailableReason {
            throw CLIError("the native engine is not available: \(reason) (--mode both runs the interpreter only)")
        }
        let runner = ConformanceRunner(helpers: HelperTable.function(id:))
        let nativeRunner = NativeConformanceRunner(helpers: HelperTable.function(id:))
        var results: [(name: String, outcome: ConformanceRunner.Outcome)] = []
        var perEngine: [String: [(name: String, outcome: ConformanceRunner.Outcome)]] = [:]
        for name in names {
            let path = directory + "/" + name
            let testCase: ConformanceCase
            do {
                testCase = try ConformanceCase.parse(try FileSystem.readText(path), name: name)
            } catch {
                results.append((name, .failed("\(error)")))
                continue
            }
            for engine in mode.engines {
                let label = engine == .normal || mode.engines.count == 1 ? name : "\(name) [\(engine.rawValue)]"
                let outcome: ConformanceRunner.Outcome =
                    switch engine {
                    case .normal: runner.run(testCase, mode: .normal)
                    case .checked: runner.run(testCase, mode: .checked)
                    case .native: nativeRunner.run(testCase)
                    }
                results.append((label, outcome))
                perEngine[engine.rawValue, default: []].append((label, outcome))
                switch outcome {
                case .passed: if verbose { print("PASS \(label)") }
                case .failed(let why): print("FAIL \(label): \(why)")
                case .skipped(let why): print("SKIP \(label): \(why)")
                }
            }
        }
        if mode.engines.count > 1 {
            for engine in mode.engines {
                print("\(engine.label): \(ConformanceReport(results: perEngine[engine.rawValue] ?? []).summary)")
            }
        }
        let report = ConformanceReport(results: results)
        print(report.summary)
        if report.failed > 0 { throw ExitCode(1) }
    }
}
