/// What an instruction does, decoded from its opcode, offset and source fields.
///
/// This is the one table of the instruction set: the assembler, disassembler, translator (pre-decoding for the
/// interpreter) and verifier all classify instructions through `Operation(decoding:)`, so an opcode is either known to
/// all of them with the same meaning or refused by all of them with the same message.
public enum Operation: Hashable, Sendable {
    /// ALU operation (`add`, `sub`, …, `mov`, `arsh`), including the signed variants selected by `offset`.
    case alu(ALUKind, OperandWidth, OperandSource)
    /// `neg` / `neg32`.
    case neg(OperandWidth)
    /// Sign-extending move from a narrower source (`movsx`): `from` bits into `width`.
    case movsx(from: Int, OperandWidth)
    /// `le`/`be`/`bswap` of 16, 32 or 64 bits.
    case byteOrder(ByteOrderConversion, bits: Int)
    /// `ldx` (zero-extending) or `ldxs` (sign-extending) from `[src + off]`.
    case load(AccessSize, signExtend: Bool)
    /// `st` (immediate) or `stx` (register) to `[dst + off]`.
    case store(AccessSize, OperandSource)
    /// Atomic read-modify-write on `[dst + off]` with `src` (word or double word).
    case atomic(AtomicOperation, fetch: Bool, AccessSize)
    /// `lddw` (two slots) with its pseudo-source kind.
    case loadImmediate64(LoadImmediateKind)
    /// Legacy packet access (`ldabs`/`ldind`), which Sluice does not execute.
    case legacyPacketLoad(AccessSize, indirect: Bool)
    /// `ja +off` (16-bit offset) or `ja32`/`gotol` (32-bit offset in `imm`).
    case jumpAlways(longOffset: Bool)
    /// Conditional jump.
    case jump(JumpCondition, OperandWidth, OperandSource)
    /// `call` of a helper, a local function or a kfunc.
    case call(CallKind)
    /// `callx`: call the helper whose id is in register `dst`.
    case callRegister
    /// `exit`.
    case exit
}

/// ALU operations after the `offset` selector has been applied (signed division and modulo are their own kinds).
public enum ALUKind: String, Sendable, CaseIterable {
    case add, sub, mul, div, sdiv, or, and, lsh, rsh, mod, smod, xor, mov, arsh
}

/// Conditions of conditional jumps.
public enum JumpCondition: String, Sendable, CaseIterable {
    case jeq, jgt, jge, jset, jne, jsgt, jsge, jlt, jle, jslt, jsle
}

extension JumpCondition {
    /// The opcode bits of this condition.
    public var operation: JumpOperation {
        switch self {
        case .jeq: .jeq
        case .jgt: .jgt
        case .jge: .jge
        case .jset: .jset
        case .jne: .jne
        case .jsgt: .jsgt
        case .jsge: .jsge
        case .jlt: .jlt
        case .jle: .jle
        case .jslt: .jslt
        case .jsle: .jsle
        }
    }

    /// The condition a jump operation tests; nil for `ja`, `call` and `exit`.
    public init?(_ operation: JumpOperation) {
        guard let condition = JumpCondition.allCases.first(where: { $0.operation == operation }) else { return nil }
        self = condition
    }
}

/// Why an instruction could not be classified.
public struct InvalidInstruction: Error, Hashable, Sendable, CustomStringConvertible {
    public var opcode: UInt8
    public var reason: String
    public var description: String { "invalid instruction (opcode 0x\(String(opcode, radix: 16))): \(reason)" }
}

extension Operation {
    /// Classifies an instruction, or says precisely what is wrong with its encoding.
    ///
    /// Register numbers are checked (0…10; `r10` is writable only as a store base, which the verifier enforces),
    /// and so are the reserved fields RFC 9669 requires to be zero.
    public init(decoding insn: Instruction) throws(InvalidInstruction) {
        func invalid(_ reason: String) -> InvalidInstruction { InvalidInstruction(opcode: insn.opcode, reason: reason) }
        guard insn.dst <= 10 else { throw invalid("destination register r\(insn.dst) does not exist") }
        guard insn.src <= 10 || insn.opcode == 0x18 else { throw invalid("source register r\(insn.src) does not exist") }
        let opcode = insn.opcode
        switch insn.instructionClass {
        case .alu, .alu64:
            let width: OperandWidth = insn.instructionClass == .alu64 ? .bits64 : .bits32
            let source = OperandSource(rawValue: opcode & 0x08)!
            guard let op = ALUOperation(rawValue: opcode & 0xf0) else { throw invalid("unknown ALU operation") }
            switch op {
            case .neg:
                guard source == .immediate else { throw invalid("neg takes no source operand") }
                self = .neg(width)
            case .end:
                guard [16, 32, 64].contains(insn.imm) else { throw invalid("byte swap width \(insn.imm) is not 16, 32 or 64") }
                if width == .bits64 {
                    guard source == .immediate else { throw invalid("bswap has no register-source form") }
                    self = .byteOrder(.swap, bits: Int(insn.imm))
                } else {
                    self = .byteOrder(source == .register ? .toBigEndian : .toLittleEndian, bits: Int(insn.imm))
                }
            case .div, .mod:
                guard insn.offset == 0 || insn.offset == 1 else { throw invalid("offset \(insn.offset) selects no division") }
                let signed = insn.offset == 1
                let kind: ALUKind = op == .div ? (signed ? .sdiv : .div) : (signed ? .smod : .mod)
                self = .alu(kind, width, source)
            case .mov:
                if insn.offset == 0 {
                    self = .alu(.mov, width, source)
                } else {
                    guard source == .register else { throw invalid("movsx needs a register source") }
                    let bits = Int(insn.offset)
                    guard bits == 8 || bits == 16 || (bits == 32 && width == .bits64) else {
                        throw invalid("movsx from \(bits) bits is not defined for \(width.rawValue)-bit moves")
                    }
                    self = .movsx(from: bits, width)
                }
            default:
                guard insn.offset == 0 else { throw invalid("ALU operation with non-zero offset \(insn.offset)") }
                let kind: ALUKind =
                    switch op {
                    case .add: .add
                    case .sub: .sub
                    case .mul: .mul
                    case .or: .or
                    case .and: .and
                    case .lsh: .lsh
                    case .rsh: .rsh
                    case .xor: .xor
                    case .arsh: .arsh
                    default: .mov  // unreachable: handled above
                    }
                self = .alu(kind, width, source)
            }
        case .jmp, .jmp32:
            let width: OperandWidth = insn.instructionClass == .jmp ? .bits64 : .bits32
            let source = OperandSource(rawValue: opcode & 0x08)!
            guard let op = JumpOperation(rawValue: opcode & 0xf0) else { throw invalid("unknown jump operation") }
            switch op {
            case .ja:
                guard source == .immediate else { throw invalid("ja has no register form") }
                self = .jumpAlways(longOffset: width == .bits32)
            case .call:
                guard width == .bits64 else { throw invalid("call is not a JMP32 instruction") }
                if source == .register {
                    self = .callRegister
                } else {
                    guard let kind = CallKind(rawValue: insn.src) else {
                        throw invalid("call with unknown source kind \(insn.src)")
                    }
                    self = .call(kind)
                }
            case .exit:
                guard width == .bits64, source == .immediate else { throw invalid("malformed exit") }
                self = .exit
            default:
                guard let condition = JumpCondition(op) else { throw invalid("unknown jump operation") }
                self = .jump(condition, width, source)
            }
        case .ld:
            let size = AccessSize(rawValue: opcode & 0x18)!
            switch opcode & 0xe0 {
            case AccessMode.immediate.rawValue:
                guard size == .double else { throw invalid("64-bit immediate load must have size DW") }
                guard let kind = LoadImmediateKind(rawValue: insn.src) else {
                    throw invalid("lddw with unknown pseudo-source \(insn.src)")
                }
                self = .loadImmediate64(kind)
            case AccessMode.absolute.rawValue, AccessMode.indirect.rawValue:
                self = .legacyPacketLoad(size, indirect: opcode & 0xe0 == AccessMode.indirect.rawValue)
            default:
                throw invalid("unknown load mode")
            }
        case .ldx:
            let size = AccessSize(rawValue: opcode & 0x18)!
            switch opcode & 0xe0 {
            case AccessMode.memory.rawValue: self = .load(size, signExtend: false)
            case AccessMode.memorySignExtend.rawValue:
                guard size != .double else { throw invalid("sign-extending load of a double word") }
                self = .load(size, signExtend: true)
            default: throw invalid("unknown ldx mode")
            }
        case .st:
            guard opcode & 0xe0 == AccessMode.memory.rawValue else { throw invalid("unknown st mode") }
            self = .store(AccessSize(rawValue: opcode & 0x18)!, .immediate)
        case .stx:
            let size = AccessSize(rawValue: opcode & 0x18)!
            switch opcode & 0xe0 {
            case AccessMode.memory.rawValue: self = .store(size, .register)
            case AccessMode.atomic.rawValue:
                guard size == .word || size == .double else { throw invalid("atomic operation must be W or DW") }
                let fetch = insn.imm & AtomicOperation.fetchFlag != 0
                guard let op = AtomicOperation(rawValue: insn.imm & ~AtomicOperation.fetchFlag) else {
                    throw invalid("unknown atomic operation 0x\(String(insn.imm, radix: 16))")
                }
                if (op == .xchg || op == .cmpxchg) && !fetch {
                    throw invalid("xchg and cmpxchg require the fetch flag")
                }
                self = .atomic(op, fetch: fetch, size)
            default: throw invalid("unknown stx mode")
            }
        }
    }

    /// Whether this instruction takes two slots.
    @inlinable public var isWide: Bool {
        if case .loadImmediate64 = self { return true }
        return false
    }
}
