import BPFNative
import BPFVM

/// Runs one loaded program on frames: one per worker. Owns the VM machine (registers, stack, environment) and keeps
/// the program alive. The per-frame call goes through `VMFrameProcessor`, which holds only unmanaged references.
public final class ProgramRunner {
    /// How frames run: unchecked needs the verified program's entry point, so an unverified program cannot get it.
    public enum Execution {
        /// Unchecked when the program was verified (`LoadedProgram.uncheckedEntry`), checked otherwise.
        case fastest
        /// Every memory access bounds-checked, even for a verified program (differential tests).
        case checked
    }

    enum Mode {
        case checked(ProgramEntry)
        case unchecked(UncheckedEntry)
    }

    public let program: LoadedProgram
    let machine: Machine
    /// The entry program's code pointers, taken once so a frame's run touches no reference-counted object.
    let mode: Mode
    /// The entry program's native code (native engine), taken once; nil runs the interpreter. Only a verified
    /// program (one with an unchecked entry) runs natively.
    let native: NativeFunction?
    /// `--filter`: frames it does not match are passed (XDP_PASS) by `VMFrameProcessor` without running the program.
    /// Set before taking `processor`; one filter per runner (it owns a VM machine).
    public var filter: PacketFilter?
    /// Where native code reports a fault; one per runner, reused for every frame.
    let nativeFault: UnsafeMutablePointer<NativeFault>

    /// The engine this runner uses.
    public var engine: Engine { checked ? .checked : native != nil ? .native : .interpreter }

    /// A runner for the loaded program on the engine the loader chose (native code must already be compiled).
    public convenience init(
        loaded: ProgramLoader.Loaded, budget: UInt64 = RunBudget.defaultInstructions, processorID: UInt32 = 0,
        seed: UInt64 = 0x5eed
    ) {
        self.init(
            program: loaded.program, native: loaded.engine == .native, budget: budget, processorID: processorID,
            seed: seed)
    }

    /// `budget` is the per-packet instruction budget (`--budget`; see `ExecutionEnvironment.instructionBudget`).
    /// `native`: run the entry program's compiled code (see `ProgramLoader`, which compiles it); without compiled
    /// code, or on the checked path, the interpreter runs.
    public init(
        program: LoadedProgram, execution: Execution = .fastest, native: Bool = false,
        budget: UInt64 = RunBudget.defaultInstructions, processorID: UInt32 = 0, seed: UInt64 = 0x5eed
    ) {
        self.program = program
        if execution == .fastest, let entry = program.uncheckedEntry {
            mode = .unchecked(entry)
            self.native = native ? (program.executable.nativeCode as? NativeCode)?.entry : nil
        } else {
            mode = .checked(program.executable.entry)
            self.native = nil
        }
        nativeFault = .allocate(capacity: 1)
        nativeFault.initialize(to: NativeFault())
        machine = Machine()
        program.bind(to: machine)
        machine.environment.pointee.processorID = processorID
        machine.environment.pointee.possibleCPUs = UInt32(program.maps.first?.core.pointee.possibleCPUs ?? 1)
        machine.environment.pointee.randomState = RandomSeed.state(for: seed)
        machine.environment.pointee.instructionBudget = budget
    }

    /// Whether frames run with every memory access bounds-checked.
    public var checked: Bool {
        if case .checked = mode { true } else { false }
    }

    /// The per-packet instruction budget.
    public var budget: UInt64 { machine.environment.pointee.instructionBudget }

    deinit { nativeFault.deallocate() }

    /// The environment helpers see (clock, trace buffer, …).
    public var environment: UnsafeMutablePointer<ExecutionEnvironment> { machine.environment }

    /// A processor for the engine's worker loops.
    public var processor: VMFrameProcessor { VMFrameProcessor(runner: self) }

    /// Runs the program on `frame` in place. `frameEnd` is the end of usable tailroom from `frame.buffer`.
    @inline(__always)
    public func run(_ frame: inout Frame, frameEnd: Int) -> XDPRunResult {
        let env = machine.environment
        env.pointee.clockNanos = frame.timestampNanos
        env.pointee.ingressIfindex = frame.ingressIfindex
        env.pointee.rxQueueIndex = frame.rxQueueIndex
        let result: XDPRunResult
        if let native {
            result = machine.runXDPNative(
                native, buffer: frame.buffer, dataOffset: frame.dataOffset, length: frame.length,
                metaLength: frame.metaLength, frameEnd: frameEnd, fault: nativeFault)
        } else {
            switch mode {
            case .unchecked(let entry):
                result = machine.runXDP(
                    entry, buffer: frame.buffer, dataOffset: frame.dataOffset, length: frame.length,
                    metaLength: frame.metaLength, frameEnd: frameEnd)
            case .checked(let entry):
                result = machine.runXDP(
                    entry, buffer: frame.buffer, dataOffset: frame.dataOffset, length: frame.length,
                    metaLength: frame.metaLength, frameEnd: frameEnd)
            }
        }
        frame.dataOffset = result.dataOffset
        frame.length = result.length
        frame.metaLength = result.metaLength
        return result
    }

    /// Runs the program once on `r1` counting instructions, in the runner's mode (benchmarks' counting pass).
    public func runCounting(r1: UInt64) -> RunResult {
        switch mode {
        case .unchecked(let entry): machine.runCounting(entry, r1: r1)
        case .checked: machine.runCounting(program.executable, r1: r1)
        }
    }
}

extension ProgramRunner {
    /// `run`, observed instruction by instruction (bounds-checked and counting): for trace, coverage and the debugger.
    public func runObserved(
        _ frame: inout Frame, frameEnd: Int, observer: UnsafeMutablePointer<InstructionObserver>
    ) -> XDPRunResult {
        prepare(frame)
        let result = machine.runXDPObserved(
            program.executable.entry, buffer: frame.buffer, dataOffset: frame.dataOffset, length: frame.length,
            metaLength: frame.metaLength, frameEnd: frameEnd, observer: observer)
        frame.dataOffset = result.dataOffset
        frame.length = result.length
        frame.metaLength = result.metaLength
        return result
    }

    /// `run` on the checked counting interpreter, for comparing observed runs with it.
    public func runCountingChecked(_ frame: inout Frame, frameEnd: Int) -> XDPRunResult {
        prepare(frame)
        let result = machine.runXDPCountingChecked(
            program.executable.entry, buffer: frame.buffer, dataOffset: frame.dataOffset, length: frame.length,
            metaLength: frame.metaLength, frameEnd: frameEnd)
        frame.dataOffset = result.dataOffset
        frame.length = result.length
        frame.metaLength = result.metaLength
        return result
    }

    /// Runs the program once on `frame` counting instructions, in the runner's mode (the benchmarks' counting pass).
    /// The frame itself is not updated.
    public func runCounting(_ frame: Frame) -> RunResult {
        prepare(frame)
        machine.environment.pointee.setFrame(
            hardStart: frame.buffer, dataOffset: frame.dataOffset, length: frame.length, metaLength: frame.metaLength,
            frameSize: frame.bufferSize)
        return runCounting(r1: machine.contextPointer)
    }

    /// The registers as the last run left them.
    public var finalRegisters: [UInt64] { Array(UnsafeBufferPointer(start: machine.registers, count: 11)) }

    /// The context pointer programs receive in r1.
    public var contextPointer: UInt64 { machine.contextPointer }

    private func prepare(_ frame: Frame) {
        let env = machine.environment
        env.pointee.clockNanos = frame.timestampNanos
        env.pointee.ingressIfindex = frame.ingressIfindex
        env.pointee.rxQueueIndex = frame.rxQueueIndex
    }
}

/// Seeds for `bpf_get_prandom_u32`: the same seed gives the same sequence in every run.
public enum RandomSeed {
    public static func state(for seed: UInt64) -> UInt64 {
        // The first splitmix64 output of the seed; never 0 (the generator's fixed point).
        var generator = SplitMix64(seed: seed)
        let z = generator.next()
        return z == 0 ? 1 : z
    }
}

/// The engine's `FrameProcessor` for a VM program: no ARC per frame (the runner is held unowned(unsafe); the engine
/// keeps the runner alive for as long as it runs).
public struct VMFrameProcessor: FrameProcessor {
    /// The runner and the filter as unmanaged references: each frame's call reaches them at +0
    /// (`_withUnsafeGuaranteedRef`), so a run costs no retain and release (`unowned(unsafe)` still did one).
    let runnerRef: Unmanaged<ProgramRunner>
    var runner: ProgramRunner { runnerRef.takeUnretainedValue() }
    public private(set) var redirectTarget: RedirectTarget?
    /// Faults seen (checked mode, or the budget in any mode); the engine reports them as XDP_ABORTED.
    public private(set) var faults: Int = 0
    /// Runs that went past the instruction budget (also counted in `faults`), since the last `takeBudgetExceeded`.
    public private(set) var budgetExceeded: UInt64 = 0
    public private(set) var lastFault: ExecutionFault?
    /// The runner's filter (kept alive by the runner), and the frames it passed since the last `takeFiltered`.
    let filterRef: Unmanaged<PacketFilter>?
    public private(set) var filtered: UInt64 = 0

    init(runner: ProgramRunner) {
        runnerRef = Unmanaged.passUnretained(runner)
        filterRef = runner.filter.map { Unmanaged.passUnretained($0) }
    }

    /// Whether a filter is set and `frame` does not match it.
    @inline(__always)
    private func filteredOut(_ frame: Frame) -> Bool {
        guard let filterRef else { return false }
        return !filterRef._withUnsafeGuaranteedRef { $0.matches(frame) }
    }

    @inline(__always)
    private func runProgram(_ frame: inout Frame) -> XDPRunResult {
        runnerRef._withUnsafeGuaranteedRef { $0.run(&frame, frameEnd: frame.bufferSize) }
    }

    /// The run's return value (XDP_ABORTED's after a fault, XDP_PASS for a frame the filter left out); the
    /// redirect target and the fault as `verdict(for:)` records them.
    @inline(__always)
    public mutating func process(_ frame: inout Frame) -> UInt64 { verdict(for: &frame).returnValue }

    /// The pipeline's entry: one call per frame that yields everything the sink needs (the default implementation
    /// would call back for the redirect target and the fault, which costs calls across modules).
    public mutating func verdict(for frame: inout Frame) -> Verdict {
        if filteredOut(frame) {
            filtered &+= 1
            lastFault = nil
            return Verdict(action: .pass, returnValue: UInt64(XDPAction.pass.rawValue))
        }
        let result = runProgram(&frame)
        if let fault = result.fault {
            lastFault = fault
            faults &+= 1
            if fault.isBudgetExceeded { budgetExceeded &+= 1 }
            return Verdict(action: .aborted, returnValue: result.verdictValue, fault: fault)
        }
        lastFault = nil
        let action = XDPAction(returnValue: result.returnValue)
        guard action == .redirect else { return Verdict(action: action, returnValue: result.returnValue) }
        redirectTarget = result.redirectTarget
        return Verdict(action: action, returnValue: result.returnValue, redirectTarget: redirectTarget)
    }

    /// Budget overruns since the last call (the live worker folds them into its counters once per batch).
    public mutating func takeBudgetExceeded() -> UInt64 {
        defer { budgetExceeded = 0 }
        return budgetExceeded
    }

    public mutating func takeFiltered() -> UInt64 {
        defer { filtered = 0 }
        return filtered
    }
}
