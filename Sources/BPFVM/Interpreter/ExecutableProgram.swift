/// A program translated once into the interpreter's form, ready to run many times. Owns its decoded code and the
/// `CodeHandle` that PROG_ARRAY slots point at.
public final class ExecutableProgram: @unchecked Sendable {
    /// The instructions as loaded (after relocation), for messages and disassembly.
    public let instructions: [Instruction]
    let code: UnsafeMutablePointer<DecodedInstruction>
    let fastCode: UnsafeMutablePointer<DecodedInstruction>
    let handleStorage: UnsafeMutablePointer<CodeHandle>
    /// `fastCode` as direct-threaded code (see ThreadedCode.swift), or nil where the platform has no threaded dispatch.
    let threadedCode: UnsafeMutableRawPointer?
    /// Native code (see NativeHooks.swift); set once, before runs, by the native compiler under its lock.
    var nativeOwner: AnyObject?

    /// Translates `instructions`. `context` resolves helpers, maps and externs; context loads are found by
    /// `ContextAnalysis` unless the context already lists them (the verifier's rewrite).
    public init(instructions: [Instruction], context: TranslationContext, analyseContext: Bool = true)
        throws(ProgramError)
    {
        var context = context
        if analyseContext && context.contextLoads.isEmpty {
            context.contextLoads = try ContextAnalysis.contextLoads(in: instructions)
        }
        let decoded = try Translator.translate(instructions, context: context)
        self.instructions = instructions
        code = .allocate(capacity: decoded.count)
        code.initialize(from: decoded, count: decoded.count)
        let fused = Superinstructions.fuse(BackEdges.mark(decoded))
        fastCode = .allocate(capacity: fused.count)
        fastCode.initialize(from: fused, count: fused.count)
        #if arch(x86_64) || arch(arm64)
        let threaded = ThreadedCode.build(from: fused, fastCode: UnsafePointer(fastCode))
        let threadedStorage = UnsafeMutablePointer<ThreadedInstruction>.allocate(capacity: max(threaded.count, 1))
        threadedStorage.initialize(from: threaded, count: threaded.count)
        threadedCode = UnsafeMutableRawPointer(threadedStorage)
        #else
        threadedCode = nil
        #endif
        handleStorage = .allocate(capacity: 1)
        handleStorage.initialize(
            to: CodeHandle(
                code: UnsafePointer(code), fastCode: UnsafePointer(fastCode),
                threadedCode: threadedCode.map { UnsafeRawPointer($0) }, count: decoded.count))
    }

    deinit {
        code.deallocate()
        fastCode.deallocate()
        threadedCode?.deallocate()
        handleStorage.deallocate()
    }

    /// What a PROG_ARRAY slot holds for this program. Valid while the program is alive.
    public var codeHandle: UnsafePointer<CodeHandle> { UnsafePointer(handleStorage) }

    /// The decoded form, for tests and the disassembler's `--decoded` view.
    public var decoded: [DecodedInstruction] { Array(UnsafeBufferPointer(start: code, count: instructions.count)) }
}

/// Runs programs: one per worker, owning the registers, stack and environment it reuses for every run.
public struct Machine: ~Copyable {
    let state: MachineState
    /// The environment helpers see. Stable for the machine's lifetime; the engine sets the frame, clock and tables.
    public let environment: UnsafeMutablePointer<ExecutionEnvironment>

    public init() {
        state = MachineState()
        environment = .allocate(capacity: 1)
        environment.initialize(to: ExecutionEnvironment())
    }

    deinit {
        environment.deinitialize(count: 1)
        environment.deallocate()
    }

    /// The value a program receives in r1 as its context pointer. Context loads are rewritten, so it is never
    /// dereferenced by the program; helpers get the environment instead.
    public var contextPointer: UInt64 { UInt64(UInt(bitPattern: environment)) }

    /// Runs `program` from its first instruction with r1, r2 as given (the conformance calling convention), without
    /// bounds checks. Internal: outside BPFVM only a verified program's `UncheckedEntry` runs unchecked (tests reach
    /// this through `@testable import`, the conformance runner runs the suite's cases with it).
    @inlinable
    func run(_ program: borrowing ExecutableProgram, r1: UInt64, r2: UInt64 = 0) -> RunResult {
        run(program.uncheckedEntry, r1: r1, r2: r2)
    }

    /// Runs with every memory access bounds-checked against the stack, the frame (data_meta..data_end) and the
    /// regions in the environment; a bad access stops the run with a fault.
    @inlinable
    public func runChecked(_ program: borrowing ExecutableProgram, r1: UInt64, r2: UInt64 = 0) -> RunResult {
        runChecked(program.entry, r1: r1, r2: r2)
    }

    /// Runs checked from an entry point taken once from the program (`ExecutableProgram.entry`): the per-packet
    /// form, with no reference to the program object and so no reference counting. The program must outlive the
    /// call.
    @inlinable
    public func runChecked(_ entry: ProgramEntry, r1: UInt64, r2: UInt64 = 0) -> RunResult {
        runChecked(entry.code, r1, r2)
    }

    /// Runs without bounds checks from a verified program's entry point (`LoadedProgram.uncheckedEntry`). The
    /// instruction budget is charged at back edges and `bpf_loop` passes only.
    @inlinable
    public func run(_ entry: UncheckedEntry, r1: UInt64, r2: UInt64 = 0) -> RunResult {
        runUnchecked(entry.fastCode, threaded: entry.threaded, r1, r2)
    }

    /// Like `run`/`runChecked`, counting executed instructions (slower; for benchmarks and statistics).
    /// Internal (tests): the unchecked form of it is only public for an `UncheckedEntry`.
    func runCounting(_ program: borrowing ExecutableProgram, r1: UInt64, r2: UInt64 = 0, checked: Bool)
        -> RunResult
    {
        checked
            ? interpret(CountingCheckedAccess.self, entry: program.codeEntry, arguments: r1, r2, state: state, env: environment)
            : interpret(CountingUncheckedAccess.self, entry: program.codeEntry, arguments: r1, r2, state: state, env: environment)
    }

    /// Runs checked, counting executed instructions (the budget applies per instruction).
    public func runCounting(_ program: borrowing ExecutableProgram, r1: UInt64, r2: UInt64 = 0) -> RunResult {
        interpret(CountingCheckedAccess.self, entry: program.codeEntry, arguments: r1, r2, state: state, env: environment)
    }

    /// Runs a verified program without bounds checks, counting executed instructions.
    public func runCounting(_ entry: UncheckedEntry, r1: UInt64, r2: UInt64 = 0) -> RunResult {
        interpret(CountingUncheckedAccess.self, entry: entry.code, arguments: r1, r2, state: state, env: environment)
    }

    /// Runs the threaded code while it can, and the `switch` interpreter from where it bailed out (`bpf_loop`,
    /// `callx`, invalid slots, calls beyond the frame limit), or only the `switch` where there is no threaded code.
    @usableFromInline
    func runUnchecked(
        _ entry: UnsafePointer<DecodedInstruction>, threaded: UnsafeRawPointer?, _ r1: UInt64, _ r2: UInt64
    ) -> RunResult {
        environment.pointee.budgetRemaining = Int64(clamping: environment.pointee.instructionBudget)
        #if arch(x86_64) || arch(arm64)
        if let threaded {
            let reg = state.registers
            reg[0] = 0
            reg[1] = r1
            reg[2] = r2
            reg[10] = UInt64(UInt(bitPattern: state.stackTop))
            guard
                let resume = runThreaded(
                    threaded.assumingMemoryBound(to: ThreadedInstruction.self), registers: reg, env: environment,
                    frames: state.frames)
            else {
                if let stop = environment.pointee.budgetStoppedAt { return budgetFault(at: stop, threaded: threaded) }
                return RunResult(returnValue: reg[0], instructionCount: 0)
            }
            return interpret(
                UncheckedAccess.self, entry: resume.code, arguments: r1, r2, state: state, env: environment,
                resumingAt: resume.index, depth: resume.depth)
        }
        #endif
        return interpret(UncheckedAccess.self, entry: entry, arguments: r1, r2, state: state, env: environment)
    }

    #if arch(x86_64) || arch(arm64)
    /// The fault of a threaded run that stopped at the back edge `stop` for want of budget. The slot's index is known
    /// when the stop is in the entry program's code (a tail call may have moved the run elsewhere).
    @usableFromInline
    func budgetFault(at stop: UnsafeRawPointer, threaded: UnsafeRawPointer) -> RunResult {
        environment.pointee.budgetStoppedAt = nil
        let distance = stop - threaded
        let index = distance >= 0 ? distance / ThreadedInstruction.stride : -1
        return RunResult(
            returnValue: 0,
            fault: ExecutionFault(
                instructionIndex: index, kind: .instructionBudgetExceeded(budget: environment.pointee.instructionBudget)))
    }
    #endif

    @usableFromInline
    func runChecked(_ entry: UnsafePointer<DecodedInstruction>, _ r1: UInt64, _ r2: UInt64) -> RunResult {
        interpret(CheckedAccess.self, entry: entry, arguments: r1, r2, state: state, env: environment)
    }
}

extension ExecutableProgram {
    /// The program's checked entry point as a plain pointer, for per-packet calls (`Machine.runChecked(_:r1:r2:)`).
    public var entry: ProgramEntry { ProgramEntry(code: codeEntry) }

    /// The unchecked entry points. Internal: `LoadedProgram(verified:)` hands them out for verified programs only.
    @usableFromInline var uncheckedEntry: UncheckedEntry {
        UncheckedEntry(code: codeEntry, fastCode: fastCodeEntry, threaded: threadedEntry)
    }

    /// For benchmarks of the interpreter itself on code the verifier does not model (the micro-benchmark's
    /// conformance-style program): the caller vouches for the program's safety, explicitly, through the SPI.
    @_spi(Unverified) public var uncheckedEntryAssumingSafe: UncheckedEntry { uncheckedEntry }

    @usableFromInline var codeEntry: UnsafePointer<DecodedInstruction> { UnsafePointer(code) }
    @usableFromInline var fastCodeEntry: UnsafePointer<DecodedInstruction> { UnsafePointer(fastCode) }
    @usableFromInline var threadedEntry: UnsafeRawPointer? { threadedCode.map { UnsafeRawPointer($0) } }
}

/// Where a program's plain decoded code starts: checked (and counting) runs. Valid while the `ExecutableProgram` is
/// alive.
@frozen
public struct ProgramEntry: @unchecked Sendable {
    public let code: UnsafePointer<DecodedInstruction>

    @usableFromInline
    init(code: UnsafePointer<DecodedInstruction>) { self.code = code }
}

/// Where a verified program's unchecked code starts: with superinstructions, and direct-threaded where the platform
/// has it. Nothing outside BPFVM can make one except `LoadedProgram(verified:)`, so running an unverified program
/// without bounds checks does not compile. Valid while the program is alive.
@frozen
public struct UncheckedEntry: @unchecked Sendable {
    /// The plain code, for counting runs.
    @usableFromInline let code: UnsafePointer<DecodedInstruction>
    @usableFromInline let fastCode: UnsafePointer<DecodedInstruction>
    @usableFromInline let threaded: UnsafeRawPointer?

    @usableFromInline
    init(code: UnsafePointer<DecodedInstruction>, fastCode: UnsafePointer<DecodedInstruction>, threaded: UnsafeRawPointer?) {
        self.code = code
        self.fastCode = fastCode
        self.threaded = threaded
    }
}
