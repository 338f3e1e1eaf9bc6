/// Loads, stores and helper memory arguments: which regions a pointer may touch, and what the stack holds.
extension VerifierRun {
    enum Access {
        case read
        /// A store of this value (immediates as constants).
        case write(RegisterState)
        /// A helper writes unknown bytes (`ARG_PTR_TO_UNINIT_MEM`).
        case helperWrite
        /// A helper reads the bytes (they must be initialised on the stack).
        case helperRead

        var isWrite: Bool {
            switch self {
            case .read, .helperRead: false
            default: true
            }
        }
    }

    /// Checks an access of `size` bytes at `R[base] + offset` and returns the loaded value (unknown scalar for writes).
    @discardableResult
    func memoryAccess(
        _ s: inout AbstractState, base r: Int, offset: Int64, size: Int, access: Access, _ pc: Int,
        sizeRange: (min: Int64, max: Int64)? = nil
    ) throws(VerifierError) -> RegisterState {
        let reg = s[register: r]
        let n = Int64(size)
        let maxSize = sizeRange?.max ?? n
        let fixed = reg.offset + offset
        let lo = fixed &+ reg.value.smin  // meaningful (and bounded) only for the pointer kinds below
        let hi = fixed &+ reg.value.smax &+ maxSize
        let what = access.isWrite ? "write" : "read"
        func fail(_ reason: String) -> VerifierError { makeError(pc, reason, register: r, state: s) }
        func scalarOfSize() -> RegisterState {
            .scalar(size >= 8 ? .unknown : .unsigned(upTo: (1 << UInt64(size * 8)) - 1))
        }
        switch reg.kind {
        case .stack:
            switch access {
            case .read, .write:
                // The kernel's stack alignment is always strict: spill tracking relies on it.
                let start = reg.value.tnum + .constant(UInt64(bitPattern: fixed))
                if (start.value | start.mask) & UInt64(n - 1) != 0 {
                    throw makeError(
                        pc,
                        "R\(r) misaligned stack \(what) of \(n) bytes at offset \(fixed)"
                            + (reg.value.isConstant ? "" : " + [\(reg.value.description)]")
                            + ": stack accesses must be aligned to their size",
                        register: r, state: s, kernel: misalignedText(reg, insnOffset: offset, size: size))
                }
            default: break
            }
            return try stackAccess(
                &s, reg, r, lo: lo, hi: hi, size: size, fixedOffset: reg.value.isConstant ? lo : nil,
                access: access, pc)
        case .packet, .packetMeta:
            let region = reg.kind == .packet ? "packet" : "packet metadata"
            // The kernel's words (check_packet_access): the stable last line of each refusal.
            let outside = "R\(r) offset is outside of the packet"
            if reg.value.smin < 0 {
                throw makeError(
                    pc,
                    "R\(r) pointer to \(region) with a variable offset that may be negative [\(reg.value.description)]",
                    register: r, state: s,
                    kernel: "R\(r) min value is negative, either use unsigned index or do a if (index >=0) check.")
            }
            if fixed < 0 {
                throw makeError(
                    pc, "R\(r) \(what) of \(region) at offset \(fixed), before its start", register: r, state: s,
                    kernel: outside)
            }
            if fixed + maxSize > reg.range {
                let proof =
                    reg.rangeProvenAt >= 0
                    ? "the \(reg.range) bytes proven by the check at \(at(Int(reg.rangeProvenAt)))"
                    : "the 0 bytes proven so far (no bounds check against data_end\(reg.kind == .packetMeta ? "/data" : "") "
                        + "covers this pointer)"
                throw makeError(
                    pc, "R\(r) pointer to \(region), offset \(fixed), size \(maxSize): outside \(proof)", register: r,
                    state: s, kernel: sizeRange == nil ? outside : nil)
            }
            return scalarOfSize()
        case .mapValue:
            let map = program.maps[Int(reg.target)]
            if lo < 0 || hi > Int64(map.valueSize) {
                // The kernel's words (check_mem_region_access): the minimum first, then the maximum.
                var kernel: String?
                if sizeRange == nil {
                    let invalid = { (at: Int64) in "invalid access to map value, value_size=\(map.valueSize) off=\(at) size=\(n)" }
                    if reg.value.smin < 0 && lo < 0 {
                        kernel = "R\(r) min value is negative, either use unsigned index or do a if (index >=0) check."
                    } else if lo < 0 || lo + n > Int64(map.valueSize) {
                        kernel = invalid(lo)
                    } else if reg.value.umax >= UInt64(VerifierLimits.maxOffset) {
                        kernel = "R\(r) unbounded memory access, make sure to bounds check any such access"
                    } else {
                        kernel = invalid(fixed + Int64(reg.value.umax))
                    }
                }
                throw makeError(
                    pc,
                    "R\(r) \(what) of \(maxSize) bytes at offset \(lo == hi - maxSize ? "\(lo)" : "\(lo)…\(hi - maxSize)") "
                        + "of map '\(map.name)', whose values have \(map.valueSize) bytes",
                    register: r, state: s, kernel: kernel)
            }
            if access.isWrite && (map.readOnlyForProgram || map.flags & 0x80 != 0) {
                throw makeError(
                    pc, "R\(r) write to read-only map '\(map.name)' (the program may only read it)", register: r,
                    state: s, kernel: "write into map forbidden, value_size=\(map.valueSize) off=\(lo) size=\(n)")
            }
            if !access.isWrite, map.readOnlyForProgram, let bytes = map.initialValue, reg.value.isConstant,
                lo >= 0, lo + n <= Int64(bytes.count)
            {
                var v: UInt64 = 0
                for i in 0..<size { v |= UInt64(bytes[Int(lo) + i]) << UInt64(8 * i) }
                return .constant(v)
            }
            return scalarOfSize()
        case .ringbufRecord:
            if lo < 0 || hi > reg.size {
                let region = reg.referenceID != 0 ? "ring buffer record" : "memory argument"
                throw fail("R\(r) \(what) of \(maxSize) bytes at offset \(lo) of a \(reg.size)-byte \(region)")
            }
            return scalarOfSize()
        case .context:
            if access.isWrite {
                throw makeError(
                    pc, "R\(r) writes to the context (xdp_md) are not allowed", register: r, state: s,
                    kernel: "invalid bpf_context access off=\(offset) size=\(size)")
            }
            throw fail("R\(r) the context (xdp_md) cannot be passed as memory")
        case .mapValueOrNull, .ringbufRecordOrNull:
            let kernelType =
                reg.kind == .ringbufRecordOrNull && reg.referenceID != 0 ? "ringbuf_mem_or_null" : reg.kind.kernelTypeName
            throw makeError(
                pc, "R\(r) \(what) through a \(reg.kind.name): check it against NULL first", register: r, state: s,
                kernel: "R\(r) invalid mem access '\(kernelType)'")
        case .scalar:
            throw makeError(
                pc,
                "R\(r) invalid memory access: a scalar is not a pointer (after a helper that changes the packet, "
                    + "packet pointers must be reloaded from the context)", register: r, state: s,
                kernel: "R\(r) invalid mem access 'scalar'")
        default:
            throw fail("R\(r) invalid memory access through a \(reg.kind.name)")
        }
    }

    func stackAccess(
        _ s: inout AbstractState, _ reg: RegisterState, _ r: Int, lo: Int64, hi: Int64, size: Int, fixedOffset: Int64?,
        access: Access, _ pc: Int
    ) throws(VerifierError) -> RegisterState {
        let frameIndex = Int(reg.target)
        guard lo >= -VerifierLimits.stackSize, hi <= 0, lo < hi else {
            // The kernel's words (check_stack_access_within_bounds), for a constant offset.
            let kind =
                switch access {
                case .read: " read from"
                case .write: " write to"
                case .helperRead, .helperWrite: " indirect access to"
                }
            throw makeError(
                pc,
                "R\(r) stack access at offset \(lo)…\(hi) (\(hi - lo) bytes) is outside the frame's 512 bytes [-512, 0)",
                register: r, state: s,
                kernel: fixedOffset.map { "invalid\(kind) stack R\(r) off=\($0) size=\(hi - lo)" })
        }
        let sub = structure.subprogramOf[Int(s.frames[frameIndex].subprogram)]
        stackDepth[sub] = max(stackDepth[sub], Int(-lo))
        func slotIndex(_ byteOffset: Int64) -> Int { Int((-byteOffset - 1) / 8) }
        func position(_ byteOffset: Int64) -> Int { Int((byteOffset % 8 + 8) % 8) }

        switch access {
        case .read, .helperRead:
            var allZero = true
            let isHelper: Bool
            if case .helperRead = access { isHelper = true } else { isHelper = false }
            func kernelText(_ b: Int64) -> String? {
                guard let lo = fixedOffset else { return nil }
                return isHelper
                    ? "invalid read from stack R\(r) off \(lo)+\(b - lo) size \(hi - lo)"
                    : "invalid read from stack off \(lo)+\(b - lo) size \(hi - lo)"
            }
            for b in lo..<hi {
                let slot = s.frames[frameIndex].slot(slotIndex(b))
                let kind = slot.kind(at: position(b))
                if kind == .invalid {
                    throw makeError(
                        pc,
                        "R\(r) reads uninitialised stack at offset \(b) (access of \(hi - lo) bytes at offset \(lo))",
                        register: r, state: s, kernel: kernelText(b))
                }
                if kind == .spill, isHelper, let spilled = slot.spill, spilled.kind.isPointer {
                    throw makeError(
                        pc,
                        "R\(r) the helper would copy out the \(spilled.kind.name) spilled at stack offset "
                            + "\(b - Int64(position(b))): the host address would leak",
                        register: r, state: s, kernel: kernelText(b))
                }
                if kind != .zero { allZero = false }
            }
            guard case .read = access else { return .unknownScalar }
            if let off = fixedOffset {
                let slot = s.frames[frameIndex].slot(slotIndex(off))
                if size == 8 && position(off) == 0 && slot.isFullSpill { return slot.spill! }
                if let spilled = slot.spill, spilled.kind.isPointer {
                    throw makeError(
                        pc,
                        "R\(r) reads \(size) bytes of the \(spilled.kind.name) spilled at stack offset "
                            + "\(off - Int64(position(off))); a spilled pointer is read back whole (8 bytes) or not at all",
                        register: r, state: s, kernel: "invalid size of register fill")
                }
                if let spilled = slot.spill, slot.spillSize < 8, Int(slot.spillSize) == size,
                    Int(slot.spillPosition) == position(off)
                {
                    return spilled
                }
                if slot.isFullSpill, let spilled = slot.spill, spilled.kind == .scalar, position(off) == 0,
                    spilled.value.umax < (1 << UInt64(size * 8))
                {
                    return spilled
                }
            }
            if allZero { return .constant(0) }
            return .scalar(size >= 8 ? .unknown : .unsigned(upTo: (1 << UInt64(size * 8)) - 1))

        case .write(let value):
            if value.kind == .stack && Int(value.target) > frameIndex {
                throw makeError(
                    pc,
                    "R\(r) stores a pointer to a callee's stack into a caller's frame (it dies when the callee returns)",
                    register: r, state: s)
            }
            try checkLoopCallbackWrite(s, frameIndex, lo: lo, hi: hi, storing: value, pc)
            if let off = fixedOffset, size == 8, position(off) == 0 {
                s.frames[frameIndex].withSlot(slotIndex(off)) { slot in
                    slot.kinds = 0xffff
                    slot.spill = value
                    if value.kind == .scalar, value.value.constantValue == 0 {
                        slot.kinds = 0xaaaa  // all zero bytes (and the spill still records the register)
                    }
                }
                if s.frames[frameIndex].slots[slotIndex(off)].kinds == 0xaaaa {
                    s.frames[frameIndex].slots[slotIndex(off)].spill = nil
                }
                return .unknownScalar
            }
            if let off = fixedOffset, size < 8, position(off) == 0, value.kind == .scalar,
                value.value.constantValue != 0, value.value.umax < (1 << UInt64(size * 8))
            {
                // A narrow spill of a scalar that fits keeps its bounds (and id) for the matching fill. Only at the
                // start of a slot (an 8-byte-aligned address), as the kernel's check_stack_write_fixed_off: a narrow
                // store elsewhere in the slot is plain data (its fill is an unknown scalar), as in the kernel.
                s.frames[frameIndex].withSlot(slotIndex(off)) { slot in
                    slot.breakSpill()
                    for b in 0..<size { slot.setKind(.spill, at: position(off) + b) }
                    slot.spill = value
                    slot.spillPosition = UInt8(position(off))
                    slot.spillSize = UInt8(size)
                }
                return .unknownScalar
            }
            let isZero = value.kind == .scalar && value.value.constantValue == 0 && fixedOffset != nil
            for b in lo..<hi {
                s.frames[frameIndex].withSlot(slotIndex(b)) { slot in
                    slot.breakSpill()
                    if fixedOffset != nil {
                        slot.setKind(isZero ? .zero : .misc, at: position(b))
                    } else if slot.kind(at: position(b)) == .zero {
                        slot.setKind(.misc, at: position(b))
                    }
                }
            }
            return .unknownScalar

        case .helperWrite:
            try checkLoopCallbackWrite(s, frameIndex, lo: lo, hi: hi, storing: .unknownScalar, pc)
            for b in lo..<hi {
                s.frames[frameIndex].withSlot(slotIndex(b)) { slot in
                    slot.breakSpill()
                    slot.setKind(.misc, at: position(b))
                }
            }
            return .unknownScalar
        }
    }

    /// Inside a `bpf_loop` callback, the caller's spilled pointers must stay as they are: the callback is verified
    /// once for any number of iterations, which is only sound if it cannot change what the caller's stack points to.
    func checkLoopCallbackWrite(
        _ s: AbstractState, _ frameIndex: Int, lo: Int64, hi: Int64, storing value: RegisterState, _ pc: Int
    ) throws(VerifierError) {
        guard let callback = s.frames.lastIndex(where: { $0.isLoopCallback }), frameIndex < callback else { return }
        if value.kind.isPointer {
            throw makeError(pc, "a bpf_loop callback may not store pointers into its caller's stack")
        }
        var b = lo
        while b < hi {
            let slot = s.frames[frameIndex].slot(Int((-b - 1) / 8))
            if let spilled = slot.spill, spilled.kind.isPointer {
                throw makeError(pc, "a bpf_loop callback may not overwrite a pointer spilled in its caller's stack")
            }
            b += 1
        }
    }
}
