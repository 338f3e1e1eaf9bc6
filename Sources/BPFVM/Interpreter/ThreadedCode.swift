#if arch(x86_64) || arch(arm64)
import CBPFDispatch

/// One instruction of direct-threaded code (unchecked runs): the address of its handler first, so dispatch is one
/// load and one indirect jump, then the operands. 24 bytes.
///
/// Jump offsets are byte distances from this instruction to the target (the handlers never need the code's base).
/// Slots the `switch` may take over at (bail-outs, `call local`) carry the program's fused decoded code in `imm` and
/// their own index in `offset`; `call local` keeps its target index in `dst`/`src`/`aux`.
struct ThreadedInstruction {
    var handler: UInt
    var imm: UInt64
    var offset: Int32
    var dst: UInt8
    var src: UInt8
    var aux: UInt8
    var spare: UInt8 = 0

    /// `MemoryLayout<ThreadedInstruction>.stride`, as a literal so it folds into the handlers' addressing.
    static var stride: Int { 24 }
}

enum ThreadedCode {
    /// Builds threaded code from the fused (unchecked) decoded code `code`, which `fastCode` holds: same slots, same
    /// indices. A bail-out slot carries `fastCode` in `imm` and its index in `offset`, so that the `switch` can take
    /// over there even after tail calls moved the run into another program.
    static func build(from code: [DecodedInstruction], fastCode: UnsafePointer<DecodedInstruction>)
        -> [ThreadedInstruction]
    {
        precondition(MemoryLayout<ThreadedInstruction>.stride == ThreadedInstruction.stride)
        let stride = Int32(ThreadedInstruction.stride)
        return code.indices.map { index in
            let insn = code[index]
            var handlerIndex = Self.handlerIndex(insn.op)
            if insn.op == .loadContext {
                switch ContextField(rawValue: insn.aux) {
                case .data: handlerIndex = UInt32(SLUICE_TC_loadData)
                case .dataEnd: handlerIndex = UInt32(SLUICE_TC_loadDataEnd)
                case .dataMeta: handlerIndex = UInt32(SLUICE_TC_loadDataMeta)
                default: break
                }
            }
            var handler: UInt { threadedHandlerTable[Int(handlerIndex)] }
            var offset = insn.offset
            switch insn.op {
            case .ja, .jeq64Imm, .jeq64Reg, .jgt64Imm, .jgt64Reg, .jge64Imm, .jge64Reg, .jset64Imm, .jset64Reg,
                .jne64Imm, .jne64Reg, .jsgt64Imm, .jsgt64Reg, .jsge64Imm, .jsge64Reg, .jlt64Imm, .jlt64Reg,
                .jle64Imm, .jle64Reg, .jslt64Imm, .jslt64Reg, .jsle64Imm, .jsle64Reg,
                .jeq32Imm, .jeq32Reg, .jgt32Imm, .jgt32Reg, .jge32Imm, .jge32Reg, .jset32Imm, .jset32Reg,
                .jne32Imm, .jne32Reg, .jsgt32Imm, .jsgt32Reg, .jsge32Imm, .jsge32Reg, .jlt32Imm, .jlt32Reg,
                .jle32Imm, .jle32Reg, .jslt32Imm, .jslt32Reg, .jsle32Imm, .jsle32Reg, .boundsCheckJgt,
                .callHelperJeqZero, .callHelperJneZero, .backEdge:
                // Absolute index → byte distance. The translator only emits targets inside the program.
                offset = (insn.offset &- Int32(index)) &* stride
            default:
                break
            }
            if insn.op == .callLocal {
                // Laid out like a bail-out slot (the `switch` takes over here when the frames run out), with the
                // target index in the three small fields.
                let target = Int(insn.offset)
                if index < 1 << 24 && target >= 0 && target < 1 << 24 {
                    return ThreadedInstruction(
                        handler: handler, imm: UInt64(UInt(bitPattern: fastCode)), offset: Int32(index),
                        dst: UInt8(truncatingIfNeeded: target), src: UInt8(truncatingIfNeeded: target >> 8),
                        aux: UInt8(truncatingIfNeeded: target >> 16))
                }
                handlerIndex = UInt32(SLUICE_TC_bail)
            }
            if handlerIndex == UInt32(SLUICE_TC_bail) {
                return ThreadedInstruction(
                    handler: handler, imm: UInt64(UInt(bitPattern: fastCode)), offset: Int32(index), dst: 0, src: 0,
                    aux: 0)
            }
            // `spare` carries the operation for handlers shared by several (the atomics).
            return ThreadedInstruction(
                handler: handler, imm: insn.imm, offset: offset, dst: insn.dst, src: insn.src, aux: insn.aux,
                spare: insn.op.rawValue)
        }
    }

    /// The handler for `op`; operations the threaded code leaves to the `switch` interpreter get the bail-out.
    static func handlerIndex(_ op: DecodedOp) -> UInt32 {
        let index: Int
        switch op {
        case .add64Imm: index = SLUICE_TC_add64Imm
        case .add64Reg: index = SLUICE_TC_add64Reg
        case .sub64Imm: index = SLUICE_TC_sub64Imm
        case .sub64Reg: index = SLUICE_TC_sub64Reg
        case .mul64Imm: index = SLUICE_TC_mul64Imm
        case .mul64Reg: index = SLUICE_TC_mul64Reg
        case .div64Imm: index = SLUICE_TC_div64Imm
        case .div64Reg: index = SLUICE_TC_div64Reg
        case .sdiv64Imm: index = SLUICE_TC_sdiv64Imm
        case .sdiv64Reg: index = SLUICE_TC_sdiv64Reg
        case .or64Imm: index = SLUICE_TC_or64Imm
        case .or64Reg: index = SLUICE_TC_or64Reg
        case .and64Imm: index = SLUICE_TC_and64Imm
        case .and64Reg: index = SLUICE_TC_and64Reg
        case .lsh64Imm: index = SLUICE_TC_lsh64Imm
        case .lsh64Reg: index = SLUICE_TC_lsh64Reg
        case .rsh64Imm: index = SLUICE_TC_rsh64Imm
        case .rsh64Reg: index = SLUICE_TC_rsh64Reg
        case .mod64Imm: index = SLUICE_TC_mod64Imm
        case .mod64Reg: index = SLUICE_TC_mod64Reg
        case .smod64Imm: index = SLUICE_TC_smod64Imm
        case .smod64Reg: index = SLUICE_TC_smod64Reg
        case .xor64Imm: index = SLUICE_TC_xor64Imm
        case .xor64Reg: index = SLUICE_TC_xor64Reg
        case .mov64Imm: index = SLUICE_TC_mov64Imm
        case .mov64Reg: index = SLUICE_TC_mov64Reg
        case .arsh64Imm: index = SLUICE_TC_arsh64Imm
        case .arsh64Reg: index = SLUICE_TC_arsh64Reg
        case .neg64: index = SLUICE_TC_neg64
        case .add32Imm: index = SLUICE_TC_add32Imm
        case .add32Reg: index = SLUICE_TC_add32Reg
        case .sub32Imm: index = SLUICE_TC_sub32Imm
        case .sub32Reg: index = SLUICE_TC_sub32Reg
        case .mul32Imm: index = SLUICE_TC_mul32Imm
        case .mul32Reg: index = SLUICE_TC_mul32Reg
        case .div32Imm: index = SLUICE_TC_div32Imm
        case .div32Reg: index = SLUICE_TC_div32Reg
        case .sdiv32Imm: index = SLUICE_TC_sdiv32Imm
        case .sdiv32Reg: index = SLUICE_TC_sdiv32Reg
        case .or32Imm: index = SLUICE_TC_or32Imm
        case .or32Reg: index = SLUICE_TC_or32Reg
        case .and32Imm: index = SLUICE_TC_and32Imm
        case .and32Reg: index = SLUICE_TC_and32Reg
        case .lsh32Imm: index = SLUICE_TC_lsh32Imm
        case .lsh32Reg: index = SLUICE_TC_lsh32Reg
        case .rsh32Imm: index = SLUICE_TC_rsh32Imm
        case .rsh32Reg: index = SLUICE_TC_rsh32Reg
        case .mod32Imm: index = SLUICE_TC_mod32Imm
        case .mod32Reg: index = SLUICE_TC_mod32Reg
        case .smod32Imm: index = SLUICE_TC_smod32Imm
        case .smod32Reg: index = SLUICE_TC_smod32Reg
        case .xor32Imm: index = SLUICE_TC_xor32Imm
        case .xor32Reg: index = SLUICE_TC_xor32Reg
        case .mov32Imm: index = SLUICE_TC_mov32Imm
        case .mov32Reg: index = SLUICE_TC_mov32Reg
        case .arsh32Imm: index = SLUICE_TC_arsh32Imm
        case .arsh32Reg: index = SLUICE_TC_arsh32Reg
        case .neg32: index = SLUICE_TC_neg32
        case .movsx8To64: index = SLUICE_TC_movsx8To64
        case .movsx16To64: index = SLUICE_TC_movsx16To64
        case .movsx32To64: index = SLUICE_TC_movsx32To64
        case .movsx8To32: index = SLUICE_TC_movsx8To32
        case .movsx16To32: index = SLUICE_TC_movsx16To32
        case .zext16: index = SLUICE_TC_zext16
        case .zext32: index = SLUICE_TC_zext32
        case .swap16: index = SLUICE_TC_swap16
        case .swap32: index = SLUICE_TC_swap32
        case .swap64: index = SLUICE_TC_swap64
        case .nop: index = SLUICE_TC_nop
        case .ldxb: index = SLUICE_TC_ldxb
        case .ldxh: index = SLUICE_TC_ldxh
        case .ldxw: index = SLUICE_TC_ldxw
        case .ldxdw: index = SLUICE_TC_ldxdw
        case .ldxsb: index = SLUICE_TC_ldxsb
        case .ldxsh: index = SLUICE_TC_ldxsh
        case .ldxsw: index = SLUICE_TC_ldxsw
        case .stb: index = SLUICE_TC_stb
        case .sth: index = SLUICE_TC_sth
        case .stw: index = SLUICE_TC_stw
        case .stdw: index = SLUICE_TC_stdw
        case .stxb: index = SLUICE_TC_stxb
        case .stxh: index = SLUICE_TC_stxh
        case .stxw: index = SLUICE_TC_stxw
        case .stxdw: index = SLUICE_TC_stxdw
        case .lddw: index = SLUICE_TC_lddw
        case .loadContext: index = SLUICE_TC_loadContext
        case .ja: index = SLUICE_TC_ja
        case .jeq64Imm: index = SLUICE_TC_jeq64Imm
        case .jeq64Reg: index = SLUICE_TC_jeq64Reg
        case .jgt64Imm: index = SLUICE_TC_jgt64Imm
        case .jgt64Reg: index = SLUICE_TC_jgt64Reg
        case .jge64Imm: index = SLUICE_TC_jge64Imm
        case .jge64Reg: index = SLUICE_TC_jge64Reg
        case .jset64Imm: index = SLUICE_TC_jset64Imm
        case .jset64Reg: index = SLUICE_TC_jset64Reg
        case .jne64Imm: index = SLUICE_TC_jne64Imm
        case .jne64Reg: index = SLUICE_TC_jne64Reg
        case .jsgt64Imm: index = SLUICE_TC_jsgt64Imm
        case .jsgt64Reg: index = SLUICE_TC_jsgt64Reg
        case .jsge64Imm: index = SLUICE_TC_jsge64Imm
        case .jsge64Reg: index = SLUICE_TC_jsge64Reg
        case .jlt64Imm: index = SLUICE_TC_jlt64Imm
        case .jlt64Reg: index = SLUICE_TC_jlt64Reg
        case .jle64Imm: index = SLUICE_TC_jle64Imm
        case .jle64Reg: index = SLUICE_TC_jle64Reg
        case .jslt64Imm: index = SLUICE_TC_jslt64Imm
        case .jslt64Reg: index = SLUICE_TC_jslt64Reg
        case .jsle64Imm: index = SLUICE_TC_jsle64Imm
        case .jsle64Reg: index = SLUICE_TC_jsle64Reg
        case .jeq32Imm: index = SLUICE_TC_jeq32Imm
        case .jeq32Reg: index = SLUICE_TC_jeq32Reg
        case .jgt32Imm: index = SLUICE_TC_jgt32Imm
        case .jgt32Reg: index = SLUICE_TC_jgt32Reg
        case .jge32Imm: index = SLUICE_TC_jge32Imm
        case .jge32Reg: index = SLUICE_TC_jge32Reg
        case .jset32Imm: index = SLUICE_TC_jset32Imm
        case .jset32Reg: index = SLUICE_TC_jset32Reg
        case .jne32Imm: index = SLUICE_TC_jne32Imm
        case .jne32Reg: index = SLUICE_TC_jne32Reg
        case .jsgt32Imm: index = SLUICE_TC_jsgt32Imm
        case .jsgt32Reg: index = SLUICE_TC_jsgt32Reg
        case .jsge32Imm: index = SLUICE_TC_jsge32Imm
        case .jsge32Reg: index = SLUICE_TC_jsge32Reg
        case .jlt32Imm: index = SLUICE_TC_jlt32Imm
        case .jlt32Reg: index = SLUICE_TC_jlt32Reg
        case .jle32Imm: index = SLUICE_TC_jle32Imm
        case .jle32Reg: index = SLUICE_TC_jle32Reg
        case .jslt32Imm: index = SLUICE_TC_jslt32Imm
        case .jslt32Reg: index = SLUICE_TC_jslt32Reg
        case .jsle32Imm: index = SLUICE_TC_jsle32Imm
        case .jsle32Reg: index = SLUICE_TC_jsle32Reg
        case .callHelper: index = SLUICE_TC_callHelper
        case .exit: index = SLUICE_TC_exit
        case .callLocal: index = SLUICE_TC_callLocal
        case .movAdd64: index = SLUICE_TC_movAdd64
        case .boundsCheckJgt: index = SLUICE_TC_boundsCheckJgt
        case .ldxhBE16: index = SLUICE_TC_ldxhBE16
        case .movRsh64: index = SLUICE_TC_movRsh64
        case .movLsh64: index = SLUICE_TC_movLsh64
        case .movAnd64: index = SLUICE_TC_movAnd64
        case .movAddReg64: index = SLUICE_TC_movAddReg64
        case .callHelperJeqZero: index = SLUICE_TC_callHelperJeqZero
        case .callHelperJneZero: index = SLUICE_TC_callHelperJneZero
        case .atomicAdd32: index = SLUICE_TC_atomicAdd32
        case .atomicAdd64: index = SLUICE_TC_atomicAdd64
        case .atomicOr32, .atomicAnd32, .atomicXor32, .atomicFetchAdd32, .atomicFetchOr32, .atomicFetchAnd32,
            .atomicFetchXor32, .atomicXchg32, .atomicCmpxchg32:
            index = SLUICE_TC_atomic32
        case .atomicOr64, .atomicAnd64, .atomicXor64, .atomicFetchAdd64, .atomicFetchOr64, .atomicFetchAnd64,
            .atomicFetchXor64, .atomicXchg64, .atomicCmpxchg64:
            index = SLUICE_TC_atomic64
        case .tailCall: index = SLUICE_TC_tailCall
        case .backEdge: index = SLUICE_TC_backEdge
        case .callRegister, .loop, .invalid: index = SLUICE_TC_bail
        }
        return UInt32(index)
    }
}

/// Runs threaded code from its first instruction. Returns where the `switch` interpreter must take over (the fused
/// decoded code of the program the run is in, the slot, and the call depth), or nil when the program exited (r0
/// holds the result).
@inline(__always)
func runThreaded(
    _ code: UnsafePointer<ThreadedInstruction>, registers: UnsafeMutablePointer<UInt64>,
    env: UnsafeMutablePointer<ExecutionEnvironment>, frames: UnsafeMutablePointer<CallFrame>
) -> (code: UnsafePointer<DecodedInstruction>, index: Int, depth: Int)? {
    var state = sluice_tc_state(resume: nil, frames: frames, depth: 0)
    sluice_tc_start(code, registers, env, &state)
    guard let resume = state.resume else { return nil }
    let bail = resume.assumingMemoryBound(to: ThreadedInstruction.self).pointee
    return (UnsafePointer(bitPattern: UInt(bail.imm)).unsafelyUnwrapped, Int(bail.offset), state.depth)
}
#endif
