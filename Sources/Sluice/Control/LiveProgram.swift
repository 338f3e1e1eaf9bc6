import BPFObject
import BPFVM
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The program a live run executes, replaceable while it runs (`sluice ctl IFACE reload`).
///
/// Every reload is a new *generation*: loaded, verified and compiled on the calling (control) thread, then
/// published to every worker's `WorkerProgramSlot`. Workers switch between rounds (`ReloadableProcessor`), so each
/// frame is run by exactly one generation; the previous generation's runners (and the maps only it uses) are freed
/// only after every worker has acknowledged the switch or ended.
///
/// Threading: `reload` and `processor(worker:)` one thread at a time (the run command before the workers start and
/// after the control server stopped; in between only the control server's thread). `generations()`, `generation`,
/// `reloads`, `programName` and `engine` may be read from any thread (the metrics endpoint).
public final class LiveProgram: @unchecked Sendable {
    /// One program that ran or runs, with the frames it processed (summed over workers).
    public struct Generation: Codable, Sendable, Hashable {
        public var generation: UInt64
        public var program: String
        public var object: String
        public var engine: Engine
        public var processed: UInt64
        public var active: Bool
    }

    /// What a reload did.
    public struct ReloadReport: Codable, Sendable, Hashable {
        public var generation: UInt64
        public var program: String
        public var engine: Engine
        /// Maps carried over from the previous program (same name and definition).
        public var keptMaps: [String]
        /// Maps created for the new program.
        public var newMaps: [String]
        /// Frames the previous program processed in all, now that every worker has left it.
        public var previousProcessed: UInt64
        /// Time to load, verify and compile the new program (off the packet path).
        public var loadMilliseconds: Double
        /// Time from publishing the new program until every worker ran it (or ended).
        public var switchMilliseconds: Double
        /// Why `auto` chose the interpreter, if it did.
        public var engineNote: String?
    }

    /// A refused reload; the running program is untouched.
    public struct ReloadError: Error, CustomStringConvertible {
        public var description: String
    }

    /// How a reload picks the new program and what it keeps.
    public struct ReloadRequest: Sendable {
        public var objectPath: String
        public var program: String?
        public var section: String?
        /// `--maps` JSON contents, if given.
        public var mapsJSON: [UInt8]?
        public var globals: [String]
        /// Carry compatible maps over by name (`--keep-maps`, the default) or start from fresh maps.
        public var keepMaps: Bool

        public init(
            objectPath: String, program: String? = nil, section: String? = nil, mapsJSON: [UInt8]? = nil,
            globals: [String] = [], keepMaps: Bool = true
        ) {
            self.objectPath = objectPath
            self.program = program
            self.section = section
            self.mapsJSON = mapsJSON
            self.globals = globals
            self.keepMaps = keepMaps
        }
    }

    let budget: UInt64
    let engineChoice: EngineChoice
    /// How long a reload waits for every worker to acknowledge.
    let switchTimeoutNanos: UInt64
    private(set) var loaded: ProgramLoader.Loaded
    public var objectPath: String { summary.withLock { $0.objectPath } }
    private var runners: [ProgramRunner] = []
    private var slots: [WorkerProgramSlot] = []
    /// Runners of generations some worker never acknowledged (kept alive for good: a worker may still run them).
    private var abandoned: [[ProgramRunner]] = []
    /// What other threads may read, published at the end of each reload.
    private struct Summary: Sendable {
        var retired: [Generation] = []
        var generation: UInt64 = 1
        var reloads: UInt64 = 0
        var programName: String
        var objectPath: String
        var engine: Engine
    }
    private let summary: Mutex<Summary>
    public var generation: UInt64 { summary.withLock { $0.generation } }
    public var reloads: UInt64 { summary.withLock { $0.reloads } }
    /// Answers whether worker `i` has ended (its thread returned): it will never acknowledge.
    public var workerFinished: (Int) -> Bool = { _ in false }

    /// What the workers' runs print (`bpf_trace_printk`), for `sluice ctl IFACE trace`.
    public let trace = LiveTrace()

    /// `run --filter`: frames it does not match are passed without running the program, whichever generation runs.
    private let filter: PacketFilter?
    /// Each worker's copy of the filter (its own VM machine), kept across reloads.
    private var workerFilters: [PacketFilter?] = []

    public init(
        loaded: ProgramLoader.Loaded, objectPath: String, budget: UInt64, engineChoice: EngineChoice,
        filter: PacketFilter? = nil, switchTimeoutNanos: UInt64 = 5_000_000_000
    ) {
        self.filter = filter
        self.loaded = loaded
        self.budget = budget
        self.engineChoice = engineChoice
        self.switchTimeoutNanos = switchTimeoutNanos
        summary = Mutex(Summary(programName: loaded.program.spec.name, objectPath: objectPath, engine: loaded.engine))
    }

    /// The running program's loaded form (its maps are the ones `ctl map` commands see).
    public var program: LoadedProgram { loaded.program }
    public var programName: String { summary.withLock { $0.programName } }
    public var engine: Engine { summary.withLock { $0.engine } }

    /// The processor for worker `index` (called once per worker, by the engine's `makeProcessor`, before start).
    public func processor(worker index: Int) -> ReloadableProcessor {
        let runner = ProgramRunner(loaded: loaded, budget: budget, processorID: UInt32(index))
        let workerFilter = filter.map { workerFilters.isEmpty ? $0 : $0.forAnotherWorker() }
        workerFilters.append(workerFilter)
        runner.filter = workerFilter
        let traceBuffer = trace.buffer(worker: index)
        runner.environment.pointee.trace = traceBuffer
        let generation = self.generation
        let slot = WorkerProgramSlot(generation: generation)
        runners.append(runner)
        slots.append(slot)
        return ReloadableProcessor(
            runner: runner, slot: slot, generation: generation, trace: trace, traceBuffer: traceBuffer, worker: index)
    }

    /// Sampled program run times over every worker and generation.
    public func runTime() -> RunTimeHistogram {
        var counts = [UInt64](repeating: 0, count: RunTimeHistogram.bucketCount)
        var sum: UInt64 = 0
        for slot in slots {
            for i in 0..<RunTimeHistogram.bucketCount { counts[i] &+= slot.runTime[i].load(ordering: .relaxed) }
            sum &+= slot.runTime[RunTimeHistogram.bucketCount].load(ordering: .relaxed)
        }
        return RunTimeHistogram(
            sampleEvery: RunTimeHistogram.sampleEvery,
            boundsNanos: (0..<RunTimeHistogram.bucketCount - 1).map(RunTimeHistogram.bound), counts: counts,
            sumNanos: sum)
    }

    /// Every generation so far, the running one last (its count is as of the workers' last round).
    public func generations() -> [Generation] {
        let current = slots.reduce(UInt64(0)) { $0 &+ $1.processed.load(ordering: .relaxed) }
        return summary.withLock { s in
            s.retired + [
                Generation(
                    generation: s.generation, program: s.programName, object: s.objectPath, engine: s.engine,
                    processed: current, active: true)
            ]
        }
    }

    /// Loads, verifies and compiles the new program here, then switches every worker to it between rounds. Throws
    /// (and changes nothing) when the object cannot be read, the program is refused by the verifier, or a map
    /// cannot be created.
    public func reload(_ request: ReloadRequest) throws(ReloadError) -> ReloadReport {
        let loadStart = Self.monotonicNanos()
        let source: ProgramSource
        let spec: ProgramSpec
        do {
            (source, _, spec) = try ProgramSource.open(
                objectPath: request.objectPath, program: request.program, section: request.section,
                mapsJSON: request.mapsJSON, globals: request.globals)
        } catch { throw ReloadError(description: error.description) }
        let new: ProgramLoader.Loaded
        do {
            new = try ProgramLoader.load(
                spec, possibleCPUs: loaded.program.maps.first?.possibleCPUs ?? 1, engine: engineChoice,
                reusableMaps: request.keepMaps ? loaded.program.maps : [])
        } catch { throw ReloadError(description: "\(error)") }
        do { try source.state.apply(to: new.program) } catch { throw ReloadError(description: error.description) }
        let old = Set(loaded.program.maps.map(ObjectIdentifier.init))
        let kept = new.program.maps.filter { old.contains(ObjectIdentifier($0)) }.map(\.spec.name)
        let created = new.program.maps.filter { !old.contains(ObjectIdentifier($0)) }.map(\.spec.name)
        let newRunners = slots.indices.map {
            let runner = ProgramRunner(loaded: new, budget: budget, processorID: UInt32($0))
            runner.filter = workerFilters[$0]
            runner.environment.pointee.trace = trace.buffer(worker: $0)
            return runner
        }
        let loadEnd = Self.monotonicNanos()

        // Publish: runner first, then the generation the worker compares against.
        let previous = generation
        let next = previous &+ 1
        for (slot, runner) in zip(slots, newRunners) {
            slot.targetRunner.store(UInt(bitPattern: Unmanaged.passUnretained(runner).toOpaque()), ordering: .relaxed)
            slot.target.store(next, ordering: .releasing)
        }
        var previousProcessed: UInt64 = 0
        var pending = Set(slots.indices)
        let deadline = loadEnd &+ switchTimeoutNanos
        while !pending.isEmpty {
            for i in pending.sorted() {
                if slots[i].running.load(ordering: .acquiring) == next {
                    previousProcessed &+= slots[i].retiredProcessed.load(ordering: .relaxed)
                    pending.remove(i)
                } else if workerFinished(i) {
                    // Ended before switching: its last round's count is final.
                    previousProcessed &+= slots[i].processed.load(ordering: .acquiring)
                    slots[i].processed.store(0, ordering: .relaxed)
                    pending.remove(i)
                }
            }
            if pending.isEmpty { break }
            if Self.monotonicNanos() > deadline {
                // Cannot prove the old program is unused: keep it alive for good and report.
                abandoned.append(runners)
                break
            }
            usleep(200)
        }
        let switchEnd = Self.monotonicNanos()
        // Every worker has left the old runners (or they are in `abandoned`): dropping them frees the old program.
        runners = newRunners
        loaded = new
        summary.withLock { s in
            s.retired.append(
                Generation(
                    generation: previous, program: s.programName, object: s.objectPath, engine: s.engine,
                    processed: previousProcessed, active: false))
            s.generation = next
            s.reloads &+= 1
            s.programName = new.program.spec.name
            s.objectPath = request.objectPath
            s.engine = new.engine
        }
        if !pending.isEmpty {
            throw ReloadError(
                description: "worker(s) \(pending.sorted().map(String.init).joined(separator: ", ")) did not pick up "
                    + "generation \(next) within \(switchTimeoutNanos / 1_000_000) ms; they will switch at their next "
                    + "round (the old program is kept alive)")
        }
        return ReloadReport(
            generation: next, program: new.program.spec.name, engine: new.engine, keptMaps: kept, newMaps: created,
            previousProcessed: previousProcessed,
            loadMilliseconds: Double(loadEnd &- loadStart) / 1e6,
            switchMilliseconds: Double(switchEnd &- loadEnd) / 1e6, engineNote: new.engineNote)
    }

    static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}
