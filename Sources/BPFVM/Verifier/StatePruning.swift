/// State pruning: a path may stop at a prune point when a state stored there earlier, whose every continuation was
/// proven safe, covers it (the kernel's `states_equal`/`regsafe`/`stacksafe`). Dead registers are ignored.
extension VerifierRun {
    /// A consistent renaming of ids from the old state to the new one.
    struct IDMap {
        var pairs: [(UInt32, UInt32)] = []
        mutating func check(_ old: UInt32, _ new: UInt32) -> Bool {
            if old == 0 { return true }
            if new == 0 { return false }
            for (o, n) in pairs {
                if o == old { return n == new }
                if n == new { return false }
            }
            pairs.append((old, new))
            return true
        }
    }

    /// Live registers of frame `f` at `pc`: the top frame's from liveness, a caller's r6-r9 live after its call.
    func liveRegisters(_ state: AbstractState, frame f: Int, pc: Int) -> UInt16 {
        f == state.top ? structure.liveIn[pc] : (structure.liveIn[Int(state.frames[f + 1].callSite) + 1] & 0x3c0)
    }

    /// Whether every continuation of `new` is covered by the proven continuations of `old`. Imprecise scalars of
    /// `old` cover any scalar; `exact` compares every scalar's range (the
    /// kernel's `EXACT` mode, for loop detection against incomplete states).
    func subsumes(_ stored: Stored, _ new: AbstractState, pc: Int, exact: Bool) -> Bool {
        let old = stored.state
        guard old.frames.count == new.frames.count, old.references.count == new.references.count else { return false }
        let exact = exact || !options.precisionTracking
        let allPrecise = exact || stored.allPrecise
        var ids = IDMap()
        for f in old.frames.indices {
            let of = old.frames[f]
            let nf = new.frames[f]
            guard of.callSite == nf.callSite, of.isLoopCallback == nf.isLoopCallback,
                of.referencesAtEntry == nf.referencesAtEntry, of.callerSlotsAtEntry == nf.callerSlotsAtEntry
            else { return false }
            let live = liveRegisters(old, frame: f, pc: pc)
            let precise: UInt16 = allPrecise ? 0xffff : stored.preciseRegisters[f]
            for r in 0..<10 where live & (1 << UInt16(r)) != 0 {
                let o = of.registers[r]
                let n = nf.registers[r]
                // An imprecise scalar covers any scalar. Its id needs no check: when a register linked to it by id
                // became precise, the jump that refined both marked it precise too (`HistoryEntry.linked`).
                if o.kind == .scalar && n.kind == .scalar && precise & (1 << UInt16(r)) == 0 { continue }
                if !registerSubsumes(o, n, &ids) { return false }
            }
            let preciseSlots: UInt64 = allPrecise ? .max : stored.preciseSlots[f]
            let read: UInt64 = exact ? .max : stored.readSlots[f]
            for i in 0..<max(of.slots.count, nf.slots.count) where i >= 64 || read & (1 << UInt64(i)) != 0 {
                let os = of.slot(i)
                let ns = nf.slot(i)
                if i < 64 && preciseSlots & (1 << UInt64(i)) == 0, let ospill = os.spill, ospill.kind == .scalar,
                    os.isFullSpill
                {
                    // An imprecise scalar spill: any scalar spill, or initialised bytes when it carries no id.
                    if let nspill = ns.spill, nspill.kind == .scalar, ns.isFullSpill {
                        if !ids.check(ospill.id, nspill.id) { return false }
                        continue
                    }
                    if ospill.id == 0 && (0..<8).allSatisfy({ ns.kind(at: $0) != .invalid }) { continue }
                    return false
                }
                if !slotSubsumes(os, ns, &ids) { return false }
            }
        }
        for (o, n) in zip(old.references, new.references) where !ids.check(o.id, n.id) { return false }
        return true
    }

    func registerSubsumes(_ o: RegisterState, _ n: RegisterState, _ ids: inout IDMap) -> Bool {
        if o.kind == .notInitialised { return true }
        guard o.kind == n.kind else { return false }
        switch o.kind {
        case .scalar:
            return o.value.contains(n.value) && ids.check(o.id, n.id)
        case .context, .packetEnd:
            return true
        case .mapPointer, .codeAddress:
            return o.target == n.target
        default:
            guard o.offset == n.offset, o.target == n.target, o.size == n.size, o.value.contains(n.value) else {
                return false
            }
            if o.kind == .packet || o.kind == .packetMeta {
                guard o.range <= n.range else { return false }
            }
            return ids.check(o.id, n.id) && ids.check(o.referenceID, n.referenceID)
        }
    }

    func slotSubsumes(_ o: StackSlot, _ n: StackSlot, _ ids: inout IDMap) -> Bool {
        if o == n && o.spill == nil { return true }
        if o.isFullSpill {
            guard let ns = n.spill, n.isFullSpill else {
                // An unknown scalar spill is covered by any initialised bytes.
                if let os = o.spill, os.kind == .scalar, os.value == .unknown, os.id == 0 {
                    return (0..<8).allSatisfy { n.kind(at: $0) != .invalid }
                }
                return false
            }
            return registerSubsumes(o.spill!, ns, &ids)
        }
        // A narrow spill must be matched by the same spill, covered.
        var narrowSpillCovered = false
        if let os = o.spill {
            guard let ns = n.spill, n.spillPosition == o.spillPosition, n.spillSize == o.spillSize else { return false }
            narrowSpillCovered = registerSubsumes(os, ns, &ids)
            if !narrowSpillCovered { return false }
        }
        for b in 0..<8 {
            switch o.kind(at: b) {
            case .invalid: continue
            case .misc:
                if n.kind(at: b) == .invalid { return false }
            case .zero:
                if n.kind(at: b) != .zero {
                    if let ns = n.spill, n.isFullSpill, ns.kind == .scalar, ns.value.constantValue == 0 { continue }
                    return false
                }
            case .spill:
                if !narrowSpillCovered || n.kind(at: b) != .spill { return false }
            }
        }
        return true
    }
}
