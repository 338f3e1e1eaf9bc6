/// Fuses instruction sequences clang emits often into one dispatch (the interpreter's cost is mostly dispatch).
///
/// A fused operation replaces the first slot of its group and jumps past the group; the other slots keep their own
/// decoded form, so a jump into the middle of a group still works. Fusion is only for the unchecked path: checked
/// runs must name the faulting slot and counting runs must count every instruction, so they use the plain code.
enum Superinstructions {
    static func fuse(_ code: [DecodedInstruction]) -> [DecodedInstruction] {
        var out = code
        var i = 0
        while i + 1 < code.count {
            let a = code[i]
            let b = code[i + 1]
            if a.op == .mov64Reg, b.op == .add64Imm, b.dst == a.dst, a.src != a.dst {
                // mov d, s; add d, K  [; jgt d, e, T]
                if i + 2 < code.count, code[i + 2].op == .jgt64Reg, code[i + 2].dst == a.dst,
                    code[i + 2].src != a.dst
                {
                    let c = code[i + 2]
                    out[i] = DecodedInstruction(
                        op: .boundsCheckJgt, dst: a.dst, src: a.src, aux: c.src, offset: c.offset, imm: b.imm)
                } else {
                    out[i] = DecodedInstruction(op: .movAdd64, dst: a.dst, src: a.src, imm: b.imm)
                }
            } else if a.op == .mov64Reg, b.dst == a.dst, let op = Self.movImmFusion(b.op) {
                out[i] = DecodedInstruction(op: op, dst: a.dst, src: a.src, imm: b.imm)
            } else if a.op == .mov64Reg, b.op == .add64Reg, b.dst == a.dst, b.src != a.dst {
                out[i] = DecodedInstruction(op: .movAddReg64, dst: a.dst, src: a.src, aux: b.src)
            } else if a.op == .callHelper, b.op == .jeq64Imm || b.op == .jne64Imm, b.dst == 0, b.imm == 0 {
                out[i] = DecodedInstruction(
                    op: b.op == .jeq64Imm ? .callHelperJeqZero : .callHelperJneZero, offset: b.offset, imm: a.imm)
            } else if a.op == .ldxh, b.op == .swap16, b.dst == a.dst {
                out[i] = DecodedInstruction(op: .ldxhBE16, dst: a.dst, src: a.src, offset: a.offset)
            }
            i += 1
        }
        return out
    }

    /// `mov d, s` followed by `op d, K` fuses into the returned operation.
    private static func movImmFusion(_ op: DecodedOp) -> DecodedOp? {
        switch op {
        case .rsh64Imm: .movRsh64
        case .lsh64Imm: .movLsh64
        case .and64Imm: .movAnd64
        default: nil
        }
    }
}
