/// Registers, stack and call frames of one running program, allocated once per worker and reused for every run.
///
/// The stack gives each of the 8 possible frames 512 bytes (the verifier enforces the kernel's combined limit).
/// It is not cleared between runs: the verifier proves no byte is read before it is written.
public struct MachineState: ~Copyable {
    public static let maxFrames = 8
    public static let frameStackSize = 512
    public static let stackSize = maxFrames * frameStackSize

    let registers: UnsafeMutablePointer<UInt64>
    let stack: UnsafeMutableRawPointer
    let frames: UnsafeMutablePointer<CallFrame>

    public init() {
        registers = .allocate(capacity: 16)
        registers.initialize(repeating: 0, count: 16)
        stack = .allocate(byteCount: MachineState.stackSize, alignment: 16)
        stack.initializeMemory(as: UInt8.self, repeating: 0, count: MachineState.stackSize)
        frames = .allocate(capacity: MachineState.maxFrames)
        frames.initialize(repeating: CallFrame(), count: MachineState.maxFrames)
    }

    deinit {
        registers.deallocate()
        stack.deallocate()
        frames.deallocate()
    }

    /// The top of frame 0's stack (`r10` at entry).
    var stackTop: UnsafeMutableRawPointer { stack + MachineState.stackSize }

    /// The stack bytes, for checked-mode bounds.
    var stackRange: Range<UInt> {
        let base = UInt(bitPattern: stack)
        return base..<(base + UInt(MachineState.stackSize))
    }
}

/// What a BPF-to-BPF call (or a `bpf_loop` callback) must restore on `exit`.
struct CallFrame {
    var returnIndex: Int = 0
    var code: UnsafePointer<DecodedInstruction>? = nil
    var r6: UInt64 = 0, r7: UInt64 = 0, r8: UInt64 = 0, r9: UInt64 = 0, r10: UInt64 = 0
    /// For `bpf_loop` frames: the callback to re-enter, the iteration, the bound and the context argument.
    var isLoop = false
    var loopCallback: Int = 0
    var loopIndex: UInt64 = 0
    var loopCount: UInt64 = 0
    var loopContext: UInt64 = 0
    /// For calls made by threaded code: the threaded instruction to return to (`returnIndex` and `code` are kept too,
    /// for the `switch` interpreter if it takes over inside the callee).
    var threadedReturn: UnsafeRawPointer? = nil
}

/// A program's decoded code, as PROG_ARRAY slots and the tail-call instruction refer to it.
@frozen
public struct CodeHandle {
    /// Plain decoded code (checked and counting runs).
    public var code: UnsafePointer<DecodedInstruction>
    /// The same with superinstructions (unchecked runs).
    public var fastCode: UnsafePointer<DecodedInstruction>
    /// The same as direct-threaded code (unchecked runs), nil where the platform has none.
    public var threadedCode: UnsafeRawPointer?
    public var count: Int
    /// The program's native entry (BPFNative), once compiled: what a native tail call jumps to.
    public var native: UnsafeRawPointer? = nil
}
