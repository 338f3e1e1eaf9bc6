/// Precision tracking, as the kernel's `mark_chain_precision`: scalars start imprecise, and state pruning ignores
/// the range of an imprecise scalar. Where a scalar's exact value decides safety (pointer arithmetic, helper
/// arguments, a conditional jump that only one side of can take, a `bpf_loop` callback's return value, a constant
/// map key on the stack), the verifier walks back through the instructions of the current path (its history) and
/// the stored states it descends from, and marks every register and stack slot that value was computed from precise
/// in those states. When the walk meets something it cannot follow (a call or return between frames, a
/// variable-offset stack write, an atomic on the stack) it falls back to marking everything precise in every
/// ancestor, as the kernel's `mark_all_scalars_precise` does: less pruning, never an unsound one.
///
/// Pruning against a stored state also marks, on the pruned path, what that state had precise
/// (`propagate_precision`): its continuation, which the pruned path shares, depends on those values.

/// One processed instruction on a path (the kernel's jump history, here kept for every instruction).
struct HistoryEntry: Sendable {
    var pc: Int32
    /// Frames on the path when the instruction ran.
    var depth: UInt8
    /// A constant-offset stack access: the frame of the slot (-1: none).
    var stackFrame: Int8 = -1
    var slot: UInt8 = 0
    var flags: UInt8 = 0
    /// Conditional jumps: registers of the top frame that share an id with a compared register (refined with it).
    var linked: UInt16 = 0

    /// A stack access whose offset is not a constant.
    static let variableStackAccess: UInt8 = 1
    /// Conditional jumps: a spill or a caller's register shares an id with a compared register.
    static let linkedOutsideTopFrame: UInt8 = 2
    /// The instruction is a jump (for the kernel's forced checkpoint after 40 jumps).
    static let isJump: UInt8 = 4
}

/// Registers and stack slots, per frame, whose value still matters while walking back.
struct PrecisionMask {
    var registers = [UInt16](repeating: 0, count: VerifierLimits.maxFrames)
    var slots = [UInt64](repeating: 0, count: VerifierLimits.maxFrames)

    var isEmpty: Bool { registers.allSatisfy { $0 == 0 } && slots.allSatisfy { $0 == 0 } }
}

extension VerifierRun {
    // MARK: Recording

    /// The history entry of the instruction at `pc`, from the state before it runs.
    func historyEntry(_ s: AbstractState, _ pc: Int) -> HistoryEntry {
        var entry = HistoryEntry(pc: Int32(pc), depth: UInt8(s.frames.count))
        guard let op = structure.operations[pc] else { return entry }
        let insn = insns[pc]
        func stackAccess(base: Int) {
            let reg = s[register: base]
            guard reg.kind == .stack else { return }
            guard let v = reg.value.constantValue else {
                entry.flags |= HistoryEntry.variableStackAccess
                return
            }
            let address = reg.offset &+ Int64(bitPattern: v) &+ Int64(insn.offset)
            guard address < 0, address >= -VerifierLimits.stackSize else { return }
            entry.stackFrame = Int8(reg.target)
            entry.slot = UInt8((-address - 1) / 8)
        }
        switch op {
        case .load: stackAccess(base: Int(insn.src))
        case .store, .atomic: stackAccess(base: Int(insn.dst))
        case .jumpAlways: entry.flags |= HistoryEntry.isJump
        case .jump(_, _, let source):
            entry.flags |= HistoryEntry.isJump
            var ids: [UInt32] = []
            for r in [Int(insn.dst)] + (source == .register ? [Int(insn.src)] : []) {
                let reg = s[register: r]
                if reg.kind == .scalar && reg.id != 0 { ids.append(reg.id) }
            }
            guard !ids.isEmpty else { break }
            let top = s.top
            for f in s.frames.indices {
                let frame = s.frames[f]
                for r in 0..<11 where frame.registers[r].kind == .scalar && ids.contains(frame.registers[r].id) {
                    if f == top {
                        entry.linked |= 1 << UInt16(r)
                    } else {
                        entry.flags |= HistoryEntry.linkedOutsideTopFrame
                    }
                }
                for slot in frame.slots {
                    if let spill = slot.spill, spill.kind == .scalar, ids.contains(spill.id) {
                        entry.flags |= HistoryEntry.linkedOutsideTopFrame
                    }
                }
            }
        default: break
        }
        return entry
    }

    /// What the instruction at `pc` needs precise before it runs (its decision depends on the exact value), given
    /// the state before it and what it produced.
    func precisionDemand(_ before: AbstractState, _ pc: Int, _ result: StepResult) -> PrecisionMask? {
        guard let op = structure.operations[pc] else { return nil }
        let insn = insns[pc]
        let d = Int(insn.dst)
        let sr = Int(insn.src)
        let top = before.top
        var mask = PrecisionMask()
        func demand(_ r: Int) {
            if before[register: r].kind == .scalar { mask.registers[top] |= 1 << UInt16(r) }
        }
        switch op {
        case .alu(let kind, _, let source):
            guard kind != .mov else { return nil }
            let operandIsPointer = source == .register && before[register: sr].kind.isPointer
            guard before[register: d].kind.isPointer || operandIsPointer else { return nil }
            demand(d)
            if source == .register { demand(sr) }
        case .jump(_, _, let source):
            guard case .branch(let taken, _, let fall, _) = result, (taken == nil) != (fall == nil) else { return nil }
            demand(d)
            if source == .register { demand(sr) }
        case .call(.helper), .call(.kfunc):
            let spec: HelperSpec? =
                op == .call(.helper)
                ? options.helper(insns[pc].imm) : program.kfuncCalls[pc].flatMap { options.kfunc($0.name) }
            // As the kernel: the arguments whose value the check reads (sizes, NULL for optional memory); an
            // `ARG_ANYTHING` number is passed on, not checked.
            if let arguments = spec?.arguments {
                for (index, kind) in arguments.prefix(5).enumerated() {
                    switch kind {
                    case .constantSize, .constantSizeOrZero, .readableMemoryOrNull, .stackOrNull: demand(index + 1)
                    default: break
                    }
                }
            } else {
                for r in 1...5 { demand(r) }
            }
            // The constant key of an array lookup, read from the stack (its NULL check is elided).
            let map = before[register: 1]
            let key = before[register: 2]
            if spec?.id == 1, map.kind == .mapPointer, Int(map.target) < program.maps.count,
                [.array, .percpuArray].contains(program.maps[Int(map.target)].type), key.kind == .stack,
                let v = key.value.constantValue
            {
                let address = key.offset &+ Int64(bitPattern: v)
                if address < 0, address >= -VerifierLimits.stackSize {
                    mask.slots[Int(key.target)] |= 1 << UInt64((-address - 1) / 8)
                }
            }
        case .call(.local):
            if globalFunction(at: pc + 1 + Int(insn.imm)) != nil { return nil }
            for r in 1...5 { demand(r) }
        case .exit:
            guard before.frames.count > 1, before.frames[top].isLoopCallback else { return nil }
            demand(0)
        default:
            return nil
        }
        return mask.isEmpty ? nil : mask
    }

    // MARK: Backtracking

    /// Marks `mask` (meaning: before the instruction after `history`) precise back through `history`, then through
    /// the stored state `parent` and its ancestors.
    func markPrecise(_ initial: PrecisionMask, history: [HistoryEntry], parent: Int, depth: Int) {
        var mask = initial
        var depth = depth
        guard backtrack(&mask, history, depth: &depth) else { return markAllPrecise(from: parent) }
        var p = parent
        while p >= 0 && !mask.isEmpty {
            guard stored[p].state.frames.count == depth else { return markAllPrecise(from: p) }
            apply(&mask, to: p)
            if mask.isEmpty { return }
            guard backtrack(&mask, stored[p].history, depth: &depth) else {
                return markAllPrecise(from: stored[p].parent)
            }
            p = stored[p].parent
        }
    }

    /// Marks in stored state `p` the scalars of `mask` not yet precise there, and keeps only those in `mask` (the
    /// history behind an already precise value was walked when it was marked).
    func apply(_ mask: inout PrecisionMask, to p: Int) {
        if stored[p].allPrecise {
            mask = PrecisionMask()
            return
        }
        let frames = stored[p].state.frames
        for f in 0..<VerifierLimits.maxFrames {
            guard f < frames.count else {
                mask.registers[f] = 0
                mask.slots[f] = 0
                continue
            }
            var regs = mask.registers[f]
            for r in 0..<11 where regs & (1 << UInt16(r)) != 0 {
                let bit = UInt16(1) << UInt16(r)
                if frames[f].registers[r].kind != .scalar || stored[p].preciseRegisters[f] & bit != 0 {
                    regs &= ~bit
                } else {
                    stored[p].preciseRegisters[f] |= bit
                }
            }
            mask.registers[f] = regs
            var slots = mask.slots[f]
            for i in 0..<64 where slots & (1 << UInt64(i)) != 0 {
                let bit = UInt64(1) << UInt64(i)
                let spill = frames[f].slot(i).spill
                if spill?.kind != .scalar || stored[p].preciseSlots[f] & bit != 0 {
                    slots &= ~bit
                } else {
                    stored[p].preciseSlots[f] |= bit
                }
            }
            mask.slots[f] = slots
        }
    }

    /// The fallback: every scalar of `p` and of its ancestors is precise.
    func markAllPrecise(from p: Int) {
        precisionFallbacks += 1
        var p = p
        while p >= 0 && !stored[p].allPrecise {
            stored[p].allPrecise = true
            p = stored[p].parent
        }
    }

    /// Walks `history` backwards, turning what matters after each instruction into what matters before it (the
    /// kernel's `backtrack_insn`). False when the walk cannot follow an instruction.
    func backtrack(_ mask: inout PrecisionMask, _ history: [HistoryEntry], depth: inout Int) -> Bool {
        var i = history.count - 1
        while i >= 0 {
            if mask.isEmpty { return true }
            let entry = history[i]
            guard Int(entry.depth) == depth else { return false }
            guard backtrackInstruction(&mask, entry, frame: depth - 1) else { return false }
            i -= 1
        }
        return true
    }

    func backtrackInstruction(_ mask: inout PrecisionMask, _ entry: HistoryEntry, frame f: Int) -> Bool {
        let pc = Int(entry.pc)
        guard let op = structure.operations[pc] else { return false }
        let insn = insns[pc]
        let d = UInt16(1) << UInt16(insn.dst)
        let s = UInt16(1) << UInt16(insn.src)
        var regs = mask.registers[f]
        defer { mask.registers[f] = regs }
        let slotBit: UInt64 = entry.stackFrame >= 0 ? 1 << UInt64(entry.slot) : 0
        let slotFrame = Int(entry.stackFrame)
        func anySlots() -> Bool { mask.slots.contains { $0 != 0 } }
        switch op {
        case .alu(let kind, _, let source):
            if kind == .mov {
                if regs & d != 0 {
                    regs &= ~d
                    if source == .register { regs |= s }
                }
            } else if regs & d != 0 && source == .register {
                regs |= s
            }
        case .neg, .byteOrder:
            break
        case .movsx:
            if regs & d != 0 { regs = (regs & ~d) | s }
        case .load:
            if regs & d != 0 {
                regs &= ~d
                // The value may come from a spill in that slot.
                if slotFrame >= 0 { mask.slots[slotFrame] |= slotBit }
            }
        case .loadImmediate64:
            regs &= ~d
        case .store(let size, let source):
            if entry.flags & HistoryEntry.variableStackAccess != 0 && anySlots() { return false }
            if slotFrame >= 0 && mask.slots[slotFrame] & slotBit != 0 {
                if size.byteCount == 8 { mask.slots[slotFrame] &= ~slotBit }
                if source == .register { regs |= s }
            }
        case .atomic(let aop, let fetch, _):
            let onStack = slotFrame >= 0 || entry.flags & HistoryEntry.variableStackAccess != 0
            let defined: UInt16 = (fetch && aop != .cmpxchg ? s : 0) | (aop == .cmpxchg ? 1 : 0)
            if onStack && (anySlots() || regs & defined != 0) { return false }
            regs &= ~defined
        case .jump(_, _, let source):
            let related = d | (source == .register ? s : 0) | entry.linked
            if entry.flags & HistoryEntry.linkedOutsideTopFrame != 0 {
                // A spill or a caller's register was refined with the compared registers: if anything outside the
                // top frame's registers (or a related register) still matters, it may be one of them.
                let elsewhere = anySlots() || mask.registers.indices.contains { $0 != f && mask.registers[$0] != 0 }
                if regs & related != 0 || elsewhere { return false }
            }
            if regs & related != 0 { regs |= related }
        case .jumpAlways:
            break
        case .call(.helper), .call(.kfunc):
            regs &= ~0b11_1111
        case .call(.local):
            // Only a global function's call stays in the frame (it is verified on its own; R0 comes back unknown).
            guard globalFunction(at: pc + 1 + Int(insn.imm)) != nil else { return false }
            regs &= ~0b11_1111
        case .exit, .callRegister, .legacyPacketLoad:
            return false
        }
        return true
    }
}

/// Stack liveness, as the kernel's read marks (`mark_reg_read` on stack slots): a stored state's slot matters for
/// pruning only if some continuation of the state reads it before writing all 8 bytes. Reads are marked on the
/// stored states the path descends from, up to the segment that wrote the slot; pruning against a state passes its
/// marks on to the pruned path's ancestors (the kernel's `propagate_liveness`). Anything whose effect depends on a
/// slot's contents counts as a read: loads, atomics, helper and global-function memory arguments (from the pointer
/// to the top of the frame, or the whole frame when the offset varies), a `bpf_loop` callback's stores into its
/// callers' frames (checked against what is spilled there) and its return (which joins the callers' slots).
extension VerifierRun {
    /// The stack slots the instruction at `pc` may read, per frame, from the state before it.
    func stackReads(_ s: AbstractState, _ pc: Int) -> [(frame: Int, slots: UInt64)] {
        guard let op = structure.operations[pc] else { return [] }
        let insn = insns[pc]
        func slots(of reg: RegisterState, offset: Int64, size: Int64?) -> (frame: Int, slots: UInt64)? {
            guard reg.kind == .stack else { return nil }
            guard let v = reg.value.constantValue else { return (Int(reg.target), .max) }
            let address = reg.offset &+ Int64(bitPattern: v) &+ offset
            guard address < 0, address >= -VerifierLimits.stackSize else { return nil }
            let low = Int((-address - 1) / 8)
            let end = size.map { max(address &+ $0 &- 1, address) } ?? -1
            let high = end < 0 ? Int((-end - 1) / 8) : 0
            var mask: UInt64 = 0
            for i in high...low where i < 64 { mask |= 1 << UInt64(i) }
            return (Int(reg.target), mask)
        }
        switch op {
        case .load(let size, _):
            return slots(of: s[register: Int(insn.src)], offset: Int64(insn.offset), size: Int64(size.byteCount))
                .map { [$0] } ?? []
        case .atomic(_, _, let size):
            return slots(of: s[register: Int(insn.dst)], offset: Int64(insn.offset), size: Int64(size.byteCount))
                .map { [$0] } ?? []
        case .store(let size, _):
            // A `bpf_loop` callback's store into a caller's frame is checked against what is spilled there.
            guard let callback = s.frames.lastIndex(where: { $0.isLoopCallback }) else { return [] }
            let target = slots(of: s[register: Int(insn.dst)], offset: Int64(insn.offset), size: Int64(size.byteCount))
            return target.map { $0.frame < callback ? [$0] : [] } ?? []
        case .call(.helper):
            // What the helper reads, as the kernel marks it: `key_size` or `value_size` bytes of a map key or value,
            // at most the size argument's maximum of a memory argument; anything else up to the frame's top.
            guard let spec = options.helper(insn.imm) else {
                return (1...5).compactMap { slots(of: s[register: $0], offset: 0, size: nil) }
            }
            var map: Int?
            var reads: [(frame: Int, slots: UInt64)] = []
            for (i, kind) in spec.arguments.enumerated() where i < 5 {
                let reg = s[register: i + 1]
                var size: Int64?
                switch kind {
                case .mapPointer:
                    if reg.kind == .mapPointer, Int(reg.target) < program.maps.count { map = Int(reg.target) }
                    continue
                case .mapKey:
                    size = map.map { Int64(program.maps[$0].keySize) }
                case .mapValue:
                    size = map.map { Int64(program.maps[$0].valueSize) }
                case .readableMemory, .readableMemoryOrNull, .writableMemory:
                    if i + 2 <= 5 {
                        let bound = s[register: i + 2].value.umax
                        if bound < UInt64(VerifierLimits.stackSize) { size = Int64(bound) }
                    }
                default:
                    break
                }
                if let read = slots(of: reg, offset: 0, size: size) { reads.append(read) }
            }
            return reads
        case .call(.kfunc), .call(.local):
            if case .call(.local) = op, globalFunction(at: pc + 1 + Int(insn.imm)) == nil { return [] }
            return (1...5).compactMap { slots(of: s[register: $0], offset: 0, size: nil) }
        case .exit:
            guard s.frames.count > 1, s.frames[s.top].isLoopCallback else { return [] }
            return (0..<s.top).map { ($0, .max) }
        default:
            return []
        }
    }

    /// Whether a segment of history wrote all 8 bytes of the slot (so reads after it do not reach further back).
    func writesSlot(_ history: [HistoryEntry], frame: Int, slot: Int) -> Bool {
        for entry in history where Int(entry.stackFrame) == frame && Int(entry.slot) == slot {
            if case .store(let size, _)? = structure.operations[Int(entry.pc)], size.byteCount == 8 { return true }
        }
        return false
    }

    /// Marks `slots` of `frame` read on the stored states a path (its `history` since `parent`) descends from.
    func markStackRead(frame: Int, slots: UInt64, history: [HistoryEntry], parent: Int) {
        var remaining = slots
        for i in 0..<64 where remaining & (1 << UInt64(i)) != 0 && writesSlot(history, frame: frame, slot: i) {
            remaining &= ~(1 << UInt64(i))
        }
        var p = parent
        while p >= 0 && remaining != 0 && frame < stored[p].state.frames.count {
            remaining &= ~stored[p].readSlots[frame]
            stored[p].readSlots[frame] |= remaining
            for i in 0..<64 where remaining & (1 << UInt64(i)) != 0 {
                if writesSlot(stored[p].history, frame: frame, slot: i) { remaining &= ~(1 << UInt64(i)) }
            }
            p = stored[p].parent
        }
    }
}
