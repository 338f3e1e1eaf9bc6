/// What the verifier knows about one 8-byte stack slot: each byte's kind and, for a full 8-byte spill, the register
/// that was stored (so its type survives the round trip through memory).
struct StackSlot: Hashable, Sendable {
    /// 2 bits per byte (byte 0 = lowest address): see `ByteKind`.
    var kinds: UInt16 = 0
    var spill: RegisterState? = nil
    /// Where the spill starts in the slot and how many bytes it has: 8 for a register, 1/2/4 for a narrow store of
    /// a scalar that fits (clang spills 32-bit values with `stxw`).
    var spillPosition: UInt8 = 0
    var spillSize: UInt8 = 8

    enum ByteKind: UInt16 {
        /// Never written on this path: reading it is an error.
        case invalid = 0
        /// Initialised, value unknown.
        case misc = 1
        /// Known to be zero.
        case zero = 2
        /// Part of the spilled register in `spill`.
        case spill = 3
    }

    static let empty = StackSlot()

    func kind(at byte: Int) -> ByteKind { ByteKind(rawValue: (kinds >> UInt16(byte * 2)) & 3)! }
    mutating func setKind(_ kind: ByteKind, at byte: Int) {
        kinds = (kinds & ~(3 << UInt16(byte * 2))) | (kind.rawValue << UInt16(byte * 2))
    }
    var isFullSpill: Bool { kinds == 0xffff && spill != nil && spillSize == 8 }

    /// Destroys a spill (its bytes stay initialised as unknown data).
    mutating func breakSpill() {
        guard spill != nil else { return }
        for byte in 0..<8 where kind(at: byte) == .spill { setKind(.misc, at: byte) }
        spill = nil
        spillPosition = 0
        spillSize = 8
    }
}

/// One call frame: registers and the frame's stack.
struct FrameState: Hashable, Sendable {
    var registers: [RegisterState]
    /// Slot `i` covers bytes `[-8(i+1), -8i)` from the frame pointer; missing slots are uninitialised.
    var slots: [StackSlot] = []
    /// The `call` (or `bpf_loop` call) that created the frame; -1 for the entry frame.
    var callSite: Int32
    /// The sub-program entry.
    var subprogram: Int32
    /// A `bpf_loop` callback frame: its r0 must be 0 or 1 and it returns into the helper call.
    var isLoopCallback = false
    /// Loop callbacks: outstanding references when the callback started (it must release what it acquires).
    var referencesAtEntry: Int32 = 0
    /// Loop callbacks: the caller frames' slots at entry (after forgetting scalar values), joined into the caller on
    /// return because the callback may run any number of times, including zero.
    var callerSlotsAtEntry: [[StackSlot]]? = nil

    init(frameIndex: Int, callSite: Int32, subprogram: Int32) {
        registers = Array(repeating: .notInitialised, count: 11)
        registers[10] = .pointer(.stack, target: Int32(frameIndex))
        self.callSite = callSite
        self.subprogram = subprogram
    }

    func slot(_ index: Int) -> StackSlot { index < slots.count ? slots[index] : .empty }
    mutating func withSlot(_ index: Int, _ body: (inout StackSlot) -> Void) {
        if index >= slots.count { slots.append(contentsOf: repeatElement(.empty, count: index + 1 - slots.count)) }
        body(&slots[index])
    }
}

/// An outstanding reference (a ring buffer reservation not yet submitted or discarded).
struct Reference: Hashable, Sendable {
    var id: UInt32
    var acquiredAt: Int32
}

/// The verifier's state on one path: the call frames and the references held.
struct AbstractState: Hashable, Sendable {
    var frames: [FrameState]
    var references: [Reference] = []

    var top: Int { frames.count - 1 }

    subscript(register r: Int) -> RegisterState {
        get { frames[frames.count - 1].registers[r] }
        set { frames[frames.count - 1].registers[r] = newValue }
    }

    /// Applies `body` to every register and spilled register of every frame.
    mutating func forEachRegister(_ body: (inout RegisterState) -> Void) {
        for f in frames.indices {
            for r in 0..<11 { body(&frames[f].registers[r]) }
            for s in frames[f].slots.indices where frames[f].slots[s].spill != nil {
                body(&frames[f].slots[s].spill!)
            }
        }
    }
}
