/// Assembles eBPF assembly text in the syntax of the bpf_conformance suite (see `shared/conformance/FORMAT.md`).
///
/// One instruction per line; `#` starts a comment; `name:` defines a label (an instruction may follow it on the same
/// line). Registers are `%r0`…`%r10`; immediates are decimal or `0x` hex, optionally signed; a 32-bit field takes
/// -2³¹…2³²-1 (so `-1` and `0xffffffff` are the same), `lddw` takes -2⁶³…2⁶⁴-1, memory offsets -32768…32767.
///
///     add %r1, 5          add32 %r1, %r2      neg %r1             mov32 %r0, -1     (all ALU ops, `32` = ALU32)
///     sdiv %r1, 3         smod32 %r1, %r2     movsx832 %r0, %r1   (movsx{8,16}{32,64}, movsx3264)
///     le16 %r1            be64 %r1            bswap32 %r1         (alias swap16/32/64)
///     ldxw %r0, [%r1+4]   ldxsb %r0, [%r10-1] stxdw [%r10-8], %r1 stb [%r1], 7
///     lock add [%r1+0], %r2    lock fetch xor32 [%r1], %r2    lock xchg [%r10-8], %r1    lock cmpxchg32 …
///     lddw %r1, 0x1122334455667788    (two slots)
///     ja +2    ja32 label    jeq %r1, 5, label    jsgt32 %r1, %r2, -3
///     call 5    call local label    call %r2 (callx, register in dst)    exit
///
/// Jump, `call local` and `lddw … func` targets are labels or signed distances `+N`/`-N` counted in slots from the
/// next instruction. As in the conformance suite's own assembler, the label `exit`, unless defined explicitly,
/// names the first `exit` instruction (many cases write `jne %r0, 42, exit` without defining it).
///
/// Extensions beyond the conformance syntax:
/// - `lddw %rD, map[INDEX]`, `lddw %rD, map_value[INDEX]+OFF` (pseudo-sources 5 and 6), `lddw %rD, map_fd[FD]`,
///   `lddw %rD, map_value_fd[FD]+OFF`, `lddw %rD, btf_var[ID]`, `lddw %rD, func TARGET` (pseudo-source 4, `imm` =
///   distance to the function, as clang emits for callbacks);
/// - `call kfunc ID`; legacy `ldabs{b,h,w,dw} IMM` and `ldind{b,h,w,dw} %rS, IMM`;
/// - `.raw WORD[, WORD…]`: slots given as 64-bit words (low byte = opcode), for encodings no mnemonic produces.
///   The disassembler prints invalid or non-canonical instructions this way.
///
/// Every instruction is produced through `InstructionSyntax` (the mnemonic table derived from `Operation`) with all
/// fields its operands do not use zero, so `Operation(decoding:)` classifies it as the operation that was written.
public enum Assembler {
    public static func assemble(_ source: String) throws(AssemblyError) -> [Instruction] {
        try assembleWithSourceMap(source).instructions
    }

    /// Assembles and also returns where each slot and label came from (for messages that name an instruction index,
    /// such as the verifier's, to be traced back to the text).
    public static func assembleWithSourceMap(_ source: String) throws(AssemblyError) -> AssembledProgram {
        // Pass 1: labels and the slot index of every statement.
        var statements: [Statement] = []
        var labels: [Substring: Label] = [:]
        var pc = 0
        var lineNumber = 0
        var firstExit: Label? = nil
        for rawLine in source.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            lineNumber += 1
            var text = rawLine
            if let hash = text.firstIndex(of: "#") { text = text[..<hash] }
            text = text.trimmed
            while let colon = text.firstIndex(of: ":") {
                let name = text[..<colon].trimmed
                guard name.isLabelName else { break }
                if let previous = labels[name] {
                    throw AssemblyError(
                        line: lineNumber, message: "duplicate label '\(name)' (first defined on line \(previous.line))")
                }
                labels[name] = Label(index: pc, line: lineNumber)
                text = text[text.index(after: colon)...].trimmed
            }
            guard !text.isEmpty else { continue }
            let statement = Statement(line: lineNumber, text: text, index: pc)
            statements.append(statement)
            if firstExit == nil && statement.text == "exit" { firstExit = Label(index: pc, line: lineNumber) }
            pc += statement.slotCount
        }

        if labels["exit"] == nil, let firstExit { labels["exit"] = firstExit }

        // Pass 2: encode.
        var program: [Instruction] = []
        var sourceLines: [Int] = []
        program.reserveCapacity(pc)
        sourceLines.reserveCapacity(pc)
        for statement in statements {
            var parser = StatementParser(statement: statement, labels: labels)
            try parser.encode(into: &program)
            sourceLines.append(contentsOf: repeatElement(statement.line, count: program.count - sourceLines.count))
        }
        var labelIndices: [String: Int] = [:]
        for (name, label) in labels { labelIndices[String(name)] = label.index }
        return AssembledProgram(instructions: program, labels: labelIndices, sourceLines: sourceLines)
    }
}

/// An assembled program with its source map.
public struct AssembledProgram: Hashable, Sendable {
    public var instructions: [Instruction]
    /// Label name → slot index (including the implicit `exit` label when the text relies on it).
    public var labels: [String: Int]
    /// The 1-based source line of each slot (both slots of `lddw` name its line).
    public var sourceLines: [Int]
}

struct Label {
    var index: Int
    var line: Int
}

/// One instruction line (labels and comment removed).
struct Statement {
    var line: Int
    var text: Substring
    /// Slot index of the instruction.
    var index: Int

    var firstWord: Substring { text.prefix { !$0.isWhitespace } }

    /// Slots the statement occupies, known before labels are resolved.
    var slotCount: Int {
        switch firstWord {
        case "lddw": 2
        case ".raw": max(1, text.split(separator: ",").count)
        default: 1
        }
    }
}

/// Encodes one statement; every failure names the statement's line.
struct StatementParser {
    let statement: Statement
    let labels: [Substring: Label]

    func error(_ message: String) -> AssemblyError { AssemblyError(line: statement.line, message: message) }

    mutating func encode(into program: inout [Instruction]) throws(AssemblyError) {
        if statement.firstWord == ".raw" {
            let words = statement.text.dropFirst(4).split(separator: ",", omittingEmptySubsequences: false)
            for word in words {
                let word = word.trimmed
                guard let value = IntegerLiteral.bits64(word), !word.hasPrefix("-") else {
                    throw error("expected a 64-bit instruction word, found '\(word)'")
                }
                program.append(Instruction(raw: value))
            }
            return
        }

        let (mnemonic, candidates, operandText) = try splitMnemonic()
        let operands: [Substring] =
            operandText.isEmpty
            ? [] : operandText.split(separator: ",", omittingEmptySubsequences: false).map(\.trimmed)
        if let empty = operands.firstIndex(where: \.isEmpty) {
            throw error("operand \(empty + 1) of '\(mnemonic)' is empty")
        }
        let (operation, layout) = choose(among: candidates, operands: operands)
        let usage = candidates.map(\.1.usage).uniqued().joined(separator: " or ")
        if operands.count < layout.shape.count {
            throw error("missing operand: '\(mnemonic)' takes \(usage)")
        }
        if operands.count > layout.shape.count {
            throw error("unexpected operand '\(operands[layout.shape.count])': '\(mnemonic)' takes \(usage)")
        }

        var fields = Instruction(opcode: 0)
        var secondImmediate: Int32 = 0
        switch layout {
        case .none:
            break
        case .destination:
            fields.dst = try register(operands[0])
        case .destinationImmediate:
            fields.dst = try register(operands[0])
            fields.imm = try immediate(operands[1])
        case .destinationSource:
            fields.dst = try register(operands[0])
            fields.src = try register(operands[1])
        case .destinationLoad:
            fields.dst = try register(operands[0])
            (fields.src, fields.offset) = try memory(operands[1])
        case .storeSource:
            (fields.dst, fields.offset) = try memory(operands[0])
            fields.src = try register(operands[1])
        case .storeImmediate:
            (fields.dst, fields.offset) = try memory(operands[0])
            fields.imm = try immediate(operands[1])
        case .wideImmediate(let kind):
            fields.dst = try register(operands[0])
            (fields.imm, secondImmediate) = try wideOperand(operands[1], kind: kind)
        case .jumpTarget:
            fields.offset = Int16(try target(operands[0], bits: 16))
        case .longJumpTarget, .callTarget:
            fields.imm = Int32(try target(operands[0], bits: 32))
        case .conditionalImmediate:
            fields.dst = try register(operands[0])
            fields.imm = try immediate(operands[1])
            fields.offset = Int16(try target(operands[2], bits: 16))
        case .conditionalRegister:
            fields.dst = try register(operands[0])
            fields.src = try register(operands[1])
            fields.offset = Int16(try target(operands[2], bits: 16))
        case .immediate:
            if operation == .call(.helper), operands[0].isLabelName {
                throw error(
                    "expected helper id, found '\(operands[0])' (a BPF-to-BPF call is 'call local \(operands[0])')")
            }
            fields.imm = try immediate(operands[0])
        case .sourceImmediate:
            fields.src = try register(operands[0])
            fields.imm = try immediate(operands[1])
        }
        program.append(InstructionSyntax.canonicalInstruction(operation, fields: fields))
        if case .wideImmediate(let kind) = layout {
            program.append(InstructionSyntax.canonicalSecondSlot(kind, imm: secondImmediate))
        }
    }

    /// The longest run of up to three leading words that is a mnemonic (`lock fetch add`, `call local`), the
    /// operations it names, and the text after it.
    func splitMnemonic() throws(AssemblyError) -> (Substring, [(Operation, OperandLayout)], Substring) {
        var wordEnds: [Substring.Index] = []
        var index = statement.text.startIndex
        let text = statement.text
        while wordEnds.count < 3 && index < text.endIndex {
            while index < text.endIndex && text[index].isWhitespace { index = text.index(after: index) }
            guard index < text.endIndex else { break }
            while index < text.endIndex && !text[index].isWhitespace { index = text.index(after: index) }
            wordEnds.append(index)
        }
        for end in wordEnds.reversed() {
            let words = text[..<end].split(whereSeparator: \.isWhitespace).joined(separator: " ")
            if let candidates = InstructionSyntax.operations(named: words) {
                return (Substring(words), candidates, text[end...].trimmed)
            }
        }
        // Name what was meant as the mnemonic: `lock OP` / `lock fetch OP`, else the first word.
        var name = statement.firstWord
        if name == "lock", wordEnds.count > 1 {
            let twoWords = text[..<wordEnds[1]]
            name = twoWords.hasSuffix(" fetch") && wordEnds.count > 2 ? text[..<wordEnds[2]] : twoWords
        }
        throw error("unknown mnemonic '\(name)'")
    }

    /// Picks among operations sharing a mnemonic by the operands' shapes (register, memory or value) and, for
    /// `lddw`, by the operand's keyword.
    func choose(among candidates: [(Operation, OperandLayout)], operands: [Substring]) -> (Operation, OperandLayout) {
        guard candidates.count > 1 else { return candidates[0] }
        if case .wideImmediate = candidates[0].1 {
            let kind = operands.count > 1 ? LoadImmediateKind(operandText: operands[1]) : .immediate
            return candidates.first { $0.1 == .wideImmediate(kind) } ?? candidates[0]
        }
        let shapes = operands.map(OperandShape.init(of:))
        return candidates.first { $0.1.shape == shapes } ?? candidates[0]
    }

    func register(_ text: Substring) throws(AssemblyError) -> UInt8 {
        if text.hasPrefix("%r"), let number = UInt8(text.dropFirst(2)), number <= 10, text.dropFirst(2).first != "+" {
            return number
        }
        throw error("expected register %r0…%r10, found '\(text)'")
    }

    func immediate(_ text: Substring) throws(AssemblyError) -> Int32 {
        if let value = IntegerLiteral.bits32(text) { return value }
        if IntegerLiteral.isWellFormed(text) { throw error("immediate \(text) does not fit in 32 bits") }
        throw error("expected immediate, found '\(text)'")
    }

    /// `[%rN]`, `[%rN+OFF]` or `[%rN-OFF]`, spaces allowed inside the brackets.
    func memory(_ text: Substring) throws(AssemblyError) -> (UInt8, Int16) {
        guard text.hasPrefix("["), text.hasSuffix("]") else {
            throw error("expected memory operand [%rN+OFF], found '\(text)'")
        }
        let inner = Substring(text.dropFirst().dropLast().filter { !$0.isWhitespace })
        guard let signIndex = inner.firstIndex(where: { $0 == "+" || $0 == "-" }) else {
            return (try register(inner), 0)
        }
        let base = try register(inner[..<signIndex])
        let offsetText = inner[signIndex...]
        guard let offset = IntegerLiteral.signed(offsetText, in: Int64(Int16.min)...Int64(Int16.max)) else {
            if IntegerLiteral.isWellFormed(offsetText) {
                throw error("memory offset \(offsetText) does not fit in 16 bits")
            }
            throw error("expected memory offset, found '\(offsetText)' in '\(text)'")
        }
        return (base, Int16(offset))
    }

    /// A label or `+N`/`-N`: the distance from the next slot to the target, checked against a `bits`-wide field.
    func target(_ text: Substring, bits: Int) throws(AssemblyError) -> Int64 {
        let range = -(Int64(1) << (bits - 1))...(Int64(1) << (bits - 1)) - 1
        if text.hasPrefix("+") || text.hasPrefix("-") {
            guard let distance = IntegerLiteral.signed(text, in: Int64.min...Int64.max) else {
                throw error("expected jump distance, found '\(text)'")
            }
            guard range.contains(distance) else {
                throw error("jump distance \(text) does not fit in \(bits) bits")
            }
            return distance
        }
        guard text.isLabelName else {
            throw error("expected jump target (+N, -N or a label), found '\(text)'")
        }
        guard let label = labels[text] else { throw error("undefined label '\(text)'") }
        let distance = Int64(label.index) - Int64(statement.index + 1)
        guard range.contains(distance) else {
            throw error("label '\(text)' is \(distance) slots away, which does not fit in \(bits) bits")
        }
        return distance
    }

    /// The operand of `lddw`: the first and second slot immediates.
    func wideOperand(_ text: Substring, kind: LoadImmediateKind) throws(AssemblyError) -> (Int32, Int32) {
        guard let keyword = kind.operandKeyword else {
            guard let value = IntegerLiteral.bits64(text) else {
                if IntegerLiteral.isWellFormed(text) { throw error("immediate \(text) does not fit in 64 bits") }
                throw error("expected 64-bit immediate or map[N], map_value[N]+OFF, func TARGET, found '\(text)'")
            }
            return (Int32(truncatingIfNeeded: value), Int32(truncatingIfNeeded: value >> 32))
        }
        let rest = text.dropFirst(keyword.count).trimmed
        if kind == .codeAddress { return (Int32(try target(rest, bits: 32)), 0) }
        // KEYWORD[N] with an optional +OFF / -OFF for the map-value kinds.
        guard rest.hasPrefix("["), let close = rest.firstIndex(of: "]") else {
            throw error("expected \(kind.operandUsage), found '\(text)'")
        }
        let numberText = rest[rest.index(after: rest.startIndex)..<close].trimmed
        guard let number = IntegerLiteral.bits32(numberText), !numberText.hasPrefix("-") else {
            throw error("expected a number in \(keyword)[…], found '\(numberText)'")
        }
        let suffix = rest[rest.index(after: close)...].trimmed
        guard kind.usesSecondImmediate else {
            guard suffix.isEmpty else { throw error("unexpected '\(suffix)' after \(keyword)[\(numberText)]") }
            return (number, 0)
        }
        guard !suffix.isEmpty else { return (number, 0) }
        let offsetText = Substring(suffix.filter { !$0.isWhitespace })
        guard offsetText.hasPrefix("+") || offsetText.hasPrefix("-"), let offset = IntegerLiteral.bits32(offsetText)
        else {
            throw error("expected +OFF after \(keyword)[\(numberText)], found '\(suffix)'")
        }
        return (number, offset)
    }
}

extension Substring {
    var trimmed: Substring {
        var result = self
        while let first = result.first, first.isWhitespace { result = result.dropFirst() }
        while let last = result.last, last.isWhitespace { result = result.dropLast() }
        return result
    }

    /// Labels: a letter, `_` or `.`, then letters, digits, `_` or `.`.
    var isLabelName: Bool {
        guard let first = first, first.isASCII, first.isLetter || first == "_" || first == "." else { return false }
        return allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == ".") }
    }
}

extension Array where Element: Hashable {
    func uniqued() -> [Element] {
        var seen: Set<Element> = []
        return filter { seen.insert($0).inserted }
    }
}
