/// The static shape of a program, checked before any path is explored (the kernel's `check_subprogs` and
/// `check_cfg`): decodable instructions, whole `lddw` pairs, jumps inside their sub-program and onto instruction
/// starts, no unreachable instructions, no falling off a sub-program's end; plus register liveness, which lets
/// state pruning ignore dead registers (precision is tracked on the paths: `Precision.swift`).
struct ProgramStructure {
    let operations: [Operation?]
    /// Sub-program entries, ascending (0 first).
    let subprograms: [Int]
    /// Sub-program index of each instruction.
    let subprogramOf: [Int]
    /// Where states are compared and may be stored, as the kernel's `mark_prune_point`: conditional jumps and
    /// their targets, targets of unconditional jumps, the instruction after a call, BPF-to-BPF calls and their
    /// callees' entries.
    let isPrunePoint: [Bool]
    /// Registers possibly read before written from each instruction on (bit r).
    let liveIn: [UInt16]
    /// Static call graph: callees (sub-program indices) of each sub-program, including `bpf_loop` callbacks.
    let callees: [Set<Int>]

    /// `helperArguments`: how many argument registers a helper reads (its `HelperSpec`), nil when unknown; a call
    /// keeps only those live, as the kernel's `compute_live_registers` does from the helper's prototype.
    init(
        _ program: ProgramSpec, helperArguments: (Int32) -> Int? = { _ in nil },
        error: (Int, String) -> VerifierError
    ) throws(VerifierError) {
        let insns = program.instructions
        let count = insns.count
        guard count > 0 else { throw error(0, "the program has no instructions") }
        var operations = [Operation?](repeating: nil, count: count)
        var secondSlot = [Bool](repeating: false, count: count)
        var entries: Set<Int> = [0]
        var pc = 0
        while pc < count {
            let op: Operation
            do { op = try Operation(decoding: insns[pc]) } catch let e { throw error(pc, e.description) }
            operations[pc] = op
            let second = op.isWide && pc + 1 < count ? Instruction(opcode: 0, imm: insns[pc + 1].imm) : nil
            if !(op.isWide && second == nil) && !op.isCanonical(insns[pc], secondSlot: second) {
                throw error(pc, "reserved fields must be zero: \(Disassembler.text(of: insns[pc], next: second))")
            }
            switch op {
            case .loadImmediate64(let kind):
                guard pc + 1 < count else { throw error(pc, "lddw is truncated: its second slot is missing") }
                let next = insns[pc + 1]
                guard next.opcode == 0, next.dst == 0, next.src == 0, next.offset == 0 else {
                    throw error(pc + 1, "the second slot of lddw must have opcode, registers and offset 0")
                }
                secondSlot[pc + 1] = true
                if kind == .codeAddress {
                    let t = pc + 1 + Int(insns[pc].imm)
                    guard t >= 0 && t < count else { throw error(pc, "code address \(t) is outside the program") }
                    entries.insert(t)
                }
                pc += 2
                continue
            case .call(.local):
                let t = pc + 1 + Int(insns[pc].imm)
                guard t >= 0 && t < count else {
                    throw error(pc, "call target \(t) is outside the program (0..<\(count))")
                }
                entries.insert(t)
            case .legacyPacketLoad:
                throw error(pc, "legacy packet access (ldabs/ldind) is not allowed in XDP programs")
            default: break
            }
            pc += 1
        }
        for e in entries where secondSlot[e] { throw error(e, "a call or code address targets the middle of an lddw") }
        let subprograms = entries.sorted()
        var subprogramOf = [Int](repeating: 0, count: count)
        for (i, start) in subprograms.enumerated() {
            let end = i + 1 < subprograms.count ? subprograms[i + 1] : count
            for j in start..<end { subprogramOf[j] = i }
        }

        // Successors, jump checks, prune points.
        var successors = [[Int]](repeating: [], count: count)
        var isPrunePoint = [Bool](repeating: false, count: count)
        var callees = [Set<Int>](repeating: [], count: subprograms.count)
        func jumpTarget(_ from: Int, _ distance: Int) throws(VerifierError) -> Int {
            let t = from + 1 + distance
            guard t >= 0 && t < count else {
                throw error(from, "jump target \(t) is outside the program (0..<\(count))")
            }
            guard !secondSlot[t] else { throw error(from, "jump target \(t) is the middle of an lddw") }
            guard subprogramOf[t] == subprogramOf[from] else {
                throw error(
                    from,
                    "jump from sub-program at \(subprograms[subprogramOf[from]]) into another at "
                        + "\(subprograms[subprogramOf[t]]) (instruction \(t))")
            }
            return t
        }
        for pc in 0..<count where !secondSlot[pc] {
            guard let op = operations[pc] else { continue }
            let insn = insns[pc]
            let width = op.isWide ? 2 : 1
            let next = pc + width
            let lastOfSubprogram = next >= count || subprogramOf[next] != subprogramOf[pc]
            func fallThrough() throws(VerifierError) {
                guard !lastOfSubprogram else {
                    throw error(
                        pc,
                        "execution falls off the end of the "
                            + (subprogramOf[pc] == 0 ? "program" : "sub-program at \(subprograms[subprogramOf[pc]])")
                            + ": the last instruction must be exit or a jump")
                }
                successors[pc].append(next)
            }
            switch op {
            case .exit: break
            case .jumpAlways(let long):
                let t = try jumpTarget(pc, long ? Int(insn.imm) : Int(insn.offset))
                successors[pc].append(t)
                isPrunePoint[t] = true
            case .jump:
                let t = try jumpTarget(pc, Int(insn.offset))
                successors[pc].append(t)
                isPrunePoint[pc] = true
                isPrunePoint[t] = true
                try fallThrough()
            case .call(.local):
                callees[subprogramOf[pc]].insert(subprogramOf[pc + 1 + Int(insn.imm)])
                try fallThrough()
                isPrunePoint[pc] = true
                isPrunePoint[next] = true
                isPrunePoint[pc + 1 + Int(insn.imm)] = true
            case .call:
                try fallThrough()
                isPrunePoint[next] = true
            case .loadImmediate64(.codeAddress):
                callees[subprogramOf[pc]].insert(subprogramOf[pc + 1 + Int(insn.imm)])
                try fallThrough()
            default:
                try fallThrough()
            }
        }

        // Reachability: every instruction of every sub-program reachable from its entry.
        var reached = [Bool](repeating: false, count: count)
        var work = subprograms
        for e in subprograms { reached[e] = true }
        while let pc = work.popLast() {
            for s in successors[pc] where !reached[s] {
                reached[s] = true
                work.append(s)
            }
        }
        for pc in 0..<count where !secondSlot[pc] && !reached[pc] {
            var unreachable = error(pc, "unreachable instruction: no path from the start of its function leads here")
            unreachable.kernelReason = "unreachable insn \(pc)"
            throw unreachable
        }
        // Sub-programs that are never called are unreachable code too.
        var calledSubprograms: Set<Int> = [0]
        var pending = [0]
        while let s = pending.popLast() {
            for c in callees[s] where !calledSubprograms.contains(c) {
                calledSubprograms.insert(c)
                pending.append(c)
            }
        }
        if let dead = subprograms.indices.first(where: { !calledSubprograms.contains($0) }) {
            throw error(
                subprograms[dead], "unreachable instruction: the function at \(subprograms[dead]) is never called")
        }

        // Liveness (backward, to a fixed point).
        var uses = [UInt16](repeating: 0, count: count)
        var defs = [UInt16](repeating: 0, count: count)
        for pc in 0..<count where !secondSlot[pc] {
            guard let op = operations[pc] else { continue }
            let d = UInt16(1) << UInt16(insns[pc].dst)
            let s = UInt16(1) << UInt16(insns[pc].src)
            let args: UInt16 = 0b11_1110
            let clobbered: UInt16 = 0b11_1111
            switch op {
            case .alu(let kind, _, let source):
                uses[pc] = (kind == .mov ? 0 : d) | (source == .register ? s : 0)
                defs[pc] = d
            case .neg, .byteOrder:
                uses[pc] = d
                defs[pc] = d
            case .movsx:
                uses[pc] = s
                defs[pc] = d
            case .load:
                uses[pc] = s
                defs[pc] = d
            case .store(_, let source):
                uses[pc] = d | (source == .register ? s : 0)
            case .atomic(let aop, let fetch, _):
                uses[pc] = d | s | (aop == .cmpxchg ? 1 : 0)
                defs[pc] = (fetch && aop != .cmpxchg ? s : 0) | (aop == .cmpxchg ? 1 : 0)
            case .loadImmediate64:
                defs[pc] = d
            case .jump(_, _, let source):
                uses[pc] = d | (source == .register ? s : 0)
            case .call(.helper):
                let count = helperArguments(insns[pc].imm).map { min(max($0, 0), 5) } ?? 5
                uses[pc] = args & ((UInt16(1) << UInt16(count + 1)) - 1)
                defs[pc] = clobbered
            case .call, .callRegister:
                uses[pc] = args | (op == .callRegister ? d : 0)
                defs[pc] = clobbered
            case .exit:
                uses[pc] = 1
            case .jumpAlways, .legacyPacketLoad:
                break
            }
        }
        var liveIn = [UInt16](repeating: 0, count: count)
        var changed = true
        while changed {
            changed = false
            for pc in stride(from: count - 1, through: 0, by: -1) where !secondSlot[pc] {
                var out: UInt16 = 0
                for s in successors[pc] { out |= liveIn[s] }
                let value = uses[pc] | (out & ~defs[pc])
                if value != liveIn[pc] {
                    liveIn[pc] = value
                    changed = true
                }
            }
        }

        self.operations = operations
        self.subprograms = subprograms
        self.subprogramOf = subprogramOf
        self.isPrunePoint = isPrunePoint
        self.liveIn = liveIn
        self.callees = callees
    }
}
