import BPFVM

/// A program made ready to run: opened from its object, verified (unless the engine is `checked`), compiled when the
/// engine is native, its maps created and given their initial state (`--maps`, `--set`). Every command that runs
/// frames (`run`, `replay`, `bench`) starts from one; workers each take a `runner` (one VM machine per worker, the
/// program and its maps shared, as in the kernel).
public struct ProgramSession {
    public let source: ProgramSource
    public let spec: ProgramSpec
    public let loaded: ProgramLoader.Loaded

    public struct Error: Swift.Error, CustomStringConvertible {
        public var description: String
    }

    /// Loads `spec` (already opened from `source`) on `engine` and applies `source`'s initial map state.
    public init(source: ProgramSource, spec: ProgramSpec, engine: EngineChoice, possibleCPUs: Int = 1) throws(Error) {
        self.source = source
        self.spec = spec
        do { loaded = try ProgramLoader.load(spec, possibleCPUs: possibleCPUs, engine: engine) } catch {
            throw Error(description: "\(error)")
        }
        do { try source.state.apply(to: loaded.program) } catch { throw Error(description: error.description) }
    }

    /// Opens `objectPath` and loads it (`ProgramSource.open`, then `init(source:spec:engine:possibleCPUs:)`).
    public static func open(
        objectPath: String, program: String? = nil, section: String? = nil, mapsJSON: [UInt8]? = nil,
        globals: [String] = [], engine: EngineChoice, possibleCPUs: Int = 1
    ) throws(Error) -> ProgramSession {
        let source: ProgramSource
        let spec: ProgramSpec
        do {
            (source, _, spec) = try ProgramSource.open(
                objectPath: objectPath, program: program, section: section, mapsJSON: mapsJSON, globals: globals)
        } catch { throw Error(description: error.description) }
        return try ProgramSession(source: source, spec: spec, engine: engine, possibleCPUs: possibleCPUs)
    }

    public var program: LoadedProgram { loaded.program }
    /// The engine frames run on (what `auto` chose).
    public var engine: Engine { loaded.engine }
    /// Why `auto` fell back to the interpreter, if it did.
    public var engineNote: String? { loaded.engineNote }

    /// A runner for one worker: its own VM machine (registers, stack, environment) over the shared program and maps.
    public func runner(
        budget: UInt64 = RunBudget.defaultInstructions, processorID: UInt32 = 0, seed: UInt64 = 0x5eed
    ) -> ProgramRunner {
        ProgramRunner(loaded: loaded, budget: budget, processorID: processorID, seed: seed)
    }
}
