/// Checks a classic program as the kernel's `bpf_check_classic` (net/core/filter.c) does before translating a socket
/// filter: a length of 1…4096, only known opcodes, no division or modulo by a constant 0, constant shifts below 32,
/// scratch-memory indexes below 16, every jump inside the program, a `ret` as the last instruction, and no load of
/// a scratch word that some path has not stored (`check_load_and_stores`).
public enum ClassicValidator {
    public static func validate(_ program: ClassicProgram) throws(FilterError) {
        let code = program.instructions
        let count = code.count
        guard count > 0 else { throw FilterError("empty classic program (the kernel refuses length 0)") }
        guard count <= ClassicOpcode.maximumLength else {
            throw FilterError("classic program of \(count) instructions is longer than BPF_MAXINSNS (4096)")
        }
        for (pc, insn) in code.enumerated() {
            guard isKnown(insn.code) else {
                throw FilterError("unknown opcode 0x\(String(insn.code, radix: 16))", instructionIndex: pc)
            }
            typealias O = ClassicOpcode
            switch insn.instructionClass {
            case O.alu where insn.code & 0x08 == O.k:
                let op = insn.code & 0xf0
                if (op == O.div || op == O.mod) && insn.k == 0 {
                    throw FilterError("\(op == O.div ? "division" : "modulo") by constant 0", instructionIndex: pc)
                }
                if (op == O.lsh || op == O.rsh) && insn.k >= 32 {
                    throw FilterError("shift by constant \(insn.k) (must be below 32)", instructionIndex: pc)
                }
            case O.ld, O.ldx:
                if insn.code & 0xe0 == O.mem && insn.k >= UInt32(O.memoryWords) {
                    throw FilterError("scratch memory index M[\(insn.k)] out of range (0…15)", instructionIndex: pc)
                }
            case O.st, O.stx:
                if insn.k >= UInt32(O.memoryWords) {
                    throw FilterError("scratch memory index M[\(insn.k)] out of range (0…15)", instructionIndex: pc)
                }
            case O.jmp:
                if insn.code & 0xf0 == O.ja {
                    guard UInt64(insn.k) < UInt64(count - pc - 1) else {
                        throw FilterError("jump by \(insn.k) leaves the program", instructionIndex: pc)
                    }
                } else {
                    guard pc + Int(insn.jt) + 1 < count, pc + Int(insn.jf) + 1 < count else {
                        throw FilterError(
                            "conditional jump (jt \(insn.jt), jf \(insn.jf)) leaves the program", instructionIndex: pc)
                    }
                }
            default: break
            }
        }
        guard code[count - 1].instructionClass == ClassicOpcode.ret else {
            throw FilterError("the last instruction is not a ret (the filter could run off its end)")
        }
        try checkLoadsAndStores(code)
    }

    /// Whether the kernel's `chk_code_allowed` knows `code`.
    public static func isKnown(_ code: UInt16) -> Bool {
        typealias O = ClassicOpcode
        switch code & 0x07 {
        case O.ld:
            return [
                O.w | O.abs, O.h | O.abs, O.b | O.abs, O.w | O.ind, O.h | O.ind, O.b | O.ind, O.w | O.len,
                O.w | O.imm, O.w | O.mem,
            ].contains(code)
        case O.ldx:
            return [O.ldx | O.w | O.len, O.ldx | O.b | O.msh, O.ldx | O.w | O.imm, O.ldx | O.w | O.mem].contains(code)
        case O.st, O.stx: return code == O.st || code == O.stx
        case O.alu:
            let op = code & 0xf0
            if op == O.neg { return code == O.alu | O.neg }
            return [O.add, O.sub, O.mul, O.div, O.or, O.and, O.lsh, O.rsh, O.mod, O.xor].contains(op)
                && code & ~0xf8 == O.alu
        case O.jmp:
            let op = code & 0xf0
            if op == O.ja { return code == O.jmp | O.ja }
            return [O.jeq, O.jgt, O.jge, O.jset].contains(op) && code & ~0xf8 == O.jmp
        case O.ret: return code == O.ret | O.k || code == O.ret | O.retA
        default: return code == O.misc | O.tax || code == O.misc | O.txa
        }
    }

    /// Every path stores M[k] before loading it: the kernel's forward pass over valid-word masks.
    static func checkLoadsAndStores(_ code: [ClassicInstruction]) throws(FilterError) {
        typealias O = ClassicOpcode
        var masks = [UInt16](repeating: 0xffff, count: code.count)
        var valid: UInt16 = 0
        for (pc, insn) in code.enumerated() {
            valid &= masks[pc]
            switch insn.instructionClass {
            case O.st, O.stx: valid |= 1 << UInt16(insn.k)
            case O.ld where insn.code & 0xe0 == O.mem, O.ldx where insn.code & 0xe0 == O.mem:
                guard valid & (1 << UInt16(insn.k)) != 0 else {
                    throw FilterError(
                        "M[\(insn.k)] is loaded before it is stored on some path", instructionIndex: pc)
                }
            case O.jmp:
                if insn.code & 0xf0 == O.ja {
                    masks[pc + 1 + Int(insn.k)] &= valid
                } else {
                    masks[pc + 1 + Int(insn.jt)] &= valid
                    masks[pc + 1 + Int(insn.jf)] &= valid
                }
                valid = 0xffff
            case O.ret: valid = 0xffff
            default: break
            }
        }
    }
}
