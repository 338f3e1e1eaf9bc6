/// Why a run stopped before `exit`: returned as a value by the interpreter (never thrown, never a crash).
public struct ExecutionFault: Error, Hashable, Sendable, CustomStringConvertible {
    /// Index of the instruction that faulted.
    public var instructionIndex: Int
    public var kind: Kind
    /// The address involved, for memory faults.
    public var address: UInt64
    /// Access size in bytes, for memory faults.
    public var size: Int

    public enum Kind: Hashable, Sendable {
        case readOutOfBounds
        case writeOutOfBounds
        case writeToReadOnly
        case misalignedAtomic
        case callDepthExceeded
        case unknownHelper(id: UInt64)
        case invalidCallback
        case invalidInstruction
        /// The run went past its instruction budget (`ExecutionEnvironment.instructionBudget`, `--budget`): a
        /// runaway loop or `bpf_loop` nest in a verified program, or a program that never exits in checked mode.
        case instructionBudgetExceeded(budget: UInt64)
    }

    public init(instructionIndex: Int, kind: Kind, address: UInt64 = 0, size: Int = 0) {
        self.instructionIndex = instructionIndex
        self.kind = kind
        self.address = address
        self.size = size
    }

    /// Whether the run was stopped by its instruction budget.
    public var isBudgetExceeded: Bool {
        if case .instructionBudgetExceeded = kind { true } else { false }
    }

    public var description: String {
        let addr = "0x" + String(address, radix: 16)
        let what: String =
            switch kind {
            case .readOutOfBounds: "read of \(size) bytes at \(addr) outside every region the program may access"
            case .writeOutOfBounds: "write of \(size) bytes at \(addr) outside every region the program may access"
            case .writeToReadOnly: "write of \(size) bytes at \(addr) to read-only memory"
            case .misalignedAtomic: "atomic access of \(size) bytes at misaligned address \(addr)"
            case .callDepthExceeded: "call depth exceeds \(MachineState.maxFrames) frames"
            case .unknownHelper(let id): "call of unknown helper \(id)"
            case .invalidCallback: "bpf_loop callback is not a code address of this program"
            case .invalidInstruction: "executed an invalid instruction slot"
            case .instructionBudgetExceeded(let budget):
                "instruction budget of \(budget) exceeded (--budget): the packet ends as XDP_ABORTED"
            }
        return "instruction \(instructionIndex): \(what)"
    }
}

/// The result of one run.
public struct RunResult: Sendable {
    /// `r0` at `exit` (0 when the run faulted).
    public var returnValue: UInt64
    /// Set when the run stopped on a fault (checked mode, or a dynamic error any mode detects).
    public var fault: ExecutionFault?
    /// eBPF instructions executed (counted only by the counting entry points; 0 otherwise).
    public var instructionCount: UInt64

    @inlinable
    public init(returnValue: UInt64, fault: ExecutionFault? = nil, instructionCount: UInt64 = 0) {
        self.returnValue = returnValue
        self.fault = fault
        self.instructionCount = instructionCount
    }
}
