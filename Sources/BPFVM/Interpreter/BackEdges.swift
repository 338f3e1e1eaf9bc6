/// Marks the jumps that go back (`target <= index`) in unchecked code as `backEdge`, the only places besides
/// `bpf_loop`'s re-entry where a verified program can repeat work. The unchecked engines charge the run's budget
/// there and nowhere else, so straight-line code pays nothing for it.
///
/// A back edge is charged the slots from its target to itself: what one pass around that loop can execute in its
/// own function. Checked and counting runs use the plain code and count every instruction instead.
enum BackEdges {
    static func mark(_ code: [DecodedInstruction]) -> [DecodedInstruction] {
        var out = code
        for index in code.indices where code[index].op.isJump && Int(code[index].offset) <= index {
            out[index].aux = code[index].op.rawValue
            out[index].op = .backEdge
        }
        return out
    }

    /// Budget units one pass around the loop closed by the back edge at `index` with target `target` costs.
    @inline(__always)
    static func cost(from target: Int, to index: Int) -> Int64 { Int64(index &- target) &+ 1 }
}

extension DecodedOp {
    /// `ja` and the conditional jumps (not the fused forms, which `BackEdges.mark` runs before).
    var isJump: Bool {
        rawValue >= DecodedOp.ja.rawValue && rawValue <= DecodedOp.jsle32Reg.rawValue
    }
}

/// Whether the jump `op` is taken with `a` = dst and `b` = src register or immediate (whichever the operation uses).
/// Shared by the `switch` and the threaded code for back edges; forward jumps keep their own cases.
@inline(__always)
func jumpTaken(_ op: DecodedOp, _ a: UInt64, _ b: UInt64) -> Bool {
    let a32 = UInt32(truncatingIfNeeded: a)
    let b32 = UInt32(truncatingIfNeeded: b)
    switch op {
    case .ja: return true
    case .jeq64Imm, .jeq64Reg: return a == b
    case .jgt64Imm, .jgt64Reg: return a > b
    case .jge64Imm, .jge64Reg: return a >= b
    case .jset64Imm, .jset64Reg: return a & b != 0
    case .jne64Imm, .jne64Reg: return a != b
    case .jsgt64Imm, .jsgt64Reg: return Int64(bitPattern: a) > Int64(bitPattern: b)
    case .jsge64Imm, .jsge64Reg: return Int64(bitPattern: a) >= Int64(bitPattern: b)
    case .jlt64Imm, .jlt64Reg: return a < b
    case .jle64Imm, .jle64Reg: return a <= b
    case .jslt64Imm, .jslt64Reg: return Int64(bitPattern: a) < Int64(bitPattern: b)
    case .jsle64Imm, .jsle64Reg: return Int64(bitPattern: a) <= Int64(bitPattern: b)
    case .jeq32Imm, .jeq32Reg: return a32 == b32
    case .jgt32Imm, .jgt32Reg: return a32 > b32
    case .jge32Imm, .jge32Reg: return a32 >= b32
    case .jset32Imm, .jset32Reg: return a32 & b32 != 0
    case .jne32Imm, .jne32Reg: return a32 != b32
    case .jsgt32Imm, .jsgt32Reg: return Int32(bitPattern: a32) > Int32(bitPattern: b32)
    case .jsge32Imm, .jsge32Reg: return Int32(bitPattern: a32) >= Int32(bitPattern: b32)
    case .jlt32Imm, .jlt32Reg: return a32 < b32
    case .jle32Imm, .jle32Reg: return a32 <= b32
    case .jslt32Imm, .jslt32Reg: return Int32(bitPattern: a32) < Int32(bitPattern: b32)
    case .jsle32Imm, .jsle32Reg: return Int32(bitPattern: a32) <= Int32(bitPattern: b32)
    default: return false
    }
}

/// Whether the jump `op` compares with a register (`Reg` forms) rather than its immediate.
@inline(__always)
func jumpUsesRegister(_ op: DecodedOp) -> Bool {
    // In `DecodedOp` the jumps after `ja` alternate Imm, Reg.
    (op.rawValue &- DecodedOp.jeq64Imm.rawValue) & 1 == 1
}
