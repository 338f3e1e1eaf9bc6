/// Why a program could not be prepared for execution. Every case names the instruction.
public struct ProgramError: Error, Hashable, Sendable, CustomStringConvertible {
    public var instructionIndex: Int
    public var reason: String
    public init(instructionIndex: Int, reason: String) {
        self.instructionIndex = instructionIndex
        self.reason = reason
    }
    public var description: String { "instruction \(instructionIndex): \(reason)" }
}

/// What the translator needs to resolve the symbolic parts of a program.
public struct TranslationContext {
    /// Helper implementation by kernel id; nil = unknown helper.
    public var helper: (Int32) -> HelperFunction?
    /// kfunc implementation by name; nil = Sluice does not provide it.
    public var kfunc: (String) -> HelperFunction?
    /// Address of a map's `MapCore` by map index.
    public var mapPointer: (Int) -> UInt64?
    /// Address of byte `offset` of a map's value (global data, arrays) by map index; nil if not addressable.
    public var mapValueAddress: (_ map: Int, _ offset: Int) -> UInt64?
    /// kfunc calls and extern addresses by instruction index (from the object loader).
    public var kfuncCalls: [Int: ExternReference]
    public var externAddresses: [Int: ExternReference]
    /// Context loads found by the context analysis: instruction index → field.
    public var contextLoads: [Int: ContextField]

    public init(
        helper: @escaping (Int32) -> HelperFunction?, kfunc: @escaping (String) -> HelperFunction? = { _ in nil },
        mapPointer: @escaping (Int) -> UInt64? = { _ in nil },
        mapValueAddress: @escaping (Int, Int) -> UInt64? = { _, _ in nil },
        kfuncCalls: [Int: ExternReference] = [:], externAddresses: [Int: ExternReference] = [:],
        contextLoads: [Int: ContextField] = [:]
    ) {
        self.helper = helper
        self.kfunc = kfunc
        self.mapPointer = mapPointer
        self.mapValueAddress = mapValueAddress
        self.kfuncCalls = kfuncCalls
        self.externAddresses = externAddresses
        self.contextLoads = contextLoads
    }
}

/// Turns instructions into the interpreter's pre-decoded form, checking the structure every program must have:
/// known opcodes, complete `lddw` pairs, jump and call targets inside the program and on instruction starts, and
/// resolvable helpers, kfuncs and maps. Runs once per program load.
public enum Translator {
    /// Instruction indices that are the second slot of an `lddw`.
    public static func wideSecondSlots(_ program: [Instruction]) -> Set<Int> {
        var result = Set<Int>()
        var i = 0
        while i < program.count {
            if program[i].opcode == 0x18 {
                result.insert(i + 1)
                i += 2
            } else {
                i += 1
            }
        }
        return result
    }

    public static func translate(
        _ program: [Instruction], context: TranslationContext
    ) throws(ProgramError) -> [DecodedInstruction] {
        guard !program.isEmpty else { throw ProgramError(instructionIndex: 0, reason: "program has no instructions") }
        var out = [DecodedInstruction](repeating: DecodedInstruction(op: .invalid), count: program.count)
        let secondSlots = wideSecondSlots(program)

        func target(_ pc: Int, _ distance: Int) throws(ProgramError) -> Int32 {
            let t = pc + 1 + distance
            guard t >= 0 && t < program.count else {
                throw ProgramError(
                    instructionIndex: pc, reason: "jump target \(t) is outside the program (0..<\(program.count))")
            }
            guard !secondSlots.contains(t) else {
                throw ProgramError(instructionIndex: pc, reason: "jump target \(t) is the middle of an lddw")
            }
            return Int32(t)
        }

        var pc = 0
        while pc < program.count {
            let insn = program[pc]
            let operation: Operation
            do { operation = try Operation(decoding: insn) } catch {
                throw ProgramError(instructionIndex: pc, reason: error.description)
            }
            // The second slot's own fields are checked with the lddw below, so it can be named precisely.
            let secondSlot = operation.isWide && pc + 1 < program.count
                ? Instruction(opcode: 0, imm: program[pc + 1].imm) : nil
            if !(operation.isWide && secondSlot == nil) && !operation.isCanonical(insn, secondSlot: secondSlot) {
                throw ProgramError(
                    instructionIndex: pc,
                    reason: "reserved fields must be zero: \(Disassembler.text(of: insn, next: secondSlot))")
            }
            let d = insn.dst
            let s = insn.src
            let imm = UInt64(bitPattern: Int64(insn.imm))
            let off = Int32(insn.offset)
            switch operation {
            case .alu(let kind, let width, let source):
                out[pc] = DecodedInstruction(op: aluOp(kind, width, source), dst: d, src: s, imm: imm)
            case .neg(let width):
                out[pc] = DecodedInstruction(op: width == .bits64 ? .neg64 : .neg32, dst: d)
            case .movsx(let from, let width):
                let op: DecodedOp =
                    switch (from, width) {
                    case (8, .bits64): .movsx8To64
                    case (16, .bits64): .movsx16To64
                    case (32, _): .movsx32To64
                    case (8, _): .movsx8To32
                    default: .movsx16To32
                    }
                out[pc] = DecodedInstruction(op: op, dst: d, src: s)
            case .byteOrder(let conversion, let bits):
                let op: DecodedOp =
                    switch (conversion, bits) {
                    case (.toLittleEndian, 16): .zext16
                    case (.toLittleEndian, 32): .zext32
                    case (.toLittleEndian, _): .nop
                    case (_, 16): .swap16
                    case (_, 32): .swap32
                    default: .swap64
                    }
                out[pc] = DecodedInstruction(op: op, dst: d)
            case .load(let size, let signExtend):
                if let field = context.contextLoads[pc] {
                    let fieldOffset = Int(insn.offset) - Int(field.rawValue) * 4
                    out[pc] = DecodedInstruction(
                        op: .loadContext, dst: d, src: UInt8(size.byteCount), aux: field.rawValue,
                        offset: Int32(fieldOffset))
                } else {
                    let op: DecodedOp =
                        switch (size, signExtend) {
                        case (.byte, false): .ldxb
                        case (.half, false): .ldxh
                        case (.word, false): .ldxw
                        case (.double, _): .ldxdw
                        case (.byte, true): .ldxsb
                        case (.half, true): .ldxsh
                        case (.word, true): .ldxsw
                        }
                    out[pc] = DecodedInstruction(op: op, dst: d, src: s, offset: off)
                }
            case .store(let size, let source):
                let op: DecodedOp =
                    switch (size, source) {
                    case (.byte, .immediate): .stb
                    case (.half, .immediate): .sth
                    case (.word, .immediate): .stw
                    case (.double, .immediate): .stdw
                    case (.byte, .register): .stxb
                    case (.half, .register): .stxh
                    case (.word, .register): .stxw
                    case (.double, .register): .stxdw
                    }
                out[pc] = DecodedInstruction(op: op, dst: d, src: s, offset: off, imm: imm)
            case .atomic(let atomicOp, let fetch, let size):
                out[pc] = DecodedInstruction(
                    op: atomicDecodedOp(atomicOp, fetch: fetch, wide: size == .double), dst: d, src: s, offset: off)
            case .loadImmediate64(let kind):
                guard pc + 1 < program.count else {
                    throw ProgramError(instructionIndex: pc, reason: "lddw is truncated: its second slot is missing")
                }
                let next = program[pc + 1]
                guard next.opcode == 0, next.dst == 0, next.src == 0, next.offset == 0 else {
                    throw ProgramError(
                        instructionIndex: pc + 1, reason: "second slot of lddw must have opcode, registers and offset 0")
                }
                let value: UInt64
                switch kind {
                case .immediate:
                    value = UInt64(UInt32(bitPattern: insn.imm)) | UInt64(UInt32(bitPattern: next.imm)) << 32
                case .mapByFD, .mapByIndex:
                    guard let pointer = context.mapPointer(Int(insn.imm)) else {
                        throw ProgramError(instructionIndex: pc, reason: "lddw refers to unknown map \(insn.imm)")
                    }
                    value = pointer
                case .mapValueByFD, .mapValueByIndex:
                    guard let pointer = context.mapValueAddress(Int(insn.imm), Int(next.imm)) else {
                        throw ProgramError(
                            instructionIndex: pc,
                            reason: "lddw refers to offset \(next.imm) of map \(insn.imm), which is not addressable")
                    }
                    value = pointer
                case .codeAddress:
                    value = CodeAddress.make(index: Int(try target(pc, Int(insn.imm))))
                case .variableAddress:
                    guard let extern = context.externAddresses[pc] else {
                        throw ProgramError(
                            instructionIndex: pc, reason: "lddw of a kernel variable (BTF id \(insn.imm)) is not supported")
                    }
                    if let function = context.kfunc(extern.name) {
                        value = UInt64(UInt(bitPattern: unsafeBitCast(function, to: UnsafeRawPointer.self)))
                    } else if extern.isWeak {
                        value = 0
                    } else {
                        throw ProgramError(
                            instructionIndex: pc, reason: "extern '\(extern.name)' is not provided by Sluice")
                    }
                }
                out[pc] = DecodedInstruction(op: .lddw, dst: d, imm: value)
                out[pc + 1] = DecodedInstruction(op: .invalid)
                pc += 2
                continue
            case .legacyPacketLoad:
                throw ProgramError(
                    instructionIndex: pc, reason: "legacy packet access (ldabs/ldind) is not supported for XDP programs")
            case .jumpAlways(let long):
                let distance = long ? Int(insn.imm) : Int(insn.offset)
                out[pc] = DecodedInstruction(op: .ja, offset: try target(pc, distance))
            case .jump(let condition, let width, let source):
                out[pc] = DecodedInstruction(
                    op: jumpOp(condition, width, source), dst: d, src: s, offset: try target(pc, Int(insn.offset)),
                    imm: imm)
            case .call(.helper):
                switch insn.imm {
                case ControlHelperID.tailCall: out[pc] = DecodedInstruction(op: .tailCall)
                case ControlHelperID.loop: out[pc] = DecodedInstruction(op: .loop)
                default:
                    guard let function = context.helper(insn.imm) else {
                        throw ProgramError(instructionIndex: pc, reason: "call of unknown helper \(insn.imm)")
                    }
                    out[pc] = DecodedInstruction(op: .callHelper, imm: helperBits(function))
                }
            case .call(.local):
                out[pc] = DecodedInstruction(op: .callLocal, offset: try target(pc, Int(insn.imm)))
            case .call(.kfunc):
                guard let extern = context.kfuncCalls[pc] else {
                    throw ProgramError(instructionIndex: pc, reason: "kfunc call (BTF id \(insn.imm)) without a name")
                }
                if let function = context.kfunc(extern.name) {
                    out[pc] = DecodedInstruction(op: .callHelper, imm: helperBits(function))
                } else if extern.isWeak {
                    out[pc] = DecodedInstruction(op: .invalid)  // reachable only if the program ignores bpf_ksym_exists
                } else {
                    throw ProgramError(instructionIndex: pc, reason: "kfunc '\(extern.name)' is not provided by Sluice")
                }
            case .callRegister:
                out[pc] = DecodedInstruction(op: .callRegister, dst: d)
            case .exit:
                out[pc] = DecodedInstruction(op: .exit)
            }
            pc += 1
        }
        // Falling off the end must be impossible: the kernel requires the last slot to be exit or an unconditional jump.
        switch out[program.count - 1].op {
        case .exit, .ja: break
        default:
            throw ProgramError(
                instructionIndex: program.count - 1, reason: "the last instruction must be exit or an unconditional jump")
        }
        return out
    }

    private static func helperBits(_ function: HelperFunction) -> UInt64 {
        UInt64(UInt(bitPattern: unsafeBitCast(function, to: UnsafeRawPointer.self)))
    }

    static func aluOp(_ kind: ALUKind, _ width: OperandWidth, _ source: OperandSource) -> DecodedOp {
        let reg = source == .register
        switch (kind, width) {
        case (.add, .bits64): return reg ? .add64Reg : .add64Imm
        case (.sub, .bits64): return reg ? .sub64Reg : .sub64Imm
        case (.mul, .bits64): return reg ? .mul64Reg : .mul64Imm
        case (.div, .bits64): return reg ? .div64Reg : .div64Imm
        case (.sdiv, .bits64): return reg ? .sdiv64Reg : .sdiv64Imm
        case (.or, .bits64): return reg ? .or64Reg : .or64Imm
        case (.and, .bits64): return reg ? .and64Reg : .and64Imm
        case (.lsh, .bits64): return reg ? .lsh64Reg : .lsh64Imm
        case (.rsh, .bits64): return reg ? .rsh64Reg : .rsh64Imm
        case (.mod, .bits64): return reg ? .mod64Reg : .mod64Imm
        case (.smod, .bits64): return reg ? .smod64Reg : .smod64Imm
        case (.xor, .bits64): return reg ? .xor64Reg : .xor64Imm
        case (.mov, .bits64): return reg ? .mov64Reg : .mov64Imm
        case (.arsh, .bits64): return reg ? .arsh64Reg : .arsh64Imm
        case (.add, .bits32): return reg ? .add32Reg : .add32Imm
        case (.sub, .bits32): return reg ? .sub32Reg : .sub32Imm
        case (.mul, .bits32): return reg ? .mul32Reg : .mul32Imm
        case (.div, .bits32): return reg ? .div32Reg : .div32Imm
        case (.sdiv, .bits32): return reg ? .sdiv32Reg : .sdiv32Imm
        case (.or, .bits32): return reg ? .or32Reg : .or32Imm
        case (.and, .bits32): return reg ? .and32Reg : .and32Imm
        case (.lsh, .bits32): return reg ? .lsh32Reg : .lsh32Imm
        case (.rsh, .bits32): return reg ? .rsh32Reg : .rsh32Imm
        case (.mod, .bits32): return reg ? .mod32Reg : .mod32Imm
        case (.smod, .bits32): return reg ? .smod32Reg : .smod32Imm
        case (.xor, .bits32): return reg ? .xor32Reg : .xor32Imm
        case (.mov, .bits32): return reg ? .mov32Reg : .mov32Imm
        case (.arsh, .bits32): return reg ? .arsh32Reg : .arsh32Imm
        }
    }

    static func jumpOp(_ condition: JumpCondition, _ width: OperandWidth, _ source: OperandSource) -> DecodedOp {
        let reg = source == .register
        switch (condition, width) {
        case (.jeq, .bits64): return reg ? .jeq64Reg : .jeq64Imm
        case (.jgt, .bits64): return reg ? .jgt64Reg : .jgt64Imm
        case (.jge, .bits64): return reg ? .jge64Reg : .jge64Imm
        case (.jset, .bits64): return reg ? .jset64Reg : .jset64Imm
        case (.jne, .bits64): return reg ? .jne64Reg : .jne64Imm
        case (.jsgt, .bits64): return reg ? .jsgt64Reg : .jsgt64Imm
        case (.jsge, .bits64): return reg ? .jsge64Reg : .jsge64Imm
        case (.jlt, .bits64): return reg ? .jlt64Reg : .jlt64Imm
        case (.jle, .bits64): return reg ? .jle64Reg : .jle64Imm
        case (.jslt, .bits64): return reg ? .jslt64Reg : .jslt64Imm
        case (.jsle, .bits64): return reg ? .jsle64Reg : .jsle64Imm
        case (.jeq, .bits32): return reg ? .jeq32Reg : .jeq32Imm
        case (.jgt, .bits32): return reg ? .jgt32Reg : .jgt32Imm
        case (.jge, .bits32): return reg ? .jge32Reg : .jge32Imm
        case (.jset, .bits32): return reg ? .jset32Reg : .jset32Imm
        case (.jne, .bits32): return reg ? .jne32Reg : .jne32Imm
        case (.jsgt, .bits32): return reg ? .jsgt32Reg : .jsgt32Imm
        case (.jsge, .bits32): return reg ? .jsge32Reg : .jsge32Imm
        case (.jlt, .bits32): return reg ? .jlt32Reg : .jlt32Imm
        case (.jle, .bits32): return reg ? .jle32Reg : .jle32Imm
        case (.jslt, .bits32): return reg ? .jslt32Reg : .jslt32Imm
        case (.jsle, .bits32): return reg ? .jsle32Reg : .jsle32Imm
        }
    }

    static func atomicDecodedOp(_ op: AtomicOperation, fetch: Bool, wide: Bool) -> DecodedOp {
        switch (op, fetch, wide) {
        case (.add, false, false): .atomicAdd32
        case (.or, false, false): .atomicOr32
        case (.and, false, false): .atomicAnd32
        case (.xor, false, false): .atomicXor32
        case (.add, true, false): .atomicFetchAdd32
        case (.or, true, false): .atomicFetchOr32
        case (.and, true, false): .atomicFetchAnd32
        case (.xor, true, false): .atomicFetchXor32
        case (.xchg, _, false): .atomicXchg32
        case (.cmpxchg, _, false): .atomicCmpxchg32
        case (.add, false, true): .atomicAdd64
        case (.or, false, true): .atomicOr64
        case (.and, false, true): .atomicAnd64
        case (.xor, false, true): .atomicXor64
        case (.add, true, true): .atomicFetchAdd64
        case (.or, true, true): .atomicFetchOr64
        case (.and, true, true): .atomicFetchAnd64
        case (.xor, true, true): .atomicFetchXor64
        case (.xchg, _, true): .atomicXchg64
        case (.cmpxchg, _, true): .atomicCmpxchg64
        }
    }
}
