/// Helper and kfunc calls, checked against the argument and return kinds of `HelperSpec`.
extension VerifierRun {
    func helperCall(_ s: inout AbstractState, _ pc: Int, id: Int32) throws(VerifierError) -> StepResult {
        guard let spec = options.helper(id) else {
            throw makeError(pc, "call of unknown helper \(id)", kernel: "invalid func unknown#\(id)")
        }
        if let refusal = spec.refusal {
            throw makeError(pc, "\(spec.name) is not available in Sluice: \(refusal)")
        }
        return try callWithSpec(&s, pc, spec)
    }

    func callWithSpec(_ s: inout AbstractState, _ pc: Int, _ spec: HelperSpec) throws(VerifierError) -> StepResult {
        var map: MapSpec? = nil
        var mapIndex = 0
        var constantSize: Int64? = nil
        var releasedReference: UInt32? = nil
        var callback: Int? = nil
        var constantKey: UInt64? = nil
        var index = 0
        let name = spec.name
        func fail(_ r: Int, _ reason: String) -> VerifierError {
            makeError(pc, "\(name) argument R\(r): \(reason)", register: r, state: s)
        }
        while index < spec.arguments.count {
            let r = index + 1
            let kind = spec.arguments[index]
            let reg = s[register: r]
            if reg.kind == .notInitialised {
                throw makeError(pc, "\(name) argument R\(r) is not initialised")
            }
            if kind != .anything, reg.kind == .packet || reg.kind == .packetMeta, let id = spec.id,
                !HelperTable.packetAccessHelpers.contains(id)
            {
                throw makeError(
                    pc,
                    "\(name) argument R\(r): this helper may not be given packet memory (copy the bytes to the stack "
                        + "first)", register: r, state: s, kernel: "helper access to the packet is not allowed")
            }
            switch kind {
            case .anything:
                if reg.kind.isPointer {
                    throw makeError(
                        pc,
                        "\(name) argument R\(r) takes a number, but R\(r) is a \(reg.kind.name): the helper would see "
                            + "(and could pass on) the host address", register: r, state: s,
                        kernel: "R\(r) leaks addr into helper function")
                }
            case .context:
                if reg.kind == .context && reg.offset != 0 {
                    throw makeError(
                        pc, "\(name) argument R\(r): the context pointer was moved by \(reg.offset)", register: r,
                        state: s, kernel: "dereference of modified ctx ptr R\(r) off=\(reg.offset) disallowed")
                }
                guard reg.kind == .context && reg.offset == 0 else {
                    throw fail(r, "expected the context (xdp_md), got \(reg.description(maps: program.maps))")
                }
            case .mapPointer:
                guard reg.kind == .mapPointer else {
                    throw fail(r, "expected a map (lddw map[…]), got \(reg.description(maps: program.maps))")
                }
                map = program.maps[Int(reg.target)]
                mapIndex = Int(reg.target)
            case .mapKey, .mapValue:
                guard let m = map else { throw fail(r, "no map argument precedes the key/value") }
                let size = kind == .mapKey ? m.keySize : m.valueSize
                try memoryArgument(&s, r, pc, name: name, min: Int64(size), max: Int64(size), write: false)
                if kind == .mapKey && spec.id == 1 && (m.type == .array || m.type == .percpuArray) {
                    constantKey = constantStackKey(s, reg, size: size)
                }
            case .readableMemory, .writableMemory, .readableMemoryOrNull:
                let sizeRegister = r + 1
                let sizeReg = s[register: sizeRegister]
                guard index + 1 < spec.arguments.count, sizeReg.kind == .scalar else {
                    throw fail(
                        sizeRegister, "the memory size must be a scalar, got \(sizeReg.description(maps: program.maps))"
                    )
                }
                let zeroAllowed = spec.arguments[index + 1] == .constantSizeOrZero
                let size = sizeReg.value
                if kind == .readableMemoryOrNull && reg.kind == .scalar && reg.value.constantValue == 0 {
                    guard size.constantValue == 0 else {
                        throw fail(sizeRegister, "a NULL memory argument needs size 0")
                    }
                    index += 2
                    continue
                }
                guard size.umax < VerifierLimits.maxMemorySize else {
                    throw fail(
                        sizeRegister,
                        "unbounded memory size [\(size.description)]; bound it ('if (len > N) …' or 'len &= N')")
                }
                if size.umin == 0 && !zeroAllowed {
                    throw fail(sizeRegister, "the size may be 0 [\(size.description)]; it must be at least 1")
                }
                if size.umax > 0 {
                    try memoryArgument(
                        &s, r, pc, name: name, min: Int64(size.umin), max: Int64(size.umax),
                        write: kind == .writableMemory)
                }
                index += 2
                continue
            case .constantSize, .constantSizeOrZero:
                guard reg.kind == .scalar, let c = reg.value.constantValue else {
                    throw fail(r, "the size must be a known constant, got \(reg.description(maps: program.maps))")
                }
                if c == 0 && kind == .constantSize { throw fail(r, "the size must not be 0") }
                guard c < VerifierLimits.maxMemorySize else { throw fail(r, "size \(c) is too large") }
                constantSize = Int64(c)
            case .ringbufRecord:
                guard reg.kind == .ringbufRecord else {
                    throw fail(
                        r,
                        "expected a ring buffer record from bpf_ringbuf_reserve (checked against NULL), got "
                            + reg.description(maps: program.maps))
                }
                guard reg.referenceID != 0 else {
                    throw fail(r, "expected a ring buffer record from bpf_ringbuf_reserve, got a memory argument")
                }
                guard reg.offset == 0 && reg.value.constantValue == 0 else {
                    throw fail(r, "the record pointer must be the one bpf_ringbuf_reserve returned (offset 0)")
                }
                releasedReference = reg.referenceID
            case .callback:
                guard reg.kind == .codeAddress else {
                    throw fail(r, "expected a function (lddw …, func …), got \(reg.description(maps: program.maps))")
                }
                callback = Int(reg.target)
            case .stackOrNull:
                let ok =
                    reg.kind == .stack || reg.kind == .mapValue || (reg.kind == .scalar && reg.value.constantValue == 0)
                guard ok else {
                    throw fail(
                        r,
                        "expected a pointer to the stack or a map value, or NULL, got \(reg.description(maps: program.maps))"
                    )
                }
            }
            index += 1
        }
        try checkMapCompatibility(spec, map, pc)

        if let id = releasedReference {
            s.references.removeAll { $0.id == id }
            s.forEachRegister { reg in
                if reg.referenceID == id && reg.kind != .scalar { reg = .unknownScalar }
            }
        }
        if spec.id == ControlHelperID.tailCall && !s.references.isEmpty {
            throw makeError(
                pc,
                "bpf_tail_call with an unreleased ring buffer record (reserved at \(at(Int(s.references[0].acquiredAt))))"
            )
        }
        if spec.id == ControlHelperID.tailCall && s.frames.count > 1 {
            // A tail call from a sub-program or callback would return into frames whose state this verification of
            // the caller cannot describe (the target's r0 instead of the sub-program's).
            throw makeError(pc, "bpf_tail_call is only allowed in the program's main function, not in a sub-program")
        }
        if spec.changesPacket && s.frames.contains(where: { $0.isLoopCallback }) {
            // The callback is verified once for every iteration; a later iteration would see packet pointers in the
            // caller's stack that an earlier one invalidated.
            throw makeError(pc, "\(name) changes the packet and cannot be called from a bpf_loop callback")
        }
        if spec.changesPacket {
            s.forEachRegister { reg in
                if reg.kind == .packet || reg.kind == .packetEnd || reg.kind == .packetMeta { reg = .unknownScalar }
            }
        }

        if spec.id == ControlHelperID.loop, let callback {
            return try enterLoopCallback(&s, pc, callback)
        }

        for r in 1...5 { s[register: r] = .notInitialised }
        switch spec.returns {
        case .integer:
            s[register: 0] = .unknownScalar
        case .void:
            s[register: 0] = .notInitialised
        case .mapValueOrNull:
            guard map != nil else {
                throw makeError(pc, "\(name) returns a map value but has no map argument")
            }
            var r0 = RegisterState.pointer(.mapValueOrNull, target: Int32(mapIndex))
            r0.id = newID()
            if let key = constantKey, let m = map, key < UInt64(m.maxEntries) {
                // As the kernel (`can_elide_value_nullness`): an array lookup with a known in-range key cannot fail.
                r0 = .pointer(.mapValue, target: Int32(mapIndex))
            }
            s[register: 0] = r0
        case .ringbufRecordOrNull:
            guard let size = constantSize else { throw makeError(pc, "\(name) needs a constant size") }
            let id = newID()
            var r0 = RegisterState.pointer(.ringbufRecordOrNull)
            r0.id = id
            r0.referenceID = id
            r0.size = size
            s[register: 0] = r0
            s.references.append(Reference(id: id, acquiredAt: Int32(pc)))
        }
        return .next(pc + 1)
    }

    /// A memory argument of `min…max` bytes starting at the pointer in `r`.
    func memoryArgument(
        _ s: inout AbstractState, _ r: Int, _ pc: Int, name: String, min: Int64, max: Int64, write: Bool
    ) throws(VerifierError) {
        let reg = s[register: r]
        switch reg.kind {
        case .stack, .packet, .packetMeta, .mapValue, .ringbufRecord:
            break
        default:
            // The kernel's words (check_reg_type) for a memory, map key or map value argument.
            throw makeError(
                pc,
                "\(name) argument R\(r): expected a pointer to memory (stack, packet, map value), got "
                    + reg.description(maps: program.maps), register: r, state: s,
                kernel: "R\(r) type=\(reg.kind.kernelTypeName) expected=fp, pkt, pkt_meta, map_key, map_value, mem, "
                    + "ringbuf_mem, buf, trusted_ptr_")
        }
        do {
            try memoryAccess(
                &s, base: r, offset: 0, size: Int(Swift.max(min, 1)), access: write ? .helperWrite : .helperRead, pc,
                sizeRange: (min, max))
        } catch {
            var e = error
            e.reason = "\(name) argument R\(r) (\(max) bytes): " + e.reason
            throw e
        }
    }

    func checkMapCompatibility(_ spec: HelperSpec, _ map: MapSpec?, _ pc: Int) throws(VerifierError) {
        guard let map, let id = spec.id else { return }
        let accepts = map.type.info?.helpers ?? []
        let ok: Bool
        switch id {
        case 1, 2, 3: ok = accepts.contains(.elements)
        case ControlHelperID.tailCall: ok = accepts.contains(.tailCall)
        case 51: ok = accepts.contains(.redirect)
        case 130, 131: ok = accepts.contains(.ringbuf)
        default: ok = true
        }
        if !ok {
            throw makeError(pc, "\(spec.name) cannot be used with map '\(map.name)' of type \(map.type)")
        }
    }

    /// `bpf_loop(nr, callback, ctx, flags)`: the callback is verified as a function of (index, ctx) whose stack
    /// effects on the caller hold for any number of iterations.
    func enterLoopCallback(_ s: inout AbstractState, _ pc: Int, _ callback: Int) throws(VerifierError) -> StepResult {
        guard s.frames.count < VerifierLimits.maxFrames else {
            throw makeError(pc, "the call stack is too deep: more than \(VerifierLimits.maxFrames) frames")
        }
        let context = s[register: 3]
        // Forget scalar values in the caller frames: a later iteration may see what an earlier one wrote.
        for f in s.frames.indices {
            for i in s.frames[f].slots.indices {
                var slot = s.frames[f].slots[i]
                if let spilled = slot.spill, spilled.kind == .scalar { slot.breakSpill() }
                for b in 0..<8 where slot.kind(at: b) == .zero { slot.setKind(.misc, at: b) }
                s.frames[f].slots[i] = slot
            }
        }
        var frame = FrameState(frameIndex: s.frames.count, callSite: Int32(pc), subprogram: Int32(callback))
        frame.isLoopCallback = true
        frame.referencesAtEntry = Int32(s.references.count)
        frame.callerSlotsAtEntry = s.frames.map(\.slots)
        frame.registers[1] = .scalar(.unsigned(upTo: VerifierLimits.maxLoops - 1))
        frame.registers[2] = context
        for r in 1...5 { s[register: r] = .notInitialised }
        s.frames.append(frame)
        return .next(callback)
    }
}

extension VerifierRun {
    /// The key's value when the stack holds it as a constant the way the kernel's `get_constant_map_key` can see
    /// it: zero bytes from the key to the top of its 8-byte slot, or a spill of exactly the key's size (a narrow spill
    /// starts at the slot's bottom; the kernel only keeps narrow spills at 8-aligned addresses).
    func constantStackKey(_ s: AbstractState, _ key: RegisterState, size: Int) -> UInt64? {
        guard key.kind == .stack, key.value.isConstant else { return nil }
        let address = key.offset &+ Int64(bitPattern: key.value.constantValue ?? 0)
        guard address < 0, address >= -VerifierLimits.stackSize else { return nil }
        let slot = s.frames[Int(key.target)].slot(Int((-address - 1) / 8))
        let position = Int((address % 8 + 8) % 8)
        guard position + size <= 8 else { return nil }
        if slot.kinds == 0xaaaa {
            // Eight zero bytes may be the kernel's 8-byte spill of 0, which only matches a key ending the slot.
            return position + size == 8 ? 0 : nil
        }
        var zeros = 0
        for byte in position..<8 {
            guard slot.kind(at: byte) == .zero else { break }
            zeros += 1
        }
        if zeros >= size { return 0 }
        guard let spilled = slot.spill, spilled.kind == .scalar, let value = spilled.value.constantValue else {
            return nil
        }
        if slot.isFullSpill { return position + size == 8 ? value : nil }
        return slot.spillPosition == 0 && position == 0 && Int(slot.spillSize) == size ? value : nil
    }
}

extension HelperTable {
    /// Helpers whose kernel prototype sets `pkt_access`: only these may be given packet memory.
    static let packetAccessHelpers: Set<Int32> = [1, 2, 3, 28]
}
