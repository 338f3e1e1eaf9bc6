#if arch(x86_64) || arch(arm64)
// The bodies of the direct-threaded handlers (see CBPFDispatch.h). Each is called from its C trampoline, which it is
// inlined into, and returns the next instruction's handler after moving `pc` to it. Semantics are those of the
// `switch` in Interpreter.swift, unchecked; the conformance suite runs both.
import CBPFDispatch

/// The C trampolines by `SLUICE_TC_*` index, copied once. It must be in this file: release builds compile each file
/// to its own LLVM module, and the trampolines are emitted where they are referenced, so only here can the bodies below
/// inline into them (Swift imports the C array as a tuple; reading the tuple per
/// instruction would copy it each time).
nonisolated(unsafe) let threadedHandlerTable: UnsafePointer<UInt> = {
    let count = Int(SLUICE_TC_count)
    let table = UnsafeMutablePointer<UInt>.allocate(capacity: count)
    withUnsafePointer(to: sluice_tc_handlers) {
        $0.withMemoryRebound(to: UInt.self, capacity: count) { table.update(from: $0, count: count) }
    }
    return UnsafePointer(table)
}()

typealias ThreadedPC = UnsafeMutablePointer<UnsafeRawPointer>
typealias Registers = UnsafeMutablePointer<UInt64>

extension UnsafeMutablePointer where Pointee == UnsafeRawPointer {
    /// The current instruction.
    @inline(__always) var insn: UnsafePointer<ThreadedInstruction> {
        pointee.assumingMemoryBound(to: ThreadedInstruction.self)
    }
}

extension UnsafePointer where Pointee == ThreadedInstruction {
    @inline(__always) var d: Int { Int(pointee.dst) }
    @inline(__always) var s: Int { Int(pointee.src) }
    @inline(__always) var imm: UInt64 { pointee.imm }
    @inline(__always) var offset: Int32 { pointee.offset }
}

/// Moves `slots` instructions on and returns the handler there.
@inline(__always) private func advance(_ pc: ThreadedPC, by slots: Int = 1) -> UInt {
    let next = pc.pointee + slots &* ThreadedInstruction.stride
    pc.pointee = next
    return next.load(as: UInt.self)
}

/// Moves to the jump target if `taken`, else to the next instruction, and returns the handler there.
@inline(__always) private func branch(_ pc: ThreadedPC, if taken: Bool) -> UInt {
    let next = pc.pointee + (taken ? Int(pc.insn.offset) : ThreadedInstruction.stride)
    pc.pointee = next
    return next.load(as: UInt.self)
}

@inline(__always) private func sx(_ v: UInt64) -> Int64 { Int64(bitPattern: v) }
@inline(__always) private func sx32(_ v: UInt64) -> Int32 { Int32(bitPattern: UInt32(truncatingIfNeeded: v)) }
@inline(__always) private func memory(_ base: UInt64, _ offset: Int32) -> UnsafeMutableRawPointer {
    UnsafeMutableRawPointer(bitPattern: UInt(base &+ UInt64(bitPattern: Int64(offset)))).unsafelyUnwrapped
}

// MARK: 64-bit ALU

@_silgen_name("sluice_exec_add64Imm") @inline(__always)
func threadedAdd64Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] &+= i.imm; return advance(pc)
}
@_silgen_name("sluice_exec_add64Reg") @inline(__always)
func threadedAdd64Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] &+= reg[i.s]; return advance(pc)
}
@_silgen_name("sluice_exec_sub64Imm") @inline(__always)
func threadedSub64Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] &-= i.imm; return advance(pc)
}
@_silgen_name("sluice_exec_sub64Reg") @inline(__always)
func threadedSub64Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] &-= reg[i.s]; return advance(pc)
}
@_silgen_name("sluice_exec_mul64Imm") @inline(__always)
func threadedMul64Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] &*= i.imm; return advance(pc)
}
@_silgen_name("sluice_exec_mul64Reg") @inline(__always)
func threadedMul64Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] &*= reg[i.s]; return advance(pc)
}
@_silgen_name("sluice_exec_div64Imm") @inline(__always)
func threadedDiv64Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = i.imm == 0 ? 0 : reg[i.d] / i.imm; return advance(pc)
}
@_silgen_name("sluice_exec_div64Reg") @inline(__always)
func threadedDiv64Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; let b = reg[i.s]; reg[i.d] = b == 0 ? 0 : reg[i.d] / b; return advance(pc)
}
@_silgen_name("sluice_exec_sdiv64Imm") @inline(__always)
func threadedSdiv64Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = sdiv64(reg[i.d], i.imm); return advance(pc)
}
@_silgen_name("sluice_exec_sdiv64Reg") @inline(__always)
func threadedSdiv64Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = sdiv64(reg[i.d], reg[i.s]); return advance(pc)
}
@_silgen_name("sluice_exec_or64Imm") @inline(__always)
func threadedOr64Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] |= i.imm; return advance(pc)
}
@_silgen_name("sluice_exec_or64Reg") @inline(__always)
func threadedOr64Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] |= reg[i.s]; return advance(pc)
}
@_silgen_name("sluice_exec_and64Imm") @inline(__always)
func threadedAnd64Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] &= i.imm; return advance(pc)
}
@_silgen_name("sluice_exec_and64Reg") @inline(__always)
func threadedAnd64Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] &= reg[i.s]; return advance(pc)
}
@_silgen_name("sluice_exec_lsh64Imm") @inline(__always)
func threadedLsh64Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = reg[i.d] << (i.imm & 63); return advance(pc)
}
@_silgen_name("sluice_exec_lsh64Reg") @inline(__always)
func threadedLsh64Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = reg[i.d] << (reg[i.s] & 63); return advance(pc)
}
@_silgen_name("sluice_exec_rsh64Imm") @inline(__always)
func threadedRsh64Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = reg[i.d] >> (i.imm & 63); return advance(pc)
}
@_silgen_name("sluice_exec_rsh64Reg") @inline(__always)
func threadedRsh64Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = reg[i.d] >> (reg[i.s] & 63); return advance(pc)
}
@_silgen_name("sluice_exec_mod64Imm") @inline(__always)
func threadedMod64Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; if i.imm != 0 { reg[i.d] = reg[i.d] % i.imm }; return advance(pc)
}
@_silgen_name("sluice_exec_mod64Reg") @inline(__always)
func threadedMod64Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; let b = reg[i.s]; if b != 0 { reg[i.d] = reg[i.d] % b }; return advance(pc)
}
@_silgen_name("sluice_exec_smod64Imm") @inline(__always)
func threadedSmod64Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = smod64(reg[i.d], i.imm); return advance(pc)
}
@_silgen_name("sluice_exec_smod64Reg") @inline(__always)
func threadedSmod64Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = smod64(reg[i.d], reg[i.s]); return advance(pc)
}
@_silgen_name("sluice_exec_xor64Imm") @inline(__always)
func threadedXor64Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] ^= i.imm; return advance(pc)
}
@_silgen_name("sluice_exec_xor64Reg") @inline(__always)
func threadedXor64Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] ^= reg[i.s]; return advance(pc)
}
@_silgen_name("sluice_exec_mov64Imm") @inline(__always)
func threadedMov64Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = i.imm; return advance(pc)
}
@_silgen_name("sluice_exec_mov64Reg") @inline(__always)
func threadedMov64Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = reg[i.s]; return advance(pc)
}
@_silgen_name("sluice_exec_arsh64Imm") @inline(__always)
func threadedArsh64Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(bitPattern: sx(reg[i.d]) >> (i.imm & 63)); return advance(pc)
}
@_silgen_name("sluice_exec_arsh64Reg") @inline(__always)
func threadedArsh64Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(bitPattern: sx(reg[i.d]) >> (reg[i.s] & 63)); return advance(pc)
}
@_silgen_name("sluice_exec_neg64") @inline(__always)
func threadedNeg64(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = 0 &- reg[i.d]; return advance(pc)
}

// MARK: 32-bit ALU (results zero-extended)

@_silgen_name("sluice_exec_add32Imm") @inline(__always)
func threadedAdd32Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(lo(reg[i.d]) &+ lo(i.imm)); return advance(pc)
}
@_silgen_name("sluice_exec_add32Reg") @inline(__always)
func threadedAdd32Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(lo(reg[i.d]) &+ lo(reg[i.s])); return advance(pc)
}
@_silgen_name("sluice_exec_sub32Imm") @inline(__always)
func threadedSub32Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(lo(reg[i.d]) &- lo(i.imm)); return advance(pc)
}
@_silgen_name("sluice_exec_sub32Reg") @inline(__always)
func threadedSub32Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(lo(reg[i.d]) &- lo(reg[i.s])); return advance(pc)
}
@_silgen_name("sluice_exec_mul32Imm") @inline(__always)
func threadedMul32Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(lo(reg[i.d]) &* lo(i.imm)); return advance(pc)
}
@_silgen_name("sluice_exec_mul32Reg") @inline(__always)
func threadedMul32Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(lo(reg[i.d]) &* lo(reg[i.s])); return advance(pc)
}
@_silgen_name("sluice_exec_div32Imm") @inline(__always)
func threadedDiv32Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = div32(lo(reg[i.d]), lo(i.imm)); return advance(pc)
}
@_silgen_name("sluice_exec_div32Reg") @inline(__always)
func threadedDiv32Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = div32(lo(reg[i.d]), lo(reg[i.s])); return advance(pc)
}
@_silgen_name("sluice_exec_sdiv32Imm") @inline(__always)
func threadedSdiv32Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = sdiv32(lo(reg[i.d]), lo(i.imm)); return advance(pc)
}
@_silgen_name("sluice_exec_sdiv32Reg") @inline(__always)
func threadedSdiv32Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = sdiv32(lo(reg[i.d]), lo(reg[i.s])); return advance(pc)
}
@_silgen_name("sluice_exec_or32Imm") @inline(__always)
func threadedOr32Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(lo(reg[i.d]) | lo(i.imm)); return advance(pc)
}
@_silgen_name("sluice_exec_or32Reg") @inline(__always)
func threadedOr32Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(lo(reg[i.d]) | lo(reg[i.s])); return advance(pc)
}
@_silgen_name("sluice_exec_and32Imm") @inline(__always)
func threadedAnd32Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(lo(reg[i.d]) & lo(i.imm)); return advance(pc)
}
@_silgen_name("sluice_exec_and32Reg") @inline(__always)
func threadedAnd32Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(lo(reg[i.d]) & lo(reg[i.s])); return advance(pc)
}
@_silgen_name("sluice_exec_lsh32Imm") @inline(__always)
func threadedLsh32Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(lo(reg[i.d]) << (lo(i.imm) & 31)); return advance(pc)
}
@_silgen_name("sluice_exec_lsh32Reg") @inline(__always)
func threadedLsh32Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(lo(reg[i.d]) << (lo(reg[i.s]) & 31)); return advance(pc)
}
@_silgen_name("sluice_exec_rsh32Imm") @inline(__always)
func threadedRsh32Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(lo(reg[i.d]) >> (lo(i.imm) & 31)); return advance(pc)
}
@_silgen_name("sluice_exec_rsh32Reg") @inline(__always)
func threadedRsh32Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(lo(reg[i.d]) >> (lo(reg[i.s]) & 31)); return advance(pc)
}
@_silgen_name("sluice_exec_mod32Imm") @inline(__always)
func threadedMod32Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = mod32(lo(reg[i.d]), lo(i.imm)); return advance(pc)
}
@_silgen_name("sluice_exec_mod32Reg") @inline(__always)
func threadedMod32Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = mod32(lo(reg[i.d]), lo(reg[i.s])); return advance(pc)
}
@_silgen_name("sluice_exec_smod32Imm") @inline(__always)
func threadedSmod32Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = smod32(lo(reg[i.d]), lo(i.imm)); return advance(pc)
}
@_silgen_name("sluice_exec_smod32Reg") @inline(__always)
func threadedSmod32Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = smod32(lo(reg[i.d]), lo(reg[i.s])); return advance(pc)
}
@_silgen_name("sluice_exec_xor32Imm") @inline(__always)
func threadedXor32Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(lo(reg[i.d]) ^ lo(i.imm)); return advance(pc)
}
@_silgen_name("sluice_exec_xor32Reg") @inline(__always)
func threadedXor32Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(lo(reg[i.d]) ^ lo(reg[i.s])); return advance(pc)
}
@_silgen_name("sluice_exec_mov32Imm") @inline(__always)
func threadedMov32Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(lo(i.imm)); return advance(pc)
}
@_silgen_name("sluice_exec_mov32Reg") @inline(__always)
func threadedMov32Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(lo(reg[i.s])); return advance(pc)
}
@_silgen_name("sluice_exec_arsh32Imm") @inline(__always)
func threadedArsh32Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(UInt32(bitPattern: sx32(reg[i.d]) >> (lo(i.imm) & 31))); return advance(pc)
}
@_silgen_name("sluice_exec_arsh32Reg") @inline(__always)
func threadedArsh32Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(UInt32(bitPattern: sx32(reg[i.d]) >> (lo(reg[i.s]) & 31))); return advance(pc)
}
@_silgen_name("sluice_exec_neg32") @inline(__always)
func threadedNeg32(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(0 &- lo(reg[i.d])); return advance(pc)
}

// MARK: Sign-extending moves and byte order

@_silgen_name("sluice_exec_movsx8To64") @inline(__always)
func threadedMovsx8To64(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(bitPattern: Int64(Int8(truncatingIfNeeded: reg[i.s]))); return advance(pc)
}
@_silgen_name("sluice_exec_movsx16To64") @inline(__always)
func threadedMovsx16To64(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(bitPattern: Int64(Int16(truncatingIfNeeded: reg[i.s]))); return advance(pc)
}
@_silgen_name("sluice_exec_movsx32To64") @inline(__always)
func threadedMovsx32To64(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: reg[i.s]))); return advance(pc)
}
@_silgen_name("sluice_exec_movsx8To32") @inline(__always)
func threadedMovsx8To32(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn
    reg[i.d] = UInt64(UInt32(bitPattern: Int32(Int8(truncatingIfNeeded: reg[i.s]))))
    return advance(pc)
}
@_silgen_name("sluice_exec_movsx16To32") @inline(__always)
func threadedMovsx16To32(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn
    reg[i.d] = UInt64(UInt32(bitPattern: Int32(Int16(truncatingIfNeeded: reg[i.s]))))
    return advance(pc)
}
@_silgen_name("sluice_exec_zext16") @inline(__always)
func threadedZext16(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] &= 0xffff; return advance(pc)
}
@_silgen_name("sluice_exec_zext32") @inline(__always)
func threadedZext32(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] &= 0xffff_ffff; return advance(pc)
}
@_silgen_name("sluice_exec_swap16") @inline(__always)
func threadedSwap16(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(UInt16(truncatingIfNeeded: reg[i.d]).byteSwapped); return advance(pc)
}
@_silgen_name("sluice_exec_swap32") @inline(__always)
func threadedSwap32(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(UInt32(truncatingIfNeeded: reg[i.d]).byteSwapped); return advance(pc)
}
@_silgen_name("sluice_exec_swap64") @inline(__always)
func threadedSwap64(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = reg[i.d].byteSwapped; return advance(pc)
}
@_silgen_name("sluice_exec_nop") @inline(__always)
func threadedNop(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    advance(pc)
}

// MARK: Memory

@_silgen_name("sluice_exec_ldxb") @inline(__always)
func threadedLdxb(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(memory(reg[i.s], i.offset).load(as: UInt8.self)); return advance(pc)
}
@_silgen_name("sluice_exec_ldxh") @inline(__always)
func threadedLdxh(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(memory(reg[i.s], i.offset).loadUnaligned(as: UInt16.self)); return advance(pc)
}
@_silgen_name("sluice_exec_ldxw") @inline(__always)
func threadedLdxw(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = UInt64(memory(reg[i.s], i.offset).loadUnaligned(as: UInt32.self)); return advance(pc)
}
@_silgen_name("sluice_exec_ldxdw") @inline(__always)
func threadedLdxdw(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = memory(reg[i.s], i.offset).loadUnaligned(as: UInt64.self); return advance(pc)
}
@_silgen_name("sluice_exec_ldxsb") @inline(__always)
func threadedLdxsb(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn
    reg[i.d] = UInt64(bitPattern: Int64(memory(reg[i.s], i.offset).load(as: Int8.self)))
    return advance(pc)
}
@_silgen_name("sluice_exec_ldxsh") @inline(__always)
func threadedLdxsh(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn
    reg[i.d] = UInt64(bitPattern: Int64(memory(reg[i.s], i.offset).loadUnaligned(as: Int16.self)))
    return advance(pc)
}
@_silgen_name("sluice_exec_ldxsw") @inline(__always)
func threadedLdxsw(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn
    reg[i.d] = UInt64(bitPattern: Int64(memory(reg[i.s], i.offset).loadUnaligned(as: Int32.self)))
    return advance(pc)
}
@_silgen_name("sluice_exec_stb") @inline(__always)
func threadedStb(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn
    memory(reg[i.d], i.offset).storeBytes(of: UInt8(truncatingIfNeeded: i.imm), as: UInt8.self)
    return advance(pc)
}
@_silgen_name("sluice_exec_sth") @inline(__always)
func threadedSth(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn
    memory(reg[i.d], i.offset).storeBytes(of: UInt16(truncatingIfNeeded: i.imm), as: UInt16.self)
    return advance(pc)
}
@_silgen_name("sluice_exec_stw") @inline(__always)
func threadedStw(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn
    memory(reg[i.d], i.offset).storeBytes(of: UInt32(truncatingIfNeeded: i.imm), as: UInt32.self)
    return advance(pc)
}
@_silgen_name("sluice_exec_stdw") @inline(__always)
func threadedStdw(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; memory(reg[i.d], i.offset).storeBytes(of: i.imm, as: UInt64.self); return advance(pc)
}
@_silgen_name("sluice_exec_stxb") @inline(__always)
func threadedStxb(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn
    memory(reg[i.d], i.offset).storeBytes(of: UInt8(truncatingIfNeeded: reg[i.s]), as: UInt8.self)
    return advance(pc)
}
@_silgen_name("sluice_exec_stxh") @inline(__always)
func threadedStxh(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn
    memory(reg[i.d], i.offset).storeBytes(of: UInt16(truncatingIfNeeded: reg[i.s]), as: UInt16.self)
    return advance(pc)
}
@_silgen_name("sluice_exec_stxw") @inline(__always)
func threadedStxw(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn
    memory(reg[i.d], i.offset).storeBytes(of: UInt32(truncatingIfNeeded: reg[i.s]), as: UInt32.self)
    return advance(pc)
}
@_silgen_name("sluice_exec_stxdw") @inline(__always)
func threadedStxdw(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; memory(reg[i.d], i.offset).storeBytes(of: reg[i.s], as: UInt64.self); return advance(pc)
}
@_silgen_name("sluice_exec_lddw") @inline(__always)
func threadedLddw(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = i.imm; return advance(pc, by: 2)
}
@_silgen_name("sluice_exec_loadContext") @inline(__always)
func threadedLoadContext(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn
    reg[i.d] = contextField(
        i.pointee.aux, byteOffset: i.offset, size: i.pointee.src,
        env.assumingMemoryBound(to: ExecutionEnvironment.self))
    return advance(pc)
}

// MARK: Jumps

@_silgen_name("sluice_exec_ja") @inline(__always)
func threadedJa(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    branch(pc, if: true)
}
@_silgen_name("sluice_exec_jeq64Imm") @inline(__always)
func threadedJeq64Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: reg[i.d] == i.imm)
}
@_silgen_name("sluice_exec_jeq64Reg") @inline(__always)
func threadedJeq64Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: reg[i.d] == reg[i.s])
}
@_silgen_name("sluice_exec_jgt64Imm") @inline(__always)
func threadedJgt64Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: reg[i.d] > i.imm)
}
@_silgen_name("sluice_exec_jgt64Reg") @inline(__always)
func threadedJgt64Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: reg[i.d] > reg[i.s])
}
@_silgen_name("sluice_exec_jge64Imm") @inline(__always)
func threadedJge64Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: reg[i.d] >= i.imm)
}
@_silgen_name("sluice_exec_jge64Reg") @inline(__always)
func threadedJge64Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: reg[i.d] >= reg[i.s])
}
@_silgen_name("sluice_exec_jset64Imm") @inline(__always)
func threadedJset64Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: reg[i.d] & i.imm != 0)
}
@_silgen_name("sluice_exec_jset64Reg") @inline(__always)
func threadedJset64Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: reg[i.d] & reg[i.s] != 0)
}
@_silgen_name("sluice_exec_jne64Imm") @inline(__always)
func threadedJne64Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: reg[i.d] != i.imm)
}
@_silgen_name("sluice_exec_jne64Reg") @inline(__always)
func threadedJne64Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: reg[i.d] != reg[i.s])
}
@_silgen_name("sluice_exec_jsgt64Imm") @inline(__always)
func threadedJsgt64Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: sx(reg[i.d]) > sx(i.imm))
}
@_silgen_name("sluice_exec_jsgt64Reg") @inline(__always)
func threadedJsgt64Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: sx(reg[i.d]) > sx(reg[i.s]))
}
@_silgen_name("sluice_exec_jsge64Imm") @inline(__always)
func threadedJsge64Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: sx(reg[i.d]) >= sx(i.imm))
}
@_silgen_name("sluice_exec_jsge64Reg") @inline(__always)
func threadedJsge64Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: sx(reg[i.d]) >= sx(reg[i.s]))
}
@_silgen_name("sluice_exec_jlt64Imm") @inline(__always)
func threadedJlt64Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: reg[i.d] < i.imm)
}
@_silgen_name("sluice_exec_jlt64Reg") @inline(__always)
func threadedJlt64Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: reg[i.d] < reg[i.s])
}
@_silgen_name("sluice_exec_jle64Imm") @inline(__always)
func threadedJle64Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: reg[i.d] <= i.imm)
}
@_silgen_name("sluice_exec_jle64Reg") @inline(__always)
func threadedJle64Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: reg[i.d] <= reg[i.s])
}
@_silgen_name("sluice_exec_jslt64Imm") @inline(__always)
func threadedJslt64Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: sx(reg[i.d]) < sx(i.imm))
}
@_silgen_name("sluice_exec_jslt64Reg") @inline(__always)
func threadedJslt64Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: sx(reg[i.d]) < sx(reg[i.s]))
}
@_silgen_name("sluice_exec_jsle64Imm") @inline(__always)
func threadedJsle64Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: sx(reg[i.d]) <= sx(i.imm))
}
@_silgen_name("sluice_exec_jsle64Reg") @inline(__always)
func threadedJsle64Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: sx(reg[i.d]) <= sx(reg[i.s]))
}
@_silgen_name("sluice_exec_jeq32Imm") @inline(__always)
func threadedJeq32Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: lo(reg[i.d]) == lo(i.imm))
}
@_silgen_name("sluice_exec_jeq32Reg") @inline(__always)
func threadedJeq32Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: lo(reg[i.d]) == lo(reg[i.s]))
}
@_silgen_name("sluice_exec_jgt32Imm") @inline(__always)
func threadedJgt32Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: lo(reg[i.d]) > lo(i.imm))
}
@_silgen_name("sluice_exec_jgt32Reg") @inline(__always)
func threadedJgt32Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: lo(reg[i.d]) > lo(reg[i.s]))
}
@_silgen_name("sluice_exec_jge32Imm") @inline(__always)
func threadedJge32Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: lo(reg[i.d]) >= lo(i.imm))
}
@_silgen_name("sluice_exec_jge32Reg") @inline(__always)
func threadedJge32Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: lo(reg[i.d]) >= lo(reg[i.s]))
}
@_silgen_name("sluice_exec_jset32Imm") @inline(__always)
func threadedJset32Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: lo(reg[i.d]) & lo(i.imm) != 0)
}
@_silgen_name("sluice_exec_jset32Reg") @inline(__always)
func threadedJset32Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: lo(reg[i.d]) & lo(reg[i.s]) != 0)
}
@_silgen_name("sluice_exec_jne32Imm") @inline(__always)
func threadedJne32Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: lo(reg[i.d]) != lo(i.imm))
}
@_silgen_name("sluice_exec_jne32Reg") @inline(__always)
func threadedJne32Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: lo(reg[i.d]) != lo(reg[i.s]))
}
@_silgen_name("sluice_exec_jsgt32Imm") @inline(__always)
func threadedJsgt32Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: sx32(reg[i.d]) > sx32(i.imm))
}
@_silgen_name("sluice_exec_jsgt32Reg") @inline(__always)
func threadedJsgt32Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: sx32(reg[i.d]) > sx32(reg[i.s]))
}
@_silgen_name("sluice_exec_jsge32Imm") @inline(__always)
func threadedJsge32Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: sx32(reg[i.d]) >= sx32(i.imm))
}
@_silgen_name("sluice_exec_jsge32Reg") @inline(__always)
func threadedJsge32Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: sx32(reg[i.d]) >= sx32(reg[i.s]))
}
@_silgen_name("sluice_exec_jlt32Imm") @inline(__always)
func threadedJlt32Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: lo(reg[i.d]) < lo(i.imm))
}
@_silgen_name("sluice_exec_jlt32Reg") @inline(__always)
func threadedJlt32Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: lo(reg[i.d]) < lo(reg[i.s]))
}
@_silgen_name("sluice_exec_jle32Imm") @inline(__always)
func threadedJle32Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: lo(reg[i.d]) <= lo(i.imm))
}
@_silgen_name("sluice_exec_jle32Reg") @inline(__always)
func threadedJle32Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: lo(reg[i.d]) <= lo(reg[i.s]))
}
@_silgen_name("sluice_exec_jslt32Imm") @inline(__always)
func threadedJslt32Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: sx32(reg[i.d]) < sx32(i.imm))
}
@_silgen_name("sluice_exec_jslt32Reg") @inline(__always)
func threadedJslt32Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: sx32(reg[i.d]) < sx32(reg[i.s]))
}
@_silgen_name("sluice_exec_jsle32Imm") @inline(__always)
func threadedJsle32Imm(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: sx32(reg[i.d]) <= sx32(i.imm))
}
@_silgen_name("sluice_exec_jsle32Reg") @inline(__always)
func threadedJsle32Reg(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; return branch(pc, if: sx32(reg[i.d]) <= sx32(reg[i.s]))
}

// MARK: Helper calls

@_silgen_name("sluice_exec_callHelper") @inline(__always)
func threadedCallHelper(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let function = unsafeBitCast(UInt(pc.insn.imm), to: HelperFunction.self)
    reg[0] = function(env, reg[1], reg[2], reg[3], reg[4], reg[5])
    return advance(pc)
}

// MARK: Atomics (the operation is in `spare`; the common `lock add` has its own handlers)

@_silgen_name("sluice_exec_atomicAdd32") @inline(__always)
func threadedAtomicAdd32(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; atomic32(.atomicAdd32, memory(reg[i.d], i.offset), reg, i.s); return advance(pc)
}
@_silgen_name("sluice_exec_atomicAdd64") @inline(__always)
func threadedAtomicAdd64(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; atomic64(.atomicAdd64, memory(reg[i.d], i.offset), reg, i.s); return advance(pc)
}
@_silgen_name("sluice_exec_atomic32") @inline(__always)
func threadedAtomic32(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn
    atomic32(DecodedOp(rawValue: i.pointee.spare).unsafelyUnwrapped, memory(reg[i.d], i.offset), reg, i.s)
    return advance(pc)
}
@_silgen_name("sluice_exec_atomic64") @inline(__always)
func threadedAtomic64(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn
    atomic64(DecodedOp(rawValue: i.pointee.spare).unsafelyUnwrapped, memory(reg[i.d], i.offset), reg, i.s)
    return advance(pc)
}

// MARK: Tail calls

/// `bpf_tail_call(ctx, prog_array, index)`: on success the target's threaded code runs on the same registers and
/// stack; otherwise r0 = -ENOENT and the program goes on, as in the `switch`.
@_silgen_name("sluice_exec_tailCall") @inline(__always)
func threadedTailCall(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let environment = env.assumingMemoryBound(to: ExecutionEnvironment.self)
    if let handle = tailCallTarget(reg[2], reg[3], environment), let target = handle.pointee.threadedCode {
        environment.pointee.tailCallCount += 1
        pc.pointee = target
        return target.load(as: UInt.self)
    }
    reg[0] = UInt64(bitPattern: -2)  // -ENOENT
    return advance(pc)
}

// MARK: Back edges

/// A jump to an earlier slot (the jump's operation in `aux`): when taken it charges the pass around the loop to the
/// run's budget; out of budget, it records itself and halts the run, which then reports the fault.
@_silgen_name("sluice_exec_backEdge") @inline(__always)
func threadedBackEdge(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn
    let op = DecodedOp(rawValue: i.pointee.aux).unsafelyUnwrapped
    guard jumpTaken(op, reg[i.d], jumpUsesRegister(op) ? reg[i.s] : i.imm) else { return advance(pc) }
    let environment = env.assumingMemoryBound(to: ExecutionEnvironment.self)
    // `offset` is the byte distance back to the target (<= 0): the slots spanned, this one included.
    let cost = Int64(-i.offset) / Int64(ThreadedInstruction.stride) &+ 1
    let remaining = environment.pointee.budgetRemaining &- cost
    if remaining < 0 {
        environment.pointee.budgetStoppedAt = UnsafeRawPointer(pc.pointee)
        return threadedHandlerTable[Int(SLUICE_TC_halt)]
    }
    environment.pointee.budgetRemaining = remaining
    return branch(pc, if: true)
}

// MARK: BPF-to-BPF calls (these bodies also get the run's state; returning 0 ends the threaded run)

/// `call local`: pushes a frame the `switch` understands too, then jumps to the callee. Past the frame limit it hands
/// the call to the `switch`, which reports the fault at this slot.
@_silgen_name("sluice_exec_callLocal") @inline(__always)
func threadedCallLocal(
    _ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer, _ state: UnsafeMutablePointer<sluice_tc_state>
) -> UInt {
    let depth = state.pointee.depth
    let here = pc.pointee
    guard depth + 1 < MachineState.maxFrames else {
        state.pointee.resume = here
        return 0
    }
    let i = pc.insn
    let index = Int(i.offset)
    let target = Int(i.pointee.dst) | Int(i.pointee.src) << 8 | Int(i.pointee.aux) << 16
    state.pointee.frames.assumingMemoryBound(to: CallFrame.self)[depth] = CallFrame(
        returnIndex: index + 1, code: UnsafePointer(bitPattern: UInt(i.imm)), r6: reg[6], r7: reg[7], r8: reg[8],
        r9: reg[9], r10: reg[10], threadedReturn: here + ThreadedInstruction.stride)
    state.pointee.depth = depth + 1
    reg[10] &-= UInt64(MachineState.frameStackSize)
    let next = here + (target &- index) &* ThreadedInstruction.stride
    pc.pointee = next
    return next.load(as: UInt.self)
}

/// `exit`: ends the run at depth 0, else returns to the caller with its r6–r10 restored.
@_silgen_name("sluice_exec_exit") @inline(__always)
func threadedExit(
    _ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer, _ state: UnsafeMutablePointer<sluice_tc_state>
) -> UInt {
    let depth = state.pointee.depth
    if depth == 0 { return 0 }
    let frame = state.pointee.frames.assumingMemoryBound(to: CallFrame.self)[depth - 1]
    state.pointee.depth = depth - 1
    reg[6] = frame.r6
    reg[7] = frame.r7
    reg[8] = frame.r8
    reg[9] = frame.r9
    reg[10] = frame.r10
    let next = frame.threadedReturn.unsafelyUnwrapped
    pc.pointee = next
    return next.load(as: UInt.self)
}

// MARK: Superinstructions

@_silgen_name("sluice_exec_movAdd64") @inline(__always)
func threadedMovAdd64(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = reg[i.s] &+ i.imm; return advance(pc, by: 2)
}
@_silgen_name("sluice_exec_boundsCheckJgt") @inline(__always)
func threadedBoundsCheckJgt(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn
    let end = reg[i.s] &+ i.imm
    reg[i.d] = end
    let next = pc.pointee + (end > reg[Int(i.pointee.aux)] ? Int(i.offset) : 3 &* ThreadedInstruction.stride)
    pc.pointee = next
    return next.load(as: UInt.self)
}
@_silgen_name("sluice_exec_ldxhBE16") @inline(__always)
func threadedLdxhBE16(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn
    reg[i.d] = UInt64(memory(reg[i.s], i.offset).loadUnaligned(as: UInt16.self).byteSwapped)
    return advance(pc, by: 2)
}
@_silgen_name("sluice_exec_movRsh64") @inline(__always)
func threadedMovRsh64(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = reg[i.s] >> (i.imm & 63); return advance(pc, by: 2)
}
@_silgen_name("sluice_exec_movLsh64") @inline(__always)
func threadedMovLsh64(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = reg[i.s] << (i.imm & 63); return advance(pc, by: 2)
}
@_silgen_name("sluice_exec_movAnd64") @inline(__always)
func threadedMovAnd64(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = reg[i.s] & i.imm; return advance(pc, by: 2)
}
@_silgen_name("sluice_exec_movAddReg64") @inline(__always)
func threadedMovAddReg64(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn; reg[i.d] = reg[i.s] &+ reg[Int(i.pointee.aux)]; return advance(pc, by: 2)
}

@_silgen_name("sluice_exec_callHelperJeqZero") @inline(__always)
func threadedCallHelperJeqZero(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn
    let function = unsafeBitCast(UInt(i.imm), to: HelperFunction.self)
    let result = function(env, reg[1], reg[2], reg[3], reg[4], reg[5])
    reg[0] = result
    let next = pc.pointee + (result == 0 ? Int(i.offset) : 2 &* ThreadedInstruction.stride)
    pc.pointee = next
    return next.load(as: UInt.self)
}
@_silgen_name("sluice_exec_callHelperJneZero") @inline(__always)
func threadedCallHelperJneZero(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let i = pc.insn
    let function = unsafeBitCast(UInt(i.imm), to: HelperFunction.self)
    let result = function(env, reg[1], reg[2], reg[3], reg[4], reg[5])
    reg[0] = result
    let next = pc.pointee + (result != 0 ? Int(i.offset) : 2 &* ThreadedInstruction.stride)
    pc.pointee = next
    return next.load(as: UInt.self)
}

// MARK: Context pointer loads (threaded only: the field is chosen when the code is built)

@_silgen_name("sluice_exec_loadData") @inline(__always)
func threadedLoadData(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let data = env.assumingMemoryBound(to: ExecutionEnvironment.self).pointee.data
    reg[pc.insn.d] = UInt64(UInt(bitPattern: data))
    return advance(pc)
}
@_silgen_name("sluice_exec_loadDataEnd") @inline(__always)
func threadedLoadDataEnd(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let dataEnd = env.assumingMemoryBound(to: ExecutionEnvironment.self).pointee.dataEnd
    reg[pc.insn.d] = UInt64(UInt(bitPattern: dataEnd))
    return advance(pc)
}
@_silgen_name("sluice_exec_loadDataMeta") @inline(__always)
func threadedLoadDataMeta(_ pc: ThreadedPC, _ reg: Registers, _ env: UnsafeMutableRawPointer) -> UInt {
    let dataMeta = env.assumingMemoryBound(to: ExecutionEnvironment.self).pointee.dataMeta
    reg[pc.insn.d] = UInt64(UInt(bitPattern: dataMeta))
    return advance(pc)
}
#endif
