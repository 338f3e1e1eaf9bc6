/// Prints instructions in the assembler's syntax.
///
/// Every instruction that `Operation(decoding:)` accepts and that is canonically encoded (unused fields zero) prints
/// as text that `Assembler.assemble` turns back into the identical slots; jump and call distances print as `+N`/`-N`.
/// Anything else prints as a `.raw` line carrying the exact words and a comment saying what is wrong, which also
/// assembles back to the identical slots:
///
///     .raw 0x00000000000000ff  # invalid instruction (opcode 0xff): unknown ALU operation
public enum Disassembler {
    /// One line per instruction; the second slot of `lddw` produces no line of its own.
    public static func text(of program: [Instruction]) -> [String] {
        var lines: [String] = []
        var index = 0
        while index < program.count {
            let next = index + 1 < program.count ? program[index + 1] : nil
            lines.append(text(of: program[index], next: next))
            index += slotCount(of: program[index], hasNext: next != nil)
        }
        return lines
    }

    /// A listing for people: `index: text`, with the slot index right-aligned and, for jumps and local calls, the
    /// target slot index as a comment (`3: jeq %r1, 0, +5  # -> 9`).
    public static func listing(of program: [Instruction]) -> [String] {
        let width = String(max(program.count - 1, 0)).count
        var lines: [String] = []
        var index = 0
        while index < program.count {
            let insn = program[index]
            let next = index + 1 < program.count ? program[index + 1] : nil
            let number = String(index)
            var line = String(repeating: " ", count: width - number.count) + number + ": " + text(of: insn, next: next)
            if let distance = branchDistance(of: insn) {
                line += "  # -> \(index + 1 + distance)"
            }
            lines.append(line)
            index += slotCount(of: insn, hasNext: next != nil)
        }
        return lines
    }

    /// The text of one instruction. `next` is the following slot, which `lddw` needs (its upper half or map-value
    /// offset); it is ignored for every other instruction.
    public static func text(of insn: Instruction, next: Instruction?) -> String {
        let operation: Operation
        do {
            operation = try Operation(decoding: insn)
        } catch {
            return rawLine([insn], note: error.description)
        }
        let syntax = InstructionSyntax(of: operation)
        var slots = [insn]
        if case .wideImmediate = syntax.operands {
            guard let next else {
                return rawLine([insn], note: "invalid instruction: lddw is missing its second slot")
            }
            slots.append(next)
        }
        let text = format(operation, syntax: syntax, insn, next: next)
        if !operation.isCanonical(insn, secondSlot: next) {
            return rawLine(slots, note: "non-canonical encoding (reserved fields set) of '\(text)'")
        }
        return text
    }

    /// 2 for a decodable `lddw` followed by a slot, 1 otherwise.
    public static func slotCount(of insn: Instruction, hasNext: Bool) -> Int {
        guard hasNext, let operation = try? Operation(decoding: insn), operation.isWide else { return 1 }
        return 2
    }

    /// The pc-relative distance of jumps, `call local` and `lddw … func`, if the instruction is one.
    static func branchDistance(of insn: Instruction) -> Int? {
        guard let operation = try? Operation(decoding: insn) else { return nil }
        switch InstructionSyntax(of: operation).operands {
        case .jumpTarget, .conditionalImmediate, .conditionalRegister: return Int(insn.offset)
        case .longJumpTarget, .callTarget, .wideImmediate(.codeAddress): return Int(insn.imm)
        default: return nil
        }
    }

    static func format(_ operation: Operation, syntax: InstructionSyntax, _ insn: Instruction, next: Instruction?)
        -> String
    {
        let m = syntax.mnemonic
        let dst = register(insn.dst)
        let src = register(insn.src)
        let imm = IntegerLiteral.format(Int64(insn.imm))
        let offset = IntegerLiteral.formatDistance(Int64(insn.offset))
        switch syntax.operands {
        case .none: return m
        case .destination: return "\(m) \(dst)"
        case .destinationImmediate: return "\(m) \(dst), \(imm)"
        case .destinationSource: return "\(m) \(dst), \(src)"
        case .destinationLoad: return "\(m) \(dst), \(memory(insn.src, insn.offset))"
        case .storeSource: return "\(m) \(memory(insn.dst, insn.offset)), \(src)"
        case .storeImmediate: return "\(m) \(memory(insn.dst, insn.offset)), \(imm)"
        case .wideImmediate(let kind):
            let high = next?.imm ?? 0
            switch kind {
            case .immediate:
                let value = UInt64(UInt32(bitPattern: insn.imm)) | UInt64(UInt32(bitPattern: high)) << 32
                let signed = Int64(bitPattern: value)
                let text = signed > -65536 && signed < 65536 ? String(signed) : "0x" + String(value, radix: 16)
                return "\(m) \(dst), \(text)"
            case .codeAddress:
                return "\(m) \(dst), func \(IntegerLiteral.formatDistance(Int64(insn.imm)))"
            case .mapValueByFD, .mapValueByIndex:
                let base = "\(m) \(dst), \(kind.operandKeyword ?? "")[\(UInt32(bitPattern: insn.imm))]"
                return high == 0 ? base : base + IntegerLiteral.formatDistance(Int64(high))
            case .mapByFD, .variableAddress, .mapByIndex:
                return "\(m) \(dst), \(kind.operandKeyword ?? "")[\(UInt32(bitPattern: insn.imm))]"
            }
        case .jumpTarget: return "\(m) \(offset)"
        case .longJumpTarget, .callTarget: return "\(m) \(IntegerLiteral.formatDistance(Int64(insn.imm)))"
        case .conditionalImmediate: return "\(m) \(dst), \(imm), \(offset)"
        case .conditionalRegister: return "\(m) \(dst), \(src), \(offset)"
        case .immediate: return "\(m) \(imm)"
        case .sourceImmediate: return "\(m) \(src), \(imm)"
        }
    }

    static func register(_ number: UInt8) -> String { "%r\(number)" }

    static func memory(_ base: UInt8, _ offset: Int16) -> String {
        "[%r\(base)\(IntegerLiteral.formatDistance(Int64(offset)))]"
    }

    static func rawLine(_ slots: [Instruction], note: String) -> String {
        ".raw " + slots.map { hexWord($0.raw) }.joined(separator: ", ") + "  # " + note
    }

    static func hexWord(_ word: UInt64) -> String {
        let digits = String(word, radix: 16)
        return "0x" + String(repeating: "0", count: 16 - digits.count) + digits
    }
}
