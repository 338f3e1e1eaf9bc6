import BPFNative
import BPFVM

/// Runs one loaded program on frames: one per worker. Owns the VM machine (registers, stack, environment) and keeps
/// the program alive. The per-frame call goes through `VMFrameProcessor`, which holds only unmanaged references.
public final class ProgramRunner {
    public let program: LoadedProgram
    let machine: Machine
    /// The entry program's code pointers, taken once so a frame's run touches no reference-counted object.
    let entry: ProgramEntry
    /// Run every memory access bounds-checked (for unverified programs and differential tests).
    public let checked: Bool
    /// The entry program's native code (native engine), taken once; nil runs the interpreter.
    let native: NativeFunction?
    /// Where native code reports a fault; one per runner, reused for every frame.
    let nativeFault: UnsafeMutablePointer<NativeFault>

    /// The engine this runner uses.
    public var engine: Engine { checked ? .checked : native != nil ? .native : .interpreter }

    /// A runner for the loaded program on the engine the loader chose (native code must already be compiled).
    public convenience init(loaded: ProgramLoader.Loaded, processorID: UInt32 = 0, seed: UInt64 = 0x5eed) {
        self.init(
            program: loaded.program, checked: loaded.checked, native: loaded.engine == .native,
            processorID: processorID, seed: seed)
    }

    /// `native`: run the entry program's compiled code (see `ProgramLoader`, which compiles it); without compiled
    /// code the interpreter runs.
    public init(
        program: LoadedProgram, checked: Bool, native: Bool = false, processorID: UInt32 = 0, seed: UInt64 = 0x5eed
    ) {
        self.program = program
        self.checked = checked
        self.native = native && !checked ? (program.executable.nativeCode as? NativeCode)?.entry : nil
        nativeFault = .allocate(capacity: 1)
        nativeFault.initialize(to: NativeFault())
        entry = program.executable.entry
        machine = Machine()
        program.bind(to: machine)
        machine.environment.pointee.processorID = processorID
        machine.environment.pointee.possibleCPUs = UInt32(program.maps.first?.core.pointee.possibleCPUs ?? 1)
        machine.environment.pointee.randomState = RandomSeed.state(for: seed)
    }

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
        let result =
            if let native {
                machine.runXDPNative(
                    native, buffer: frame.buffer, dataOffset: frame.dataOffset, length: frame.length,
                    metaLength: frame.metaLength, frameEnd: frameEnd, fault: nativeFault)
            } else {
                machine.runXDP(
                    entry, buffer: frame.buffer, dataOffset: frame.dataOffset, length: frame.length,
                    metaLength: frame.metaLength, frameEnd: frameEnd, checked: checked)
            }
        frame.dataOffset = result.dataOffset
        frame.length = result.length
        frame.metaLength = result.metaLength
        return result
    }
}

/// Seeds for `bpf_get_prandom_u32`: the same seed gives the same sequence in every run.
public enum RandomSeed {
    public static func state(for seed: UInt64) -> UInt64 {
        // splitmix64 of the seed; never 0 (the generator's fixed point).
        var z = seed &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return z == 0 ? 1 : z
    }
}

/// The engine's `FrameProcessor` for a VM program: no ARC per frame (the runner is held unowned(unsafe); the engine
/// keeps the runner alive for as long as it runs).
public struct VMFrameProcessor: FrameProcessor {
    unowned(unsafe) let runner: ProgramRunner
    public private(set) var redirectTarget: RedirectTarget?
    /// Faults seen (checked mode); the engine reports them as XDP_ABORTED.
    public private(set) var faults: Int = 0

    init(runner: ProgramRunner) {
        self.runner = runner
    }

    @inline(__always)
    public mutating func process(_ frame: inout Frame) -> UInt64 {
        let result = runner.run(&frame, frameEnd: frame.bufferSize)
        if result.fault != nil {
            faults &+= 1
            return UInt64(XDPAction.aborted.rawValue)
        }
        switch result.redirectKind {
        case .interface: redirectTarget = .interface(ifindex: result.redirectValue)
        case .socket: redirectTarget = .socket(index: result.redirectValue)
        case .none, .cpu: redirectTarget = nil
        }
        return result.returnValue
    }
}
