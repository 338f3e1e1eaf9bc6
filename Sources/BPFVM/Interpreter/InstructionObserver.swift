/// One instruction about to run in an observed run (`Machine.runObserved`).
public struct ObservedStep {
    /// The start of the decoded code being run: the entry program's or a tail-call target's
    /// (`ProgramEntry.code`). Plain decoded code has one slot per instruction, so `index` is the instruction's index
    /// in that program as loaded.
    public var code: UnsafeRawPointer
    public var index: Int
    /// BPF-to-BPF call depth (0 in the entry function; `bpf_loop` callbacks count as calls).
    public var depth: Int
    /// r0…r10 before the instruction runs.
    public var registers: UnsafePointer<UInt64>
}

/// What an observed run calls before every instruction. Tracing, coverage and the debugger are built on it; the
/// unchecked and checked engines never call it (their `AccessPolicy` compiles the call out).
public struct InstructionObserver {
    public var willExecute: (ObservedStep) -> Void
    public init(willExecute: @escaping (ObservedStep) -> Void) { self.willExecute = willExecute }
}

extension Machine {
    /// Runs `entry`'s plain code bounds-checked and counting, calling `observer` before every instruction. Slow by
    /// design; the result (return value, fault, instruction count) is the checked counting interpreter's.
    public func runObserved(
        _ entry: ProgramEntry, r1: UInt64, r2: UInt64 = 0, observer: UnsafeMutablePointer<InstructionObserver>
    ) -> RunResult {
        interpret(
            ObservedAccess.self, entry: entry.code, arguments: r1, r2, state: state, env: environment,
            observer: observer)
    }

    /// The registers as the last run left them (r0…r10), e.g. to compare engines.
    public var registers: UnsafePointer<UInt64> { UnsafePointer(state.registers) }

    /// Runs an XDP program on a frame as `runXDP` does, observed (see `runObserved`).
    public func runXDPObserved(
        _ entry: ProgramEntry, buffer: UnsafeMutableRawPointer, dataOffset: Int, length: Int, metaLength: Int,
        frameEnd: Int, observer: UnsafeMutablePointer<InstructionObserver>
    ) -> XDPRunResult {
        let env = environment
        env.pointee.setFrame(
            hardStart: buffer, dataOffset: dataOffset, length: length, metaLength: metaLength, frameSize: frameEnd)
        let result = runObserved(entry, r1: contextPointer, observer: observer)
        let data = env.pointee.data.unsafelyUnwrapped
        return XDPRunResult(
            returnValue: result.returnValue, fault: result.fault, dataOffset: data - buffer,
            length: env.pointee.dataEnd.unsafelyUnwrapped - data,
            metaLength: data - env.pointee.dataMeta.unsafelyUnwrapped,
            redirectKind: env.pointee.redirectKind, redirectValue: env.pointee.redirectValue,
            instructionCount: result.instructionCount)
    }

    /// Like `runCounting`, from entry points and on an XDP frame, for comparing with observed runs.
    public func runXDPCountingChecked(
        _ entry: ProgramEntry, buffer: UnsafeMutableRawPointer, dataOffset: Int, length: Int, metaLength: Int,
        frameEnd: Int
    ) -> XDPRunResult {
        let env = environment
        env.pointee.setFrame(
            hardStart: buffer, dataOffset: dataOffset, length: length, metaLength: metaLength, frameSize: frameEnd)
        let result = interpret(
            CountingCheckedAccess.self, entry: entry.code, arguments: contextPointer, 0, state: state, env: env)
        let data = env.pointee.data.unsafelyUnwrapped
        return XDPRunResult(
            returnValue: result.returnValue, fault: result.fault, dataOffset: data - buffer,
            length: env.pointee.dataEnd.unsafelyUnwrapped - data,
            metaLength: data - env.pointee.dataMeta.unsafelyUnwrapped,
            redirectKind: env.pointee.redirectKind, redirectValue: env.pointee.redirectValue,
            instructionCount: result.instructionCount)
    }
}
