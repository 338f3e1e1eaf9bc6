/// Conditional jumps: decide them when the state allows, otherwise explore both sides with what each side proves
/// (scalar bounds, `data + K <= data_end` packet ranges, NULL checks).
extension VerifierRun {
    func conditionalJump(
        _ s: inout AbstractState, _ pc: Int, _ cond: BranchCondition, _ width: OperandWidth, _ source: OperandSource
    ) throws(VerifierError) -> StepResult {
        let insn = insns[pc]
        let d = Int(insn.dst)
        let sr = Int(insn.src)
        let target = pc + 1 + Int(insn.offset)
        let a = try read(s, d, pc)
        let b: RegisterState =
            source == .register
            ? try read(s, sr, pc)
            : .constant(width == .bits64 ? UInt64(bitPattern: Int64(insn.imm)) : UInt64(UInt32(bitPattern: insn.imm)))
        var taken: AbstractState? = s
        var fall: AbstractState? = s
        func prohibited(_ r: Int, _ why: String) -> VerifierError {
            makeError(
                pc, "R\(r) \(why): comparing addresses would leak them into the program's decisions", register: r,
                state: s, kernel: "R\(r) pointer comparison prohibited")
        }
        let packetKinds: Set<RegisterKind> = [.packet, .packetEnd, .packetMeta]
        let packetPair = packetKinds.contains(a.kind) && packetKinds.contains(b.kind)
        if source == .register && b.kind.isPointer && !packetPair {
            throw prohibited(sr, "is a \(b.kind.name) compared with a \(a.kind == .scalar ? "scalar" : a.kind.name)")
        }

        if a.kind == .scalar && b.kind == .scalar {
            let refine = width == .bits64 ? Scalar.refine : Scalar.refine32
            if let (ra, rb) = refine(cond, a.value, b.value) {
                setScalar(&taken!, d, a, ra)
                if source == .register { setScalar(&taken!, sr, b, rb) }
            } else {
                taken = nil
            }
            if let (ra, rb) = refine(cond.negated, a.value, b.value) {
                setScalar(&fall!, d, a, ra)
                if source == .register { setScalar(&fall!, sr, b, rb) }
            } else {
                fall = nil
            }
        } else if cond == .eq || cond == .ne, a.kind.isPointer, b.kind == .scalar, b.value.constantValue == 0 {
            if width == .bits32 || (a.kind.isNullable && source == .register) {
                // The low half of a valid pointer may be zero, and the kernel marks NULL only against an immediate
                // 0: both sides go on with the pointer as it was.
                return .branch(taken: taken, target: target, fall: fall, fallTarget: pc + 1)
            }
            // (Only 64-bit comparisons: the low half of a valid pointer may be zero, so JMP32 decides nothing.)
            // Pointer compared with NULL.
            let pointer = a.kind.isPointer ? a : b
            let isNullState: AbstractState?
            let notNullState: AbstractState?
            if pointer.kind.isNullable && pointer.offset == 0 && pointer.value.constantValue == 0 {
                var null = s
                markNull(&null, pointer, isNull: true)
                var nonNull = s
                markNull(&nonNull, pointer, isNull: false)
                isNullState = null
                notNullState = nonNull
            } else if pointer.kind.isNullable {
                isNullState = s
                notNullState = s
            } else {
                isNullState = nil
                notNullState = s
            }
            if cond == .eq {
                taken = isNullState
                fall = notNullState
            } else {
                taken = notNullState
                fall = isNullState
            }
        } else if width == .bits64, [.ugt, .uge, .ult, .ule].contains(cond),
            let (pointer, _, relation) = packetComparison(a, b, cond)
        {
            // relation: what holds in the taken branch between `pointer` and `end`.
            if let range = provenRange(pointer, relation) {
                markRange(&taken!, pointer, range, pc)
            }
            if let range = provenRange(pointer, relation.negated) {
                markRange(&fall!, pointer, range, pc)
            }
        } else if a.kind.isPointer && !packetPair {
            throw prohibited(
                d,
                "is a \(a.kind.name) compared with \(b.kind == .scalar ? "a scalar" : "a " + b.kind.name)"
                    + (a.kind.isNullable && cond != .eq && cond != .ne ? " (only == NULL / != NULL checks)" : ""))
        }
        return .branch(taken: taken, target: target, fall: fall, fallTarget: pc + 1)
    }

    /// Writes a refined scalar to a register and to every register and spill that holds the same value (same id).
    func setScalar(_ s: inout AbstractState, _ r: Int, _ old: RegisterState, _ value: Scalar) {
        var updated = old
        updated.value = value
        if old.id != 0 {
            let id = old.id
            s.forEachRegister { reg in
                if reg.kind == .scalar && reg.id == id { reg.value = value }
            }
        }
        s[register: r] = updated
    }

    func markNull(_ s: inout AbstractState, _ pointer: RegisterState, isNull: Bool) {
        let id = pointer.id
        let isReference = pointer.kind == .ringbufRecordOrNull
        s.forEachRegister { reg in
            guard reg.kind.isNullable, reg.id == id else { return }
            if isNull {
                reg = .constant(0)
            } else {
                reg.kind = reg.kind == .mapValueOrNull ? .mapValue : .ringbufRecord
            }
        }
        if isNull && isReference {
            s.references.removeAll { $0.id == pointer.referenceID }
        }
    }

    /// `pointer OP end` with a packet (or metadata) pointer on one side and its end on the other, normalised to
    /// "pointer relation end".
    func packetComparison(_ a: RegisterState, _ b: RegisterState, _ cond: BranchCondition)
        -> (RegisterState, RegisterState, BranchCondition)?
    {
        func isEnd(of p: RegisterState, _ e: RegisterState) -> Bool {
            switch p.kind {
            case .packet: return e.kind == .packetEnd
            case .packetMeta:
                return e.kind == .packet && e.offset == 0 && e.value.constantValue == 0 && e.id == 0
            default: return false
            }
        }
        if isEnd(of: a, b) { return (a, b, cond) }
        if isEnd(of: b, a) { return (b, a, cond.swapped) }
        return nil
    }

    /// Bytes after the pointer's base proven in the branch where `pointer relation end` holds.
    func provenRange(_ p: RegisterState, _ relation: BranchCondition) -> Int64? {
        let proven: Int64
        switch relation {
        case .ule, .eq: proven = p.offset  // p <= end: [base, base + off) is inside
        case .ult: proven = p.offset + 1  // p < end
        default: return nil
        }
        guard proven > 0, proven <= VerifierLimits.maxPacketOffset,
            p.value.umax <= UInt64(VerifierLimits.maxPacketOffset)
        else { return nil }
        return proven
    }

    func markRange(_ s: inout AbstractState, _ pointer: RegisterState, _ range: Int64, _ pc: Int) {
        let kind = pointer.kind
        let id = pointer.id
        s.forEachRegister { reg in
            if reg.kind == kind && reg.id == id && reg.range < range {
                reg.range = range
                reg.rangeProvenAt = Int32(pc)
            }
        }
    }
}
