/// The kernel's instruction syntax, as the verifier log and `bpftool prog dump xlated` print it
/// (`(61) r2 = *(u32 *)(r1 +4)`, `(85) call bpf_map_lookup_elem#1`, `(15) if r0 == 0x0 goto pc+2`).
///
/// People who read verifier logs read this syntax; `sluice disasm --style bpftool` prints it so a listing can be put
/// beside `bpftool` output line by line. It is for reading only: the assembler takes Sluice's own syntax.
public enum KernelSyntax {
    /// What the listing can say about an object beyond the instructions themselves.
    public struct Symbols: Sendable {
        /// Map names by the index that `lddw` pseudo-loads (`src` 5 and 6) carry.
        public var mapNames: [String]
        /// Names of local functions by their first instruction's index.
        public var functionNames: [Int: String]
        /// kfunc names by the call's instruction index.
        public var kfuncNames: [Int: String]

        public init(mapNames: [String] = [], functionNames: [Int: String] = [:], kfuncNames: [Int: String] = [:]) {
            self.mapNames = mapNames
            self.functionNames = functionNames
            self.kfuncNames = kfuncNames
        }
    }

    /// One line per instruction (`%4d: ` index, then the text); `lddw` takes two slots and one line.
    public static func listing(of program: [Instruction], symbols: Symbols = Symbols()) -> [String] {
        var lines: [String] = []
        var index = 0
        while index < program.count {
            let next = index + 1 < program.count ? program[index + 1] : nil
            let number = String(index)
            let padding = String(repeating: " ", count: max(0, 4 - number.count))
            lines.append(padding + number + ": " + text(of: program[index], at: index, next: next, symbols: symbols))
            index += Disassembler.slotCount(of: program[index], hasNext: next != nil)
        }
        return lines
    }

    /// The text of one instruction, `(opcode) …`. Instructions that do not decode print as the kernel's verifier
    /// does not (it refuses them first): `(ff) invalid: …` with the reason.
    public static func text(of insn: Instruction, at index: Int, next: Instruction?, symbols: Symbols = Symbols())
        -> String
    {
        let code = "(" + hex2(insn.opcode) + ") "
        let operation: Operation
        do { operation = try Operation(decoding: insn) } catch { return code + "invalid: \(error.reason)" }
        return code + body(operation, insn, at: index, next: next, symbols: symbols)
    }

    private static func body(
        _ operation: Operation, _ insn: Instruction, at index: Int, next: Instruction?, symbols: Symbols
    ) -> String {
        let dst = Int(insn.dst)
        let src = Int(insn.src)
        switch operation {
        case .alu(let kind, let width, let source):
            let r = width == .bits64 ? "r" : "w"
            let operand = source == .register ? "\(r)\(src)" : String(insn.imm)
            return "\(r)\(dst) \(assignment(kind)) \(operand)"
        case .neg(let width):
            let r = width == .bits64 ? "r" : "w"
            return "\(r)\(dst) = -\(r)\(dst)"
        case .movsx(let bits, let width):
            let r = width == .bits64 ? "r" : "w"
            return "\(r)\(dst) = (s\(bits))\(r)\(src)"
        case .byteOrder(let conversion, let bits):
            let name =
                switch conversion {
                case .toLittleEndian: "le"
                case .toBigEndian: "be"
                case .swap: "bswap"
                }
            return "r\(dst) = \(name)\(bits) r\(dst)"
        case .load(let size, let signExtend):
            return "r\(dst) = *(\(typeName(size, signed: signExtend)) *)(r\(src) \(signedOffset(insn.offset)))"
        case .store(let size, let source):
            let value = source == .register ? "r\(src)" : String(insn.imm)
            return "*(\(typeName(size, signed: false)) *)(r\(dst) \(signedOffset(insn.offset))) = \(value)"
        case .atomic(let op, let fetch, let size):
            let place = "(\(typeName(size, signed: false)) *)(r\(dst) \(signedOffset(insn.offset)))"
            let bits = size == .double ? "64" : ""
            switch op {
            case .cmpxchg: return "r0 = atomic\(bits)_cmpxchg(\(place), r0, r\(src))"
            case .xchg: return "r\(src) = atomic\(bits)_xchg(\(place), r\(src))"
            case .add, .and, .or, .xor:
                let name = "\(op)"
                if fetch { return "r\(src) = atomic\(bits)_fetch_\(name)(\(place), r\(src))" }
                let symbol = ["add": "+=", "and": "&=", "or": "|=", "xor": "^="][name] ?? "?="
                return "lock *\(place) \(symbol) r\(src)"
            }
        case .loadImmediate64(let kind):
            let low = UInt64(UInt32(bitPattern: insn.imm))
            let high = UInt64(UInt32(bitPattern: next?.imm ?? 0))
            switch kind {
            case .mapByIndex, .mapByFD:
                return "r\(dst) = map[\(mapName(Int(insn.imm), kind, symbols))]"
            case .mapValueByIndex, .mapValueByFD:
                return "r\(dst) = map[\(mapName(Int(insn.imm), kind, symbols))][0]+\(high)"
            case .codeAddress:
                let target = index + 1 + Int(insn.imm)
                let name = symbols.functionNames[target].map { "#" + $0 } ?? ""
                return "r\(dst) = func pc\(signedOffset(Int(insn.imm)))\(name)"
            case .variableAddress, .immediate:
                return "r\(dst) = 0x" + String(high << 32 | low, radix: 16)
            }
        case .legacyPacketLoad(let size, let indirect):
            let type = typeName(size, signed: false)
            return indirect ? "r0 = *(\(type) *)skb[r\(src) + \(insn.imm)]" : "r0 = *(\(type) *)skb[\(insn.imm)]"
        case .jumpAlways(let longOffset):
            return longOffset ? "gotol pc\(signedOffset(Int(insn.imm)))" : "goto pc\(signedOffset(Int(insn.offset)))"
        case .jump(let condition, let width, let source):
            let r = width == .bits64 ? "r" : "w"
            let operand = source == .register ? "\(r)\(src)" : "0x" + String(UInt32(bitPattern: insn.imm), radix: 16)
            return "if \(r)\(dst) \(comparison(condition)) \(operand) goto pc\(signedOffset(Int(insn.offset)))"
        case .call(.helper):
            let name = HelperTable.spec(id: insn.imm)?.name ?? "unknown"
            return "call \(name)#\(insn.imm)"
        case .call(.local):
            let target = index + 1 + Int(insn.imm)
            let name = symbols.functionNames[target].map { "#" + $0 } ?? ""
            return "call pc\(signedOffset(Int(insn.imm)))\(name)"
        case .call(.kfunc):
            return "call \(symbols.kfuncNames[index] ?? "kernel-function")#\(insn.imm)"
        case .callRegister:
            return "callx r\(dst)"
        case .exit:
            return "exit"
        }
    }

    private static func assignment(_ kind: ALUKind) -> String {
        switch kind {
        case .add: "+="
        case .sub: "-="
        case .mul: "*="
        case .div: "/="
        case .sdiv: "s/="
        case .or: "|="
        case .and: "&="
        case .lsh: "<<="
        case .rsh: ">>="
        case .mod: "%="
        case .smod: "s%="
        case .xor: "^="
        case .mov: "="
        case .arsh: "s>>="
        }
    }

    private static func comparison(_ condition: JumpCondition) -> String {
        switch condition {
        case .jeq: "=="
        case .jgt: ">"
        case .jge: ">="
        case .jset: "&"
        case .jne: "!="
        case .jsgt: "s>"
        case .jsge: "s>="
        case .jlt: "<"
        case .jle: "<="
        case .jslt: "s<"
        case .jsle: "s<="
        }
    }

    private static func typeName(_ size: AccessSize, signed: Bool) -> String {
        (signed ? "s" : "u") + String(size.byteCount * 8)
    }

    private static func mapName(_ index: Int, _ kind: LoadImmediateKind, _ symbols: Symbols) -> String {
        switch kind {
        case .mapByIndex, .mapValueByIndex:
            symbols.mapNames.indices.contains(index) ? "name:" + symbols.mapNames[index] : "index:\(index)"
        default: "fd:\(index)"
        }
    }

    private static func signedOffset<T: BinaryInteger>(_ value: T) -> String { value < 0 ? "\(value)" : "+\(value)" }

    private static func hex2(_ byte: UInt8) -> String {
        let digits = String(byte, radix: 16)
        return digits.count == 1 ? "0" + digits : digits
    }
}
