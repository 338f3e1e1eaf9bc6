/// One 64-bit eBPF instruction slot, as RFC 9669 §3 encodes it.
///
/// `lddw` (a 64-bit immediate load) takes two slots; the second slot holds the upper 32 bits of the immediate in its
/// `imm` field and zeros elsewhere. Programs are arrays of slots so that instruction indices (used by jumps, the
/// verifier's messages and BTF line info) are the kernel's indices.
public struct Instruction: Hashable, Sendable {
    /// The opcode byte: class in the low 3 bits, then source/size/mode and operation bits.
    public var opcode: UInt8
    /// Destination register number (0…10 are valid).
    public var dst: UInt8
    /// Source register number, or the pseudo-source kind of `lddw` / `call`.
    public var src: UInt8
    /// Signed 16-bit offset: jump distance, memory offset, or a variant selector (`sdiv`, `movsx`).
    public var offset: Int16
    /// Signed 32-bit immediate.
    public var imm: Int32

    @inlinable
    public init(opcode: UInt8, dst: UInt8 = 0, src: UInt8 = 0, offset: Int16 = 0, imm: Int32 = 0) {
        self.opcode = opcode
        self.dst = dst
        self.src = src
        self.offset = offset
        self.imm = imm
    }

    /// Decodes the little-endian encoding read as a `UInt64` (opcode in the low byte, imm in the high half).
    @inlinable
    public init(raw: UInt64) {
        opcode = UInt8(truncatingIfNeeded: raw)
        let regs = UInt8(truncatingIfNeeded: raw >> 8)
        dst = regs & 0x0f
        src = regs >> 4
        offset = Int16(truncatingIfNeeded: raw >> 16)
        imm = Int32(truncatingIfNeeded: raw >> 32)
    }

    /// The encoding read as a little-endian `UInt64`.
    @inlinable
    public var raw: UInt64 {
        UInt64(opcode) | UInt64((dst & 0x0f) | (src << 4)) << 8 | UInt64(UInt16(bitPattern: offset)) << 16
            | UInt64(UInt32(bitPattern: imm)) << 32
    }

    /// Decodes slots from little-endian bytes (an ELF section or a file). Trailing bytes that do not fill a slot are
    /// an error for the caller to report; this returns only whole slots.
    public static func decode(littleEndianBytes bytes: some Collection<UInt8>) -> [Instruction] {
        var result: [Instruction] = []
        result.reserveCapacity(bytes.count / 8)
        var word: UInt64 = 0
        var shift: UInt64 = 0
        for byte in bytes {
            word |= UInt64(byte) << shift
            shift += 8
            if shift == 64 {
                result.append(Instruction(raw: word))
                word = 0
                shift = 0
            }
        }
        return result
    }

    /// Encodes slots as little-endian bytes.
    public static func encode(_ program: [Instruction]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(program.count * 8)
        for insn in program {
            var word = insn.raw
            for _ in 0..<8 {
                bytes.append(UInt8(truncatingIfNeeded: word))
                word >>= 8
            }
        }
        return bytes
    }

    @inlinable public var instructionClass: InstructionClass { InstructionClass(rawValue: opcode & 0x07)! }
}

/// The low three opcode bits (RFC 9669 §3.3).
public enum InstructionClass: UInt8, Sendable, CaseIterable {
    /// Non-standard load operations (`lddw`, legacy packet access).
    case ld = 0x00
    /// Load into register.
    case ldx = 0x01
    /// Store from immediate.
    case st = 0x02
    /// Store from register (and atomics).
    case stx = 0x03
    /// 32-bit arithmetic.
    case alu = 0x04
    /// 64-bit jumps, calls, exit.
    case jmp = 0x05
    /// 32-bit jumps.
    case jmp32 = 0x06
    /// 64-bit arithmetic.
    case alu64 = 0x07
}

/// Where the second operand of an ALU or jump instruction comes from (opcode bit 0x08).
public enum OperandSource: UInt8, Sendable {
    /// `BPF_K`: the 32-bit immediate, sign-extended.
    case immediate = 0x00
    /// `BPF_X`: the source register.
    case register = 0x08
}

/// Operand width of an ALU or jump operation.
public enum OperandWidth: Int, Sendable {
    case bits32 = 32
    case bits64 = 64
}

/// ALU operation codes, opcode bits 4–7 (`BPF_ADD` … `BPF_END`).
public enum ALUOperation: UInt8, Sendable, CaseIterable {
    case add = 0x00, sub = 0x10, mul = 0x20, div = 0x30, or = 0x40, and = 0x50, lsh = 0x60, rsh = 0x70
    case neg = 0x80, mod = 0x90, xor = 0xa0, mov = 0xb0, arsh = 0xc0, end = 0xd0
}

/// Jump operation codes, opcode bits 4–7 (`BPF_JA` … `BPF_JSLE`).
public enum JumpOperation: UInt8, Sendable, CaseIterable {
    case ja = 0x00, jeq = 0x10, jgt = 0x20, jge = 0x30, jset = 0x40, jne = 0x50, jsgt = 0x60, jsge = 0x70
    case call = 0x80, exit = 0x90, jlt = 0xa0, jle = 0xb0, jslt = 0xc0, jsle = 0xd0
}

/// Memory access size, opcode bits 3–4 (`BPF_W`, `BPF_H`, `BPF_B`, `BPF_DW`).
public enum AccessSize: UInt8, Sendable, CaseIterable {
    case word = 0x00, half = 0x08, byte = 0x10, double = 0x18

    @inlinable public var byteCount: Int {
        switch self {
        case .byte: 1
        case .half: 2
        case .word: 4
        case .double: 8
        }
    }

    public init?(byteCount: Int) {
        switch byteCount {
        case 1: self = .byte
        case 2: self = .half
        case 4: self = .word
        case 8: self = .double
        default: return nil
        }
    }
}

/// Memory access mode, opcode bits 5–7 (`BPF_IMM`, `BPF_ABS`, `BPF_IND`, `BPF_MEM`, `BPF_MEMSX`, `BPF_ATOMIC`).
public enum AccessMode: UInt8, Sendable {
    case immediate = 0x00, absolute = 0x20, indirect = 0x40, memory = 0x60, memorySignExtend = 0x80, atomic = 0xc0
}

/// Atomic operations, carried in the immediate of `BPF_ATOMIC` stores (RFC 9669 §5.3).
public enum AtomicOperation: Int32, Sendable, CaseIterable {
    case add = 0x00, or = 0x40, and = 0x50, xor = 0xa0
    /// Always fetches (`BPF_XCHG` = 0xe0 | `BPF_FETCH`).
    case xchg = 0xe0
    /// Always fetches; compares with r0 (`BPF_CMPXCHG` = 0xf0 | `BPF_FETCH`).
    case cmpxchg = 0xf0

    /// The `BPF_FETCH` flag.
    public static let fetchFlag: Int32 = 0x01
}

/// Byte-order conversions (`BPF_END`).
public enum ByteOrderConversion: Sendable, Hashable {
    /// `le16/32/64` (`BPF_TO_LE`, ALU class): truncate on little-endian hosts.
    case toLittleEndian
    /// `be16/32/64` (`BPF_TO_BE`, ALU class).
    case toBigEndian
    /// `bswap16/32/64` (ALU64 class): unconditional swap.
    case swap
}

/// Pseudo-source kinds of `lddw` (the `src` field), RFC 9669 §5.4.
public enum LoadImmediateKind: UInt8, Sendable, CaseIterable {
    /// A plain 64-bit immediate.
    case immediate = 0
    /// `BPF_PSEUDO_MAP_FD`: map by file descriptor → map pointer.
    case mapByFD = 1
    /// `BPF_PSEUDO_MAP_VALUE`: map by fd, plus offset into its value → value pointer.
    case mapValueByFD = 2
    /// `BPF_PSEUDO_BTF_ID`: address of a kernel variable.
    case variableAddress = 3
    /// `BPF_PSEUDO_FUNC`: code address (relative instruction offset) → callback pointer.
    case codeAddress = 4
    /// `BPF_PSEUDO_MAP_IDX`: map by index → map pointer.
    case mapByIndex = 5
    /// `BPF_PSEUDO_MAP_IDX_VALUE`: map by index, plus offset → value pointer.
    case mapValueByIndex = 6
}

/// Kinds of `call` (the `src` field of `JMP|CALL|K`).
public enum CallKind: UInt8, Sendable {
    /// A helper by its kernel id (`imm`).
    case helper = 0
    /// A BPF-to-BPF call; `imm` is the pc-relative distance (`BPF_PSEUDO_CALL`).
    case local = 1
    /// A kfunc by BTF id (`BPF_PSEUDO_KFUNC_CALL`).
    case kfunc = 2
}
