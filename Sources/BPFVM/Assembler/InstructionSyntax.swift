/// How an `Operation` is written in assembly text: its mnemonic and the layout of its operands.
///
/// This is the one mapping between text and `Operation`. The disassembler prints through `InstructionSyntax(of:)`;
/// the assembler looks mnemonics up in `InstructionSyntax.operations(named:)`, which is built by running every
/// operation through the same function. The encoding side is `InstructionSyntax.canonicalInstruction(_:fields:)`,
/// which both use, so "prints as" and "assembles to" cannot drift apart.
struct InstructionSyntax: Hashable, Sendable {
    /// One or more words: `add32`, `lock fetch add`, `call local`.
    var mnemonic: String
    var operands: OperandLayout

    init(mnemonic: String, operands: OperandLayout) {
        self.mnemonic = mnemonic
        self.operands = operands
    }

    init(of operation: Operation) {
        switch operation {
        case .alu(let kind, let width, let source):
            self.init(
                mnemonic: kind.rawValue + width.mnemonicSuffix,
                operands: source == .register ? .destinationSource : .destinationImmediate)
        case .neg(let width):
            self.init(mnemonic: "neg" + width.mnemonicSuffix, operands: .destination)
        case .movsx(let from, let width):
            self.init(mnemonic: "movsx\(from)\(width.rawValue)", operands: .destinationSource)
        case .byteOrder(let conversion, let bits):
            let stem =
                switch conversion {
                case .toLittleEndian: "le"
                case .toBigEndian: "be"
                case .swap: "bswap"
                }
            self.init(mnemonic: "\(stem)\(bits)", operands: .destination)
        case .load(let size, let signExtend):
            self.init(mnemonic: (signExtend ? "ldxs" : "ldx") + size.mnemonicSuffix, operands: .destinationLoad)
        case .store(let size, let source):
            self.init(
                mnemonic: (source == .register ? "stx" : "st") + size.mnemonicSuffix,
                operands: source == .register ? .storeSource : .storeImmediate)
        case .atomic(let op, let fetch, let size):
            let name: String =
                switch op {
                case .add: "add"
                case .or: "or"
                case .and: "and"
                case .xor: "xor"
                case .xchg: "xchg"
                case .cmpxchg: "cmpxchg"
                }
            // xchg and cmpxchg always fetch; the word is only written for the optional-fetch operations.
            let fetchWord = fetch && op != .xchg && op != .cmpxchg ? "fetch " : ""
            self.init(mnemonic: "lock \(fetchWord)\(name)\(size == .word ? "32" : "")", operands: .storeSource)
        case .loadImmediate64(let kind):
            self.init(mnemonic: "lddw", operands: .wideImmediate(kind))
        case .legacyPacketLoad(let size, let indirect):
            self.init(
                mnemonic: (indirect ? "ldind" : "ldabs") + size.mnemonicSuffix,
                operands: indirect ? .sourceImmediate : .immediate)
        case .jumpAlways(let longOffset):
            self.init(mnemonic: longOffset ? "ja32" : "ja", operands: longOffset ? .longJumpTarget : .jumpTarget)
        case .jump(let condition, let width, let source):
            self.init(
                mnemonic: condition.rawValue + width.mnemonicSuffix,
                operands: source == .register ? .conditionalRegister : .conditionalImmediate)
        case .call(let kind):
            switch kind {
            case .helper: self.init(mnemonic: "call", operands: .immediate)
            case .local: self.init(mnemonic: "call local", operands: .callTarget)
            case .kfunc: self.init(mnemonic: "call kfunc", operands: .immediate)
            }
        case .callRegister:
            self.init(mnemonic: "call", operands: .destination)
        case .exit:
            self.init(mnemonic: "exit", operands: .none)
        }
    }

    /// Every operation `Operation(decoding:)` can produce.
    static let allOperations: [Operation] = {
        var all: [Operation] = []
        let widths: [OperandWidth] = [.bits64, .bits32]
        let sources: [OperandSource] = [.immediate, .register]
        for width in widths {
            for kind in ALUKind.allCases {
                for source in sources { all.append(.alu(kind, width, source)) }
            }
            all.append(.neg(width))
        }
        for (from, width) in [(8, OperandWidth.bits32), (16, .bits32), (8, .bits64), (16, .bits64), (32, .bits64)] {
            all.append(.movsx(from: from, width))
        }
        for conversion in [ByteOrderConversion.toLittleEndian, .toBigEndian, .swap] {
            for bits in [16, 32, 64] { all.append(.byteOrder(conversion, bits: bits)) }
        }
        for size in AccessSize.allCases {
            all.append(.load(size, signExtend: false))
            if size != .double { all.append(.load(size, signExtend: true)) }
            for source in sources { all.append(.store(size, source)) }
            all.append(.legacyPacketLoad(size, indirect: false))
            all.append(.legacyPacketLoad(size, indirect: true))
        }
        for size in [AccessSize.double, .word] {
            for op in AtomicOperation.allCases {
                if op != .xchg && op != .cmpxchg { all.append(.atomic(op, fetch: false, size)) }
                all.append(.atomic(op, fetch: true, size))
            }
        }
        for kind in LoadImmediateKind.allCases { all.append(.loadImmediate64(kind)) }
        all.append(.jumpAlways(longOffset: false))
        all.append(.jumpAlways(longOffset: true))
        for width in widths {
            for condition in JumpCondition.allCases {
                for source in sources { all.append(.jump(condition, width, source)) }
            }
        }
        all.append(.call(.helper))
        all.append(.call(.local))
        all.append(.call(.kfunc))
        all.append(.callRegister)
        all.append(.exit)
        return all
    }()

    /// Mnemonic → the operations written with it (`add` → immediate and register forms; `lddw` → every
    /// pseudo-source).
    static let operationsByMnemonic: [String: [(Operation, OperandLayout)]] = {
        var table: [String: [(Operation, OperandLayout)]] = [:]
        for operation in allOperations {
            let syntax = InstructionSyntax(of: operation)
            table[syntax.mnemonic, default: []].append((operation, syntax.operands))
        }
        return table
    }()

    /// Spellings accepted on input but never printed.
    static let aliases: [String: String] = ["swap16": "bswap16", "swap32": "bswap32", "swap64": "bswap64"]

    static func operations(named mnemonic: String) -> [(Operation, OperandLayout)]? {
        operationsByMnemonic[aliases[mnemonic] ?? mnemonic]
    }

    /// The opcode and the fields implied by the operation (`offset` of `sdiv`/`movsx`, `imm` of byte swaps and
    /// atomics, `src` of `lddw`/`call`), with every operand field zero.
    static func baseInstruction(for operation: Operation) -> Instruction {
        switch operation {
        case .alu(let kind, let width, let source):
            let op: ALUOperation =
                switch kind {
                case .add: .add
                case .sub: .sub
                case .mul: .mul
                case .div, .sdiv: .div
                case .or: .or
                case .and: .and
                case .lsh: .lsh
                case .rsh: .rsh
                case .mod, .smod: .mod
                case .xor: .xor
                case .mov: .mov
                case .arsh: .arsh
                }
            let signed = kind == .sdiv || kind == .smod
            return Instruction(opcode: width.aluClass.rawValue | op.rawValue | source.rawValue, offset: signed ? 1 : 0)
        case .neg(let width):
            return Instruction(opcode: width.aluClass.rawValue | ALUOperation.neg.rawValue)
        case .movsx(let from, let width):
            return Instruction(
                opcode: width.aluClass.rawValue | ALUOperation.mov.rawValue | OperandSource.register.rawValue,
                offset: Int16(from))
        case .byteOrder(let conversion, let bits):
            let opcode: UInt8 =
                switch conversion {
                case .toLittleEndian: InstructionClass.alu.rawValue | ALUOperation.end.rawValue
                case .toBigEndian:
                    InstructionClass.alu.rawValue | ALUOperation.end.rawValue | OperandSource.register.rawValue
                case .swap: InstructionClass.alu64.rawValue | ALUOperation.end.rawValue
                }
            return Instruction(opcode: opcode, imm: Int32(bits))
        case .load(let size, let signExtend):
            let mode: AccessMode = signExtend ? .memorySignExtend : .memory
            return Instruction(opcode: InstructionClass.ldx.rawValue | size.rawValue | mode.rawValue)
        case .store(let size, let source):
            let cls: InstructionClass = source == .register ? .stx : .st
            return Instruction(opcode: cls.rawValue | size.rawValue | AccessMode.memory.rawValue)
        case .atomic(let op, let fetch, let size):
            return Instruction(
                opcode: InstructionClass.stx.rawValue | size.rawValue | AccessMode.atomic.rawValue,
                imm: op.rawValue | (fetch ? AtomicOperation.fetchFlag : 0))
        case .loadImmediate64(let kind):
            return Instruction(
                opcode: InstructionClass.ld.rawValue | AccessSize.double.rawValue | AccessMode.immediate.rawValue,
                src: kind.rawValue)
        case .legacyPacketLoad(let size, let indirect):
            let mode: AccessMode = indirect ? .indirect : .absolute
            return Instruction(opcode: InstructionClass.ld.rawValue | size.rawValue | mode.rawValue)
        case .jumpAlways(let longOffset):
            let cls: InstructionClass = longOffset ? .jmp32 : .jmp
            return Instruction(opcode: cls.rawValue | JumpOperation.ja.rawValue)
        case .jump(let condition, let width, let source):
            let op = condition.operation
            let cls: InstructionClass = width == .bits64 ? .jmp : .jmp32
            return Instruction(opcode: cls.rawValue | op.rawValue | source.rawValue)
        case .call(let kind):
            return Instruction(opcode: InstructionClass.jmp.rawValue | JumpOperation.call.rawValue, src: kind.rawValue)
        case .callRegister:
            return Instruction(
                opcode: InstructionClass.jmp.rawValue | JumpOperation.call.rawValue | OperandSource.register.rawValue)
        case .exit:
            return Instruction(opcode: InstructionClass.jmp.rawValue | JumpOperation.exit.rawValue)
        }
    }

    /// The canonical encoding of `operation` with the operand fields its layout uses taken from `fields` and every
    /// other field as `baseInstruction(for:)` sets it (reserved fields zero).
    static func canonicalInstruction(_ operation: Operation, fields: Instruction) -> Instruction {
        var insn = baseInstruction(for: operation)
        switch InstructionSyntax(of: operation).operands {
        case .none:
            break
        case .destination:
            insn.dst = fields.dst
        case .destinationImmediate:
            insn.dst = fields.dst
            insn.imm = fields.imm
        case .destinationSource:
            insn.dst = fields.dst
            insn.src = fields.src
        case .destinationLoad, .storeSource, .conditionalRegister:
            insn.dst = fields.dst
            insn.src = fields.src
            insn.offset = fields.offset
        case .storeImmediate, .conditionalImmediate:
            insn.dst = fields.dst
            insn.offset = fields.offset
            insn.imm = fields.imm
        case .wideImmediate:
            insn.dst = fields.dst
            insn.imm = fields.imm
        case .jumpTarget:
            insn.offset = fields.offset
        case .longJumpTarget, .callTarget, .immediate:
            insn.imm = fields.imm
        case .sourceImmediate:
            insn.src = fields.src
            insn.imm = fields.imm
        }
        return insn
    }

    /// The canonical second slot of `lddw`: all zero except `imm`, which holds the upper half of a plain immediate
    /// or the value offset of the map-value kinds, and is zero for the others.
    static func canonicalSecondSlot(_ kind: LoadImmediateKind, imm: Int32) -> Instruction {
        Instruction(opcode: 0, imm: kind.usesSecondImmediate ? imm : 0)
    }
}

extension Operation {
    /// Whether `insn`, classified as this operation, is canonically encoded: every field its operands do not use is
    /// zero (RFC 9669 requires this of reserved fields; `Operation(decoding:)` does not check all of them). For
    /// `lddw`, pass the second slot, whose fields other than `imm` must be zero (and `imm` too for the pseudo-sources
    /// that do not use it).
    public func isCanonical(_ insn: Instruction, secondSlot: Instruction? = nil) -> Bool {
        guard InstructionSyntax.canonicalInstruction(self, fields: insn) == insn else { return false }
        if case .loadImmediate64(let kind) = self {
            guard let secondSlot else { return false }
            return InstructionSyntax.canonicalSecondSlot(kind, imm: secondSlot.imm) == secondSlot
        }
        return true
    }
}

/// Operand layouts; the comment shows the text form (`D` = dst register, `S` = src register).
enum OperandLayout: Hashable, Sendable {
    /// `exit`
    case none
    /// `neg %rD`, `be16 %rD`, `call %rD`
    case destination
    /// `add %rD, IMM`
    case destinationImmediate
    /// `add %rD, %rS`, `movsx832 %rD, %rS`
    case destinationSource
    /// `ldxw %rD, [%rS+OFF]`
    case destinationLoad
    /// `stxw [%rD+OFF], %rS`, `lock add [%rD+OFF], %rS`
    case storeSource
    /// `stw [%rD+OFF], IMM`
    case storeImmediate
    /// `lddw %rD, IMM64`, `lddw %rD, map[N]`, `lddw %rD, map_value[N]+OFF`, `lddw %rD, func TARGET`, …
    case wideImmediate(LoadImmediateKind)
    /// `ja TARGET` (distance in `offset`)
    case jumpTarget
    /// `ja32 TARGET` (distance in `imm`)
    case longJumpTarget
    /// `jeq %rD, IMM, TARGET`
    case conditionalImmediate
    /// `jeq %rD, %rS, TARGET`
    case conditionalRegister
    /// `call ID`, `call kfunc ID`, `ldabsw IMM`
    case immediate
    /// `call local TARGET` (distance in `imm`)
    case callTarget
    /// `ldindw %rS, IMM`
    case sourceImmediate

    /// How the operands are written, for error messages.
    var usage: String {
        switch self {
        case .none: "no operands"
        case .destination: "%rD"
        case .destinationImmediate: "%rD, IMM"
        case .destinationSource: "%rD, %rS"
        case .destinationLoad: "%rD, [%rS+OFF]"
        case .storeSource: "[%rD+OFF], %rS"
        case .storeImmediate: "[%rD+OFF], IMM"
        case .wideImmediate(let kind): "%rD, \(kind.operandUsage)"
        case .jumpTarget, .longJumpTarget, .callTarget: "TARGET (+N, -N or a label)"
        case .conditionalImmediate: "%rD, IMM, TARGET"
        case .conditionalRegister: "%rD, %rS, TARGET"
        case .immediate: "IMM"
        case .sourceImmediate: "%rS, IMM"
        }
    }

    /// The operand count and which operands are registers; used to choose between operations sharing a mnemonic.
    var shape: [OperandShape] {
        switch self {
        case .none: []
        case .destination: [.register]
        case .destinationImmediate, .sourceImmediate: [.register, .value]
        case .destinationSource: [.register, .register]
        case .destinationLoad: [.register, .memory]
        case .storeSource: [.memory, .register]
        case .storeImmediate: [.memory, .value]
        case .wideImmediate: [.register, .value]
        case .jumpTarget, .longJumpTarget, .callTarget, .immediate: [.value]
        case .conditionalImmediate: [.register, .value, .value]
        case .conditionalRegister: [.register, .register, .value]
        }
    }
}

/// Coarse classification of an operand's text.
enum OperandShape: Hashable, Sendable {
    case register, memory, value

    init(of text: Substring) {
        if text.hasPrefix("%") {
            self = .register
        } else if text.hasPrefix("[") {
            self = .memory
        } else {
            self = .value
        }
    }
}

extension LoadImmediateKind {
    /// The word that introduces the operand of a pseudo `lddw` (`map` in `lddw %r1, map[0]`); nil for a plain value.
    var operandKeyword: String? {
        switch self {
        case .immediate: nil
        case .mapByFD: "map_fd"
        case .mapValueByFD: "map_value_fd"
        case .variableAddress: "btf_var"
        case .codeAddress: "func"
        case .mapByIndex: "map"
        case .mapValueByIndex: "map_value"
        }
    }

    var operandUsage: String {
        switch self {
        case .immediate: "IMM64"
        case .mapByFD: "map_fd[FD]"
        case .mapValueByFD: "map_value_fd[FD]+OFF"
        case .variableAddress: "btf_var[ID]"
        case .codeAddress: "func TARGET"
        case .mapByIndex: "map[INDEX]"
        case .mapValueByIndex: "map_value[INDEX]+OFF"
        }
    }

    /// Whether the second slot's `imm` carries information (upper half, or the offset into a map value).
    var usesSecondImmediate: Bool {
        switch self {
        case .immediate, .mapValueByFD, .mapValueByIndex: true
        case .mapByFD, .variableAddress, .codeAddress, .mapByIndex: false
        }
    }

    /// The kind a `lddw` operand's text selects, from its leading keyword.
    init(operandText text: Substring) {
        for kind in LoadImmediateKind.allCases {
            guard let keyword = kind.operandKeyword, text.hasPrefix(keyword) else { continue }
            let rest = text.dropFirst(keyword.count)
            if kind == .codeAddress ? rest.first == " " : rest.first == "[" {
                self = kind
                return
            }
        }
        self = .immediate
    }
}

extension OperandWidth {
    var mnemonicSuffix: String { self == .bits32 ? "32" : "" }
    var aluClass: InstructionClass { self == .bits32 ? .alu : .alu64 }
}

extension AccessSize {
    var mnemonicSuffix: String {
        switch self {
        case .byte: "b"
        case .half: "h"
        case .word: "w"
        case .double: "dw"
        }
    }
}
