import Synchronization

/// How memory accesses are policed. The interpreter is generic over it, so the unchecked specialisation carries no
/// bounds checks at all and the checked one checks every access.
protocol AccessPolicy {
    static var isChecked: Bool { get }
    static var countsInstructions: Bool { get }
    /// Calls the run's `InstructionObserver` before every instruction. Only `ObservedAccess` does; for every other
    /// policy the call is compiled out, so the fast paths pay nothing for it.
    static var observes: Bool { get }
}

extension AccessPolicy {
    static var observes: Bool { false }
}

/// Checked, counting, and observed: for tracing, coverage and the debugger.
enum ObservedAccess: AccessPolicy {
    static var isChecked: Bool { true }
    static var countsInstructions: Bool { true }
    static var observes: Bool { true }
}

enum UncheckedAccess: AccessPolicy {
    static var isChecked: Bool { false }
    static var countsInstructions: Bool { false }
}

/// Checked runs also count instructions, so an unverified program that never exits is stopped at the budget. Every
/// counting run checks the budget per instruction; unchecked runs charge it at back edges and `bpf_loop` re-entries.
enum CheckedAccess: AccessPolicy {
    static var isChecked: Bool { true }
    static var countsInstructions: Bool { true }
}

enum CountingCheckedAccess: AccessPolicy {
    static var isChecked: Bool { true }
    static var countsInstructions: Bool { true }
}

enum CountingUncheckedAccess: AccessPolicy {
    static var isChecked: Bool { false }
    static var countsInstructions: Bool { true }
}

/// Helper ids the interpreter implements itself because they change control flow.
enum ControlHelperID {
    static let tailCall: Int32 = 12
    static let loop: Int32 = 181
}

/// The kernel's limits.
enum KernelLimits {
    /// `MAX_TAIL_CALL_CNT`.
    static let maxTailCalls: UInt32 = 33
    /// `BPF_MAX_LOOPS` for `bpf_loop`.
    static let maxLoops: UInt64 = 1 << 23
}

/// Tags that make values the program cannot dereference recognisable: code addresses (`lddw` src 4).
public enum CodeAddress {
    /// High bits of a code address; the low 32 bits are the instruction index.
    public static let tag: UInt64 = 0xC0DE_0000_0000_0000
    @inlinable public static func make(index: Int) -> UInt64 { tag | UInt64(UInt32(truncatingIfNeeded: index)) }
    @inlinable public static func index(of value: UInt64) -> Int? {
        value & 0xFFFF_FFFF_0000_0000 == tag ? Int(UInt32(truncatingIfNeeded: value)) : nil
    }
}

@inline(__always)
private func address(_ base: UInt64, _ offset: Int32) -> UInt64 { base &+ UInt64(bitPattern: Int64(offset)) }

@inline(__always)
private func raw(_ address: UInt64) -> UnsafeMutableRawPointer {
    UnsafeMutableRawPointer(bitPattern: UInt(address)).unsafelyUnwrapped
}

/// Checked mode: may the program touch `size` bytes at `addr`?
@inline(__always)
private func accessAllowed(
    _ addr: UInt64, _ size: Int, write: Bool, env: UnsafeMutablePointer<ExecutionEnvironment>, stack: Range<UInt>
) -> ExecutionFault.Kind? {
    let start = UInt(addr)
    let (end, overflow) = start.addingReportingOverflow(UInt(size))
    if overflow { return write ? .writeOutOfBounds : .readOutOfBounds }
    if start >= stack.lowerBound && end <= stack.upperBound { return nil }
    let meta = UInt(bitPattern: env.pointee.dataMeta)
    let dataEnd = UInt(bitPattern: env.pointee.dataEnd)
    if start >= meta && end <= dataEnd && meta != 0 { return nil }
    if let regions = env.pointee.regions {
        for i in 0..<env.pointee.regionCount {
            let region = regions[i]
            if start >= region.start && end <= region.end {
                return write && !region.writable ? .writeToReadOnly : nil
            }
        }
    }
    return write ? .writeOutOfBounds : .readOutOfBounds
}

/// The interpreter loop. One `switch` over pre-decoded operations; registers, stack and frames live in unsafe memory
/// owned by `MachineState`; nothing here allocates, retains, locks or throws.
@inline(__always)
func interpret<Policy: AccessPolicy>(
    _: Policy.Type,
    entry: UnsafePointer<DecodedInstruction>,
    arguments r1: UInt64, _ r2: UInt64,
    state: borrowing MachineState,
    env: UnsafeMutablePointer<ExecutionEnvironment>,
    resumingAt start: Int? = nil, depth startDepth: Int = 0,
    observer: UnsafeMutablePointer<InstructionObserver>? = nil
) -> RunResult {
    let reg = state.registers
    let frames = state.frames
    let stackRange = state.stackRange
    var code = entry
    var pc = 0
    var depth = startDepth
    var executed: UInt64 = 0

    if let start {
        // The threaded code ran up to `start` and left the registers, stack and call frames as they are.
        pc = start
    } else {
        reg[0] = 0
        reg[1] = r1
        reg[2] = r2
        reg[10] = UInt64(UInt(bitPattern: state.stackTop))
    }

    @inline(__always) func fault(_ kind: ExecutionFault.Kind, _ addr: UInt64 = 0, _ size: Int = 0) -> RunResult {
        RunResult(
            returnValue: 0, fault: ExecutionFault(instructionIndex: pc, kind: kind, address: addr, size: size),
            instructionCount: executed)
    }

    while true {
        let insn = code[pc]
        if Policy.observes, let observer {
            observer.pointee.willExecute(
                ObservedStep(code: UnsafeRawPointer(code), index: pc, depth: depth, registers: UnsafePointer(reg)))
        }
        if Policy.countsInstructions {
            executed &+= 1
            if executed > env.pointee.instructionBudget {
                return fault(.instructionBudgetExceeded(budget: env.pointee.instructionBudget))
            }
        }
        let d = Int(insn.dst)
        let s = Int(insn.src)
        switch insn.op {
        // MARK: 64-bit ALU
        case .add64Imm: reg[d] &+= insn.imm
        case .add64Reg: reg[d] &+= reg[s]
        case .sub64Imm: reg[d] &-= insn.imm
        case .sub64Reg: reg[d] &-= reg[s]
        case .mul64Imm: reg[d] &*= insn.imm
        case .mul64Reg: reg[d] &*= reg[s]
        case .div64Imm: reg[d] = insn.imm == 0 ? 0 : reg[d] / insn.imm
        case .div64Reg: reg[d] = reg[s] == 0 ? 0 : reg[d] / reg[s]
        case .sdiv64Imm: reg[d] = sdiv64(reg[d], insn.imm)
        case .sdiv64Reg: reg[d] = sdiv64(reg[d], reg[s])
        case .or64Imm: reg[d] |= insn.imm
        case .or64Reg: reg[d] |= reg[s]
        case .and64Imm: reg[d] &= insn.imm
        case .and64Reg: reg[d] &= reg[s]
        case .lsh64Imm: reg[d] = reg[d] << (insn.imm & 63)
        case .lsh64Reg: reg[d] = reg[d] << (reg[s] & 63)
        case .rsh64Imm: reg[d] = reg[d] >> (insn.imm & 63)
        case .rsh64Reg: reg[d] = reg[d] >> (reg[s] & 63)
        case .mod64Imm: if insn.imm != 0 { reg[d] = reg[d] % insn.imm }
        case .mod64Reg: if reg[s] != 0 { reg[d] = reg[d] % reg[s] }
        case .smod64Imm: reg[d] = smod64(reg[d], insn.imm)
        case .smod64Reg: reg[d] = smod64(reg[d], reg[s])
        case .xor64Imm: reg[d] ^= insn.imm
        case .xor64Reg: reg[d] ^= reg[s]
        case .mov64Imm: reg[d] = insn.imm
        case .mov64Reg: reg[d] = reg[s]
        case .arsh64Imm: reg[d] = UInt64(bitPattern: Int64(bitPattern: reg[d]) >> (insn.imm & 63))
        case .arsh64Reg: reg[d] = UInt64(bitPattern: Int64(bitPattern: reg[d]) >> (reg[s] & 63))
        case .neg64: reg[d] = 0 &- reg[d]

        // MARK: 32-bit ALU
        case .add32Imm: reg[d] = UInt64(lo(reg[d]) &+ lo(insn.imm))
        case .add32Reg: reg[d] = UInt64(lo(reg[d]) &+ lo(reg[s]))
        case .sub32Imm: reg[d] = UInt64(lo(reg[d]) &- lo(insn.imm))
        case .sub32Reg: reg[d] = UInt64(lo(reg[d]) &- lo(reg[s]))
        case .mul32Imm: reg[d] = UInt64(lo(reg[d]) &* lo(insn.imm))
        case .mul32Reg: reg[d] = UInt64(lo(reg[d]) &* lo(reg[s]))
        case .div32Imm: reg[d] = div32(lo(reg[d]), lo(insn.imm))
        case .div32Reg: reg[d] = div32(lo(reg[d]), lo(reg[s]))
        case .sdiv32Imm: reg[d] = sdiv32(lo(reg[d]), lo(insn.imm))
        case .sdiv32Reg: reg[d] = sdiv32(lo(reg[d]), lo(reg[s]))
        case .or32Imm: reg[d] = UInt64(lo(reg[d]) | lo(insn.imm))
        case .or32Reg: reg[d] = UInt64(lo(reg[d]) | lo(reg[s]))
        case .and32Imm: reg[d] = UInt64(lo(reg[d]) & lo(insn.imm))
        case .and32Reg: reg[d] = UInt64(lo(reg[d]) & lo(reg[s]))
        case .lsh32Imm: reg[d] = UInt64(lo(reg[d]) << (lo(insn.imm) & 31))
        case .lsh32Reg: reg[d] = UInt64(lo(reg[d]) << (lo(reg[s]) & 31))
        case .rsh32Imm: reg[d] = UInt64(lo(reg[d]) >> (lo(insn.imm) & 31))
        case .rsh32Reg: reg[d] = UInt64(lo(reg[d]) >> (lo(reg[s]) & 31))
        case .mod32Imm: reg[d] = mod32(lo(reg[d]), lo(insn.imm))
        case .mod32Reg: reg[d] = mod32(lo(reg[d]), lo(reg[s]))
        case .smod32Imm: reg[d] = smod32(lo(reg[d]), lo(insn.imm))
        case .smod32Reg: reg[d] = smod32(lo(reg[d]), lo(reg[s]))
        case .xor32Imm: reg[d] = UInt64(lo(reg[d]) ^ lo(insn.imm))
        case .xor32Reg: reg[d] = UInt64(lo(reg[d]) ^ lo(reg[s]))
        case .mov32Imm: reg[d] = UInt64(lo(insn.imm))
        case .mov32Reg: reg[d] = UInt64(lo(reg[s]))
        case .arsh32Imm: reg[d] = UInt64(UInt32(bitPattern: Int32(bitPattern: lo(reg[d])) >> (lo(insn.imm) & 31)))
        case .arsh32Reg: reg[d] = UInt64(UInt32(bitPattern: Int32(bitPattern: lo(reg[d])) >> (lo(reg[s]) & 31)))
        case .neg32: reg[d] = UInt64(0 &- lo(reg[d]))

        // MARK: Sign-extending moves and byte order
        case .movsx8To64: reg[d] = UInt64(bitPattern: Int64(Int8(truncatingIfNeeded: reg[s])))
        case .movsx16To64: reg[d] = UInt64(bitPattern: Int64(Int16(truncatingIfNeeded: reg[s])))
        case .movsx32To64: reg[d] = UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: reg[s])))
        case .movsx8To32: reg[d] = UInt64(UInt32(bitPattern: Int32(Int8(truncatingIfNeeded: reg[s]))))
        case .movsx16To32: reg[d] = UInt64(UInt32(bitPattern: Int32(Int16(truncatingIfNeeded: reg[s]))))
        case .zext16: reg[d] = reg[d] & 0xffff
        case .zext32: reg[d] = reg[d] & 0xffff_ffff
        case .swap16: reg[d] = UInt64(UInt16(truncatingIfNeeded: reg[d]).byteSwapped)
        case .swap32: reg[d] = UInt64(UInt32(truncatingIfNeeded: reg[d]).byteSwapped)
        case .swap64: reg[d] = reg[d].byteSwapped
        case .nop: break

        // MARK: Loads (one case each: a shared case with an inner switch would dispatch twice)
        case .ldxb:
            let addr = address(reg[s], insn.offset)
            if Policy.isChecked, let kind = accessAllowed(addr, 1, write: false, env: env, stack: stackRange) {
                return fault(kind, addr, 1)
            }
            reg[d] = UInt64(raw(addr).load(as: UInt8.self))
        case .ldxh:
            let addr = address(reg[s], insn.offset)
            if Policy.isChecked, let kind = accessAllowed(addr, 2, write: false, env: env, stack: stackRange) {
                return fault(kind, addr, 2)
            }
            reg[d] = UInt64(raw(addr).loadUnaligned(as: UInt16.self))
        case .ldxw:
            let addr = address(reg[s], insn.offset)
            if Policy.isChecked, let kind = accessAllowed(addr, 4, write: false, env: env, stack: stackRange) {
                return fault(kind, addr, 4)
            }
            reg[d] = UInt64(raw(addr).loadUnaligned(as: UInt32.self))
        case .ldxdw:
            let addr = address(reg[s], insn.offset)
            if Policy.isChecked, let kind = accessAllowed(addr, 8, write: false, env: env, stack: stackRange) {
                return fault(kind, addr, 8)
            }
            reg[d] = raw(addr).loadUnaligned(as: UInt64.self)
        case .ldxsb:
            let addr = address(reg[s], insn.offset)
            if Policy.isChecked, let kind = accessAllowed(addr, 1, write: false, env: env, stack: stackRange) {
                return fault(kind, addr, 1)
            }
            reg[d] = UInt64(bitPattern: Int64(raw(addr).load(as: Int8.self)))
        case .ldxsh:
            let addr = address(reg[s], insn.offset)
            if Policy.isChecked, let kind = accessAllowed(addr, 2, write: false, env: env, stack: stackRange) {
                return fault(kind, addr, 2)
            }
            reg[d] = UInt64(bitPattern: Int64(raw(addr).loadUnaligned(as: Int16.self)))
        case .ldxsw:
            let addr = address(reg[s], insn.offset)
            if Policy.isChecked, let kind = accessAllowed(addr, 4, write: false, env: env, stack: stackRange) {
                return fault(kind, addr, 4)
            }
            reg[d] = UInt64(bitPattern: Int64(raw(addr).loadUnaligned(as: Int32.self)))

        // MARK: Stores
        case .stb, .stxb:
            let addr = address(reg[d], insn.offset)
            if Policy.isChecked, let kind = accessAllowed(addr, 1, write: true, env: env, stack: stackRange) {
                return fault(kind, addr, 1)
            }
            raw(addr).storeBytes(of: UInt8(truncatingIfNeeded: insn.op == .stb ? insn.imm : reg[s]), as: UInt8.self)
        case .sth, .stxh:
            let addr = address(reg[d], insn.offset)
            if Policy.isChecked, let kind = accessAllowed(addr, 2, write: true, env: env, stack: stackRange) {
                return fault(kind, addr, 2)
            }
            raw(addr).storeBytes(of: UInt16(truncatingIfNeeded: insn.op == .sth ? insn.imm : reg[s]), as: UInt16.self)
        case .stw, .stxw:
            let addr = address(reg[d], insn.offset)
            if Policy.isChecked, let kind = accessAllowed(addr, 4, write: true, env: env, stack: stackRange) {
                return fault(kind, addr, 4)
            }
            raw(addr).storeBytes(of: UInt32(truncatingIfNeeded: insn.op == .stw ? insn.imm : reg[s]), as: UInt32.self)
        case .stdw, .stxdw:
            let addr = address(reg[d], insn.offset)
            if Policy.isChecked, let kind = accessAllowed(addr, 8, write: true, env: env, stack: stackRange) {
                return fault(kind, addr, 8)
            }
            raw(addr).storeBytes(of: insn.op == .stdw ? insn.imm : reg[s], as: UInt64.self)

        // MARK: Atomics
        case .atomicAdd32, .atomicOr32, .atomicAnd32, .atomicXor32, .atomicFetchAdd32, .atomicFetchOr32,
            .atomicFetchAnd32, .atomicFetchXor32, .atomicXchg32, .atomicCmpxchg32:
            let addr = address(reg[d], insn.offset)
            if Policy.isChecked {
                if let kind = accessAllowed(addr, 4, write: true, env: env, stack: stackRange) {
                    return fault(kind, addr, 4)
                }
                if addr & 3 != 0 { return fault(.misalignedAtomic, addr, 4) }
            }
            atomic32(insn.op, raw(addr), reg, s)
        case .atomicAdd64, .atomicOr64, .atomicAnd64, .atomicXor64, .atomicFetchAdd64, .atomicFetchOr64,
            .atomicFetchAnd64, .atomicFetchXor64, .atomicXchg64, .atomicCmpxchg64:
            let addr = address(reg[d], insn.offset)
            if Policy.isChecked {
                if let kind = accessAllowed(addr, 8, write: true, env: env, stack: stackRange) {
                    return fault(kind, addr, 8)
                }
                if addr & 7 != 0 { return fault(.misalignedAtomic, addr, 8) }
            }
            atomic64(insn.op, raw(addr), reg, s)

        case .lddw:
            reg[d] = insn.imm
            pc += 2
            continue

        case .loadContext:
            reg[d] = contextField(insn.aux, byteOffset: insn.offset, size: insn.src, env)

        // MARK: Jumps
        case .ja: pc = Int(insn.offset); continue
        case .jeq64Imm: if reg[d] == insn.imm { pc = Int(insn.offset); continue }
        case .jeq64Reg: if reg[d] == reg[s] { pc = Int(insn.offset); continue }
        case .jgt64Imm: if reg[d] > insn.imm { pc = Int(insn.offset); continue }
        case .jgt64Reg: if reg[d] > reg[s] { pc = Int(insn.offset); continue }
        case .jge64Imm: if reg[d] >= insn.imm { pc = Int(insn.offset); continue }
        case .jge64Reg: if reg[d] >= reg[s] { pc = Int(insn.offset); continue }
        case .jset64Imm: if reg[d] & insn.imm != 0 { pc = Int(insn.offset); continue }
        case .jset64Reg: if reg[d] & reg[s] != 0 { pc = Int(insn.offset); continue }
        case .jne64Imm: if reg[d] != insn.imm { pc = Int(insn.offset); continue }
        case .jne64Reg: if reg[d] != reg[s] { pc = Int(insn.offset); continue }
        case .jsgt64Imm: if sx(reg[d]) > sx(insn.imm) { pc = Int(insn.offset); continue }
        case .jsgt64Reg: if sx(reg[d]) > sx(reg[s]) { pc = Int(insn.offset); continue }
        case .jsge64Imm: if sx(reg[d]) >= sx(insn.imm) { pc = Int(insn.offset); continue }
        case .jsge64Reg: if sx(reg[d]) >= sx(reg[s]) { pc = Int(insn.offset); continue }
        case .jlt64Imm: if reg[d] < insn.imm { pc = Int(insn.offset); continue }
        case .jlt64Reg: if reg[d] < reg[s] { pc = Int(insn.offset); continue }
        case .jle64Imm: if reg[d] <= insn.imm { pc = Int(insn.offset); continue }
        case .jle64Reg: if reg[d] <= reg[s] { pc = Int(insn.offset); continue }
        case .jslt64Imm: if sx(reg[d]) < sx(insn.imm) { pc = Int(insn.offset); continue }
        case .jslt64Reg: if sx(reg[d]) < sx(reg[s]) { pc = Int(insn.offset); continue }
        case .jsle64Imm: if sx(reg[d]) <= sx(insn.imm) { pc = Int(insn.offset); continue }
        case .jsle64Reg: if sx(reg[d]) <= sx(reg[s]) { pc = Int(insn.offset); continue }
        case .jeq32Imm: if lo(reg[d]) == lo(insn.imm) { pc = Int(insn.offset); continue }
        case .jeq32Reg: if lo(reg[d]) == lo(reg[s]) { pc = Int(insn.offset); continue }
        case .jgt32Imm: if lo(reg[d]) > lo(insn.imm) { pc = Int(insn.offset); continue }
        case .jgt32Reg: if lo(reg[d]) > lo(reg[s]) { pc = Int(insn.offset); continue }
        case .jge32Imm: if lo(reg[d]) >= lo(insn.imm) { pc = Int(insn.offset); continue }
        case .jge32Reg: if lo(reg[d]) >= lo(reg[s]) { pc = Int(insn.offset); continue }
        case .jset32Imm: if lo(reg[d]) & lo(insn.imm) != 0 { pc = Int(insn.offset); continue }
        case .jset32Reg: if lo(reg[d]) & lo(reg[s]) != 0 { pc = Int(insn.offset); continue }
        case .jne32Imm: if lo(reg[d]) != lo(insn.imm) { pc = Int(insn.offset); continue }
        case .jne32Reg: if lo(reg[d]) != lo(reg[s]) { pc = Int(insn.offset); continue }
        case .jsgt32Imm: if sx32(reg[d]) > sx32(insn.imm) { pc = Int(insn.offset); continue }
        case .jsgt32Reg: if sx32(reg[d]) > sx32(reg[s]) { pc = Int(insn.offset); continue }
        case .jsge32Imm: if sx32(reg[d]) >= sx32(insn.imm) { pc = Int(insn.offset); continue }
        case .jsge32Reg: if sx32(reg[d]) >= sx32(reg[s]) { pc = Int(insn.offset); continue }
        case .jlt32Imm: if lo(reg[d]) < lo(insn.imm) { pc = Int(insn.offset); continue }
        case .jlt32Reg: if lo(reg[d]) < lo(reg[s]) { pc = Int(insn.offset); continue }
        case .jle32Imm: if lo(reg[d]) <= lo(insn.imm) { pc = Int(insn.offset); continue }
        case .jle32Reg: if lo(reg[d]) <= lo(reg[s]) { pc = Int(insn.offset); continue }
        case .jslt32Imm: if sx32(reg[d]) < sx32(insn.imm) { pc = Int(insn.offset); continue }
        case .jslt32Reg: if sx32(reg[d]) < sx32(reg[s]) { pc = Int(insn.offset); continue }
        case .jsle32Imm: if sx32(reg[d]) <= sx32(insn.imm) { pc = Int(insn.offset); continue }
        case .jsle32Reg: if sx32(reg[d]) <= sx32(reg[s]) { pc = Int(insn.offset); continue }

        // MARK: Calls
        case .callHelper:
            let function = unsafeBitCast(UInt(insn.imm), to: HelperFunction.self)
            reg[0] = function(UnsafeMutableRawPointer(env), reg[1], reg[2], reg[3], reg[4], reg[5])
        case .callRegister:
            let id = reg[d]
            guard id < UInt64(env.pointee.helperTableCount), let table = env.pointee.helperTable,
                let function = table[Int(id)]
            else { return fault(.unknownHelper(id: id)) }
            reg[0] = function(UnsafeMutableRawPointer(env), reg[1], reg[2], reg[3], reg[4], reg[5])
        case .callLocal:
            guard depth + 1 < MachineState.maxFrames else { return fault(.callDepthExceeded) }
            frames[depth] = CallFrame(
                returnIndex: pc + 1, code: code, r6: reg[6], r7: reg[7], r8: reg[8], r9: reg[9], r10: reg[10])
            depth += 1
            reg[10] &-= UInt64(MachineState.frameStackSize)
            pc = Int(insn.offset)
            continue
        case .tailCall:
            // bpf_tail_call(ctx, prog_array, index): on success control does not come back.
            if let handle = tailCallTarget(reg[2], reg[3], env) {
                env.pointee.tailCallCount += 1
                code = !Policy.isChecked && !Policy.countsInstructions ? handle.pointee.fastCode : handle.pointee.code
                pc = 0
                continue
            }
            reg[0] = UInt64(bitPattern: -2)  // -ENOENT, as the kernel's helper returns when it falls through
        case .loop:
            // bpf_loop(nr_loops, callback, ctx, flags)
            let count = reg[1]
            if reg[4] != 0 {
                reg[0] = UInt64(bitPattern: -22)  // -EINVAL
            } else if count > KernelLimits.maxLoops {
                reg[0] = UInt64(bitPattern: -7)  // -E2BIG
            } else if count == 0 {
                reg[0] = 0
            } else {
                guard let callback = CodeAddress.index(of: reg[2]) else { return fault(.invalidCallback) }
                guard depth + 1 < MachineState.maxFrames else { return fault(.callDepthExceeded) }
                frames[depth] = CallFrame(
                    returnIndex: pc + 1, code: code, r6: reg[6], r7: reg[7], r8: reg[8], r9: reg[9], r10: reg[10],
                    isLoop: true, loopCallback: callback, loopIndex: 0, loopCount: count, loopContext: reg[3])
                depth += 1
                reg[10] &-= UInt64(MachineState.frameStackSize)
                reg[1] = 0
                reg[2] = frames[depth - 1].loopContext
                pc = callback
                continue
            }
        case .exit:
            if depth == 0 {
                return RunResult(returnValue: reg[0], instructionCount: executed)
            }
            let frame = frames[depth - 1]
            if frame.isLoop {
                let next = frame.loopIndex + 1
                if reg[0] == 0 && next < frame.loopCount {
                    if !Policy.countsInstructions {
                        // Each callback pass is charged like a back edge: from the callback's start to this exit.
                        let remaining =
                            env.pointee.budgetRemaining &- max(BackEdges.cost(from: frame.loopCallback, to: pc), 1)
                        if remaining < 0 {
                            return fault(.instructionBudgetExceeded(budget: env.pointee.instructionBudget))
                        }
                        env.pointee.budgetRemaining = remaining
                    }
                    frames[depth - 1].loopIndex = next
                    reg[1] = next
                    reg[2] = frame.loopContext
                    reg[10] = frame.r10 &- UInt64(MachineState.frameStackSize)
                    pc = frame.loopCallback
                    continue
                }
                reg[0] = next
            }
            depth -= 1
            reg[6] = frame.r6
            reg[7] = frame.r7
            reg[8] = frame.r8
            reg[9] = frame.r9
            reg[10] = frame.r10
            code = frame.code.unsafelyUnwrapped
            pc = frame.returnIndex
            continue
        case .movAdd64:
            reg[d] = reg[s] &+ insn.imm
            pc += 2
            continue
        case .boundsCheckJgt:
            let end = reg[s] &+ insn.imm
            reg[d] = end
            if end > reg[Int(insn.aux)] {
                pc = Int(insn.offset)
            } else {
                pc += 3
            }
            continue
        case .ldxhBE16:
            reg[d] = UInt64(raw(address(reg[s], insn.offset)).loadUnaligned(as: UInt16.self).byteSwapped)
            pc += 2
            continue
        case .movRsh64:
            reg[d] = reg[s] >> (insn.imm & 63)
            pc += 2
            continue
        case .movLsh64:
            reg[d] = reg[s] << (insn.imm & 63)
            pc += 2
            continue
        case .movAnd64:
            reg[d] = reg[s] & insn.imm
            pc += 2
            continue
        case .movAddReg64:
            reg[d] = reg[s] &+ reg[Int(insn.aux)]
            pc += 2
            continue
        case .callHelperJeqZero, .callHelperJneZero:
            let function = unsafeBitCast(UInt(insn.imm), to: HelperFunction.self)
            let result = function(UnsafeMutableRawPointer(env), reg[1], reg[2], reg[3], reg[4], reg[5])
            reg[0] = result
            pc = (result == 0) == (insn.op == .callHelperJeqZero) ? Int(insn.offset) : pc + 2
            continue
        case .backEdge:
            // Unchecked code only (counting runs use the plain code): charge the pass around the loop.
            let op = DecodedOp(rawValue: insn.aux).unsafelyUnwrapped
            if jumpTaken(op, reg[d], jumpUsesRegister(op) ? reg[s] : insn.imm) {
                let target = Int(insn.offset)
                let remaining = env.pointee.budgetRemaining &- BackEdges.cost(from: target, to: pc)
                if remaining < 0 { return fault(.instructionBudgetExceeded(budget: env.pointee.instructionBudget)) }
                env.pointee.budgetRemaining = remaining
                pc = target
                continue
            }
        case .invalid:
            return fault(.invalidInstruction)
        }
        pc += 1
    }
}

@inline(__always) func lo(_ v: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: v) }
@inline(__always) private func sx(_ v: UInt64) -> Int64 { Int64(bitPattern: v) }
@inline(__always) private func sx32(_ v: UInt64) -> Int32 { Int32(bitPattern: UInt32(truncatingIfNeeded: v)) }

@inline(__always) func sdiv64(_ a: UInt64, _ b: UInt64) -> UInt64 {
    if b == 0 { return 0 }
    return UInt64(bitPattern: Int64(bitPattern: a).dividedReportingOverflow(by: Int64(bitPattern: b)).partialValue)
}
@inline(__always) func smod64(_ a: UInt64, _ b: UInt64) -> UInt64 {
    if b == 0 { return a }
    return UInt64(bitPattern: Int64(bitPattern: a).remainderReportingOverflow(dividingBy: Int64(bitPattern: b)).partialValue)
}
@inline(__always) func div32(_ a: UInt32, _ b: UInt32) -> UInt64 { b == 0 ? 0 : UInt64(a / b) }
@inline(__always) func mod32(_ a: UInt32, _ b: UInt32) -> UInt64 { b == 0 ? UInt64(a) : UInt64(a % b) }
@inline(__always) func sdiv32(_ a: UInt32, _ b: UInt32) -> UInt64 {
    if b == 0 { return 0 }
    let q = Int32(bitPattern: a).dividedReportingOverflow(by: Int32(bitPattern: b)).partialValue
    return UInt64(UInt32(bitPattern: q))
}
@inline(__always) func smod32(_ a: UInt32, _ b: UInt32) -> UInt64 {
    if b == 0 { return UInt64(a) }
    let r = Int32(bitPattern: a).remainderReportingOverflow(dividingBy: Int32(bitPattern: b)).partialValue
    return UInt64(UInt32(bitPattern: r))
}

/// Reads an `xdp_md` field: pointers as the engine's real 64-bit addresses, scalars narrowed as the load asked
/// (`offset` = byte offset inside the field, `src` = load size).
@inline(__always)
func contextField(
    _ field: UInt8, byteOffset: Int32, size: UInt8, _ env: UnsafeMutablePointer<ExecutionEnvironment>
) -> UInt64 {
    let value: UInt64
    switch ContextField(rawValue: field) {
    case .data: return UInt64(UInt(bitPattern: env.pointee.data))
    case .dataEnd: return UInt64(UInt(bitPattern: env.pointee.dataEnd))
    case .dataMeta: return UInt64(UInt(bitPattern: env.pointee.dataMeta))
    case .ingressIfindex: value = UInt64(env.pointee.ingressIfindex)
    case .rxQueueIndex: value = UInt64(env.pointee.rxQueueIndex)
    case .egressIfindex, nil: value = 0
    }
    let shifted = value >> (UInt64(byteOffset) * 8)
    switch size {
    case 1: return shifted & 0xff
    case 2: return shifted & 0xffff
    default: return shifted & 0xffff_ffff
    }
}

/// Resolves a tail call: the PROG_ARRAY slot's program, or nil (empty slot, index out of range, limit reached).
@inline(__always)
func tailCallTarget(
    _ map: UInt64, _ index: UInt64, _ env: UnsafeMutablePointer<ExecutionEnvironment>
) -> UnsafePointer<CodeHandle>? {
    guard env.pointee.tailCallCount < KernelLimits.maxTailCalls,
        let core = UnsafePointer<MapCore>(bitPattern: UInt(map)), core.pointee.type == MapType.progArray.rawValue,
        index < UInt64(core.pointee.maxEntries)
    else { return nil }
    let slot = core.pointee.storage.load(fromByteOffset: Int(index) * 8, as: UInt.self)
    return UnsafePointer<CodeHandle>(bitPattern: slot)
}

/// A 32-bit atomic `op` on `cell` with operand `reg[s]`; fetching forms write the old value to `reg[s]`, cmpxchg to
/// r0 (compared with r0). Shared by the `switch` and the threaded code.
@inline(__always)
func atomic32(_ op: DecodedOp, _ address: UnsafeMutableRawPointer, _ reg: UnsafeMutablePointer<UInt64>, _ s: Int) {
    let cell = UnsafePointer<Atomic<UInt32>>(OpaquePointer(address))
    let operand = lo(reg[s])
    let old: UInt32
    switch op {
    case .atomicAdd32, .atomicFetchAdd32: old = cell.pointee.wrappingAdd(operand, ordering: .sequentiallyConsistent).oldValue
    case .atomicOr32, .atomicFetchOr32: old = cell.pointee.bitwiseOr(operand, ordering: .sequentiallyConsistent).oldValue
    case .atomicAnd32, .atomicFetchAnd32: old = cell.pointee.bitwiseAnd(operand, ordering: .sequentiallyConsistent).oldValue
    case .atomicXor32, .atomicFetchXor32: old = cell.pointee.bitwiseXor(operand, ordering: .sequentiallyConsistent).oldValue
    case .atomicXchg32: old = cell.pointee.exchange(operand, ordering: .sequentiallyConsistent)
    default:
        old = cell.pointee.compareExchange(
            expected: lo(reg[0]), desired: operand, ordering: .sequentiallyConsistent
        ).original
    }
    switch op {
    case .atomicCmpxchg32: reg[0] = UInt64(old)
    case .atomicFetchAdd32, .atomicFetchOr32, .atomicFetchAnd32, .atomicFetchXor32, .atomicXchg32:
        reg[s] = UInt64(old)
    default: break
    }
}

/// The 64-bit form of `atomic32`.
@inline(__always)
func atomic64(_ op: DecodedOp, _ address: UnsafeMutableRawPointer, _ reg: UnsafeMutablePointer<UInt64>, _ s: Int) {
    let cell = UnsafePointer<Atomic<UInt64>>(OpaquePointer(address))
    let operand = reg[s]
    let old: UInt64
    switch op {
    case .atomicAdd64, .atomicFetchAdd64: old = cell.pointee.wrappingAdd(operand, ordering: .sequentiallyConsistent).oldValue
    case .atomicOr64, .atomicFetchOr64: old = cell.pointee.bitwiseOr(operand, ordering: .sequentiallyConsistent).oldValue
    case .atomicAnd64, .atomicFetchAnd64: old = cell.pointee.bitwiseAnd(operand, ordering: .sequentiallyConsistent).oldValue
    case .atomicXor64, .atomicFetchXor64: old = cell.pointee.bitwiseXor(operand, ordering: .sequentiallyConsistent).oldValue
    case .atomicXchg64: old = cell.pointee.exchange(operand, ordering: .sequentiallyConsistent)
    default:
        old = cell.pointee.compareExchange(expected: reg[0], desired: operand, ordering: .sequentiallyConsistent)
            .original
    }
    switch op {
    case .atomicCmpxchg64: reg[0] = old
    case .atomicFetchAdd64, .atomicFetchOr64, .atomicFetchAnd64, .atomicFetchXor64, .atomicXchg64: reg[s] = old
    default: break
    }
}
