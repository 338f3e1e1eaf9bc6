/// The abstract semantics of each instruction: checks it against the state and computes the next state(s).
extension VerifierRun {
    enum StepResult {
        case next(Int)
        /// A conditional jump: the state where it is taken (nil if impossible) and where it is not.
        case branch(taken: AbstractState?, target: Int, fall: AbstractState?, fallTarget: Int)
        case end
    }

    func read(_ s: AbstractState, _ r: Int, _ pc: Int) throws(VerifierError) -> RegisterState {
        let reg = s[register: r]
        if reg.kind == .notInitialised {
            throw makeError(pc, "R\(r) is read before it is initialised on this path", kernel: "R\(r) !read_ok")
        }
        return reg
    }

    func checkWritable(_ r: Int, _ pc: Int) throws(VerifierError) {
        if r == 10 { throw makeError(pc, "R10 (the frame pointer) is read-only", kernel: "frame pointer is read only") }
    }

    func step(_ s: inout AbstractState, _ pc: Int) throws(VerifierError) -> StepResult {
        let insn = insns[pc]
        guard let operation = structure.operations[pc] else { throw makeError(pc, "invalid instruction") }
        let d = Int(insn.dst)
        let sr = Int(insn.src)
        switch operation {
        case .alu(let kind, let width, let source):
            try checkWritable(d, pc)
            let operand: RegisterState =
                source == .register
                ? try read(s, sr, pc)
                : .constant(
                    width == .bits64 ? UInt64(bitPattern: Int64(insn.imm)) : UInt64(UInt32(bitPattern: insn.imm)))
            if kind == .mov {
                if width == .bits64 {
                    var value = operand
                    if source == .register && value.kind == .scalar && !value.value.isConstant {
                        if value.id == 0 {
                            value.id = newID()
                            s[register: sr] = value
                        }
                    }
                    s[register: d] = value
                } else if operand.kind == .scalar {
                    var value = RegisterState.scalar(operand.value.low32)
                    if source == .register && operand.value.umax <= 0xffff_ffff && !operand.value.isConstant {
                        value.id = operand.id == 0 ? newID() : operand.id
                        if operand.id == 0 { s[register: sr].id = value.id }
                    }
                    s[register: d] = value
                } else {
                    s[register: d] = .scalar(.unsigned(upTo: 0xffff_ffff))
                }
                return .next(pc + 1)
            }
            let target = try read(s, d, pc)
            if source == .immediate {
                try checkImmediate(kind, width, insn.imm, pc)
            }
            if target.kind == .scalar && operand.kind == .scalar {
                s[register: d] = .scalar(Scalar.alu(kind, target.value, operand.value, width: width))
                return .next(pc + 1)
            }
            s[register: d] = try pointerArithmetic(
                kind, width, target, operand, d: d, srcIsRegister: source == .register, pc, s)
            return .next(pc + 1)

        case .neg(let width):
            try checkWritable(d, pc)
            let v = try read(s, d, pc)
            guard v.kind == .scalar else {
                throw makeError(pc, "R\(d) negation of a \(v.kind.name) is prohibited", register: d, state: s)
            }
            s[register: d] = .scalar(Scalar.negate(v.value, width: width))
            return .next(pc + 1)

        case .movsx(let bits, let width):
            try checkWritable(d, pc)
            let v = try read(s, sr, pc)
            s[register: d] =
                v.kind == .scalar
                ? .scalar(Scalar.signExtend(v.value, from: bits, width: width))
                : .scalar(width == .bits32 ? .unsigned(upTo: 0xffff_ffff) : .unknown)
            return .next(pc + 1)

        case .byteOrder(let conversion, let bits):
            try checkWritable(d, pc)
            let v = try read(s, d, pc)
            guard v.kind == .scalar else {
                throw makeError(pc, "R\(d) byte swap of a \(v.kind.name) is prohibited", register: d, state: s)
            }
            s[register: d] = .scalar(Scalar.byteSwap(v.value, conversion, bits: bits))
            return .next(pc + 1)

        case .load(let size, let signExtend):
            try checkWritable(d, pc)
            let base = try read(s, sr, pc)
            if base.kind == .context {
                if nonContextLoads.contains(pc) {
                    throw makeError(pc, "R\(sr) is the context on one path and another pointer on another")
                }
                s[register: d] = try contextLoad(base, insn, size: size.byteCount, pc)
                return .next(pc + 1)
            }
            if contextLoads[pc] != nil {
                throw makeError(
                    pc, "R\(sr) is the context on one path and \(base.kind.name) on another", register: sr, state: s)
            }
            nonContextLoads.insert(pc)
            var value = try memoryAccess(
                &s, base: sr, offset: Int64(insn.offset), size: size.byteCount, access: .read, pc)
            if signExtend, value.kind == .scalar {
                value = .scalar(Scalar.signExtend(value.value, from: size.byteCount * 8, width: .bits64))
            }
            s[register: d] = value
            return .next(pc + 1)

        case .store(let size, let source):
            let value: RegisterState =
                source == .register ? try read(s, sr, pc) : .constant(UInt64(bitPattern: Int64(insn.imm)))
            let base = try read(s, d, pc)
            try checkStoreLeak(base, value, d: d, sr: sr, size: size.byteCount, fromRegister: source == .register, pc, s)
            _ = try memoryAccess(
                &s, base: d, offset: Int64(insn.offset), size: size.byteCount, access: .write(value), pc)
            return .next(pc + 1)

        case .atomic(let op, let fetch, let size):
            let base = try read(s, d, pc)
            let operand = try read(s, sr, pc)
            if op == .cmpxchg { _ = try read(s, 0, pc) }
            if let name = base.kind.kernelStoreName, base.kind == .context || base.kind == .packet
                || base.kind == .packetMeta
            {
                throw makeError(
                    pc,
                    "R\(d) atomic operations are only allowed on the stack and map values, not on a \(base.kind.name)",
                    register: d, state: s, kernel: "BPF_ATOMIC stores into R\(d) \(name) is not allowed")
            }
            guard operand.kind == .scalar else {
                throw makeError(
                    pc,
                    "R\(sr) atomic operand must be a scalar, not a \(operand.kind.name) (it would leak the address)",
                    register: sr, state: s, kernel: "R\(sr) leaks addr into mem")
            }
            guard base.kind == .stack || base.kind == .mapValue else {
                throw makeError(
                    pc,
                    "R\(d) atomic operations are only allowed on the stack and map values, not on a \(base.kind.name)",
                    register: d, state: s)
            }
            let n = Int64(size.byteCount)
            let fixed = base.offset + Int64(insn.offset)
            let aligned =
                fixed % n == 0 && base.value.tnum.value & UInt64(n - 1) == 0
                && base.value.tnum.mask & UInt64(n - 1) == 0
            guard aligned else {
                throw makeError(
                    pc, "R\(d) misaligned atomic access of \(n) bytes at offset \(fixed)", register: d, state: s,
                    kernel: misalignedText(base, insnOffset: Int64(insn.offset), size: Int(n)))
            }
            _ = try memoryAccess(&s, base: d, offset: Int64(insn.offset), size: Int(n), access: .read, pc)
            _ = try memoryAccess(
                &s, base: d, offset: Int64(insn.offset), size: Int(n), access: .write(.unknownScalar), pc)
            let result = RegisterState.scalar(n == 4 ? .unsigned(upTo: 0xffff_ffff) : .unknown)
            if op == .cmpxchg {
                s[register: 0] = result
            } else if fetch {
                try checkWritable(sr, pc)
                s[register: sr] = result
            }
            return .next(pc + 1)

        case .loadImmediate64(let kind):
            try checkWritable(d, pc)
            let next = insns[pc + 1]
            switch kind {
            case .immediate:
                s[register: d] = .constant(
                    UInt64(UInt32(bitPattern: insn.imm)) | UInt64(UInt32(bitPattern: next.imm)) << 32)
            case .mapByIndex, .mapByFD:
                let index = Int(insn.imm)
                guard index >= 0 && index < program.maps.count else {
                    throw makeError(pc, "lddw refers to map \(index), but the program has \(program.maps.count) maps")
                }
                s[register: d] = .pointer(.mapPointer, target: Int32(index))
            case .mapValueByIndex, .mapValueByFD:
                let index = Int(insn.imm)
                guard index >= 0 && index < program.maps.count else {
                    throw makeError(pc, "lddw refers to map \(index), but the program has \(program.maps.count) maps")
                }
                let offset = Int64(next.imm)
                guard offset >= 0 && offset < Int64(program.maps[index].valueSize) else {
                    throw makeError(
                        pc,
                        "lddw refers to offset \(offset) of map '\(program.maps[index].name)' whose value has "
                            + "\(program.maps[index].valueSize) bytes")
                }
                s[register: d] = .pointer(.mapValue, offset: offset, target: Int32(index))
            case .codeAddress:
                let entry = pc + 1 + Int(insn.imm)
                if globalFunction(at: entry) != nil { calledGlobals.insert(entry) }
                s[register: d] = .pointer(.codeAddress, target: Int32(entry))
            case .variableAddress:
                guard let extern = program.externAddresses[pc] else {
                    throw makeError(pc, "lddw of a kernel variable (BTF id \(insn.imm)) is not supported")
                }
                if options.kfunc(extern.name) != nil {
                    var v = Scalar.unknown
                    v.umin = 1
                    s[register: d] = .scalar(v.normalized() ?? .unknown)
                } else if extern.isWeak {
                    s[register: d] = .constant(0)
                } else {
                    throw makeError(pc, "extern '\(extern.name)' is not provided by Sluice")
                }
            }
            return .next(pc + 2)

        case .legacyPacketLoad:
            throw makeError(pc, "legacy packet access (ldabs/ldind) is not allowed in XDP programs")

        case .jumpAlways(let long):
            return .next(pc + 1 + (long ? Int(insn.imm) : Int(insn.offset)))

        case .jump(let condition, let width, let source):
            return try conditionalJump(&s, pc, BranchCondition(condition), width, source)

        case .call(.helper):
            return try helperCall(&s, pc, id: insn.imm)

        case .call(.local):
            let target = pc + 1 + Int(insn.imm)
            if let info = globalFunction(at: target) { return try globalCall(&s, pc, entry: target, info) }
            return try localCall(&s, pc, target: target)

        case .call(.kfunc):
            guard let extern = program.kfuncCalls[pc] else {
                throw makeError(pc, "kfunc call (BTF id \(insn.imm)) without a name")
            }
            guard let spec = options.kfunc(extern.name) else {
                throw makeError(
                    pc,
                    "kfunc '\(extern.name)' is not provided by Sluice"
                        + (extern.isWeak ? " (guard the call with bpf_ksym_exists)" : ""))
            }
            return try callWithSpec(&s, pc, spec)

        case .callRegister:
            throw makeError(pc, "callx (indirect helper call) is not allowed in verified programs")

        case .exit:
            return try exit(&s, pc)
        }
    }

    // MARK: Pointer arithmetic

    func pointerArithmetic(
        _ kind: ALUKind, _ width: OperandWidth, _ target: RegisterState, _ operand: RegisterState, d: Int,
        srcIsRegister: Bool, _ pc: Int, _ s: AbstractState
    ) throws(VerifierError) -> RegisterState {
        let pointer = target.kind.isPointer ? target : operand
        if width == .bits32 {
            // As the kernel with pointer leaks allowed: a 32-bit difference of pointers is a meaningless scalar
            // (clang emits it for `(__u32)(data_end - data)`); anything else is refused.
            if kind == .sub { return .scalar(.unsigned(upTo: 0xffff_ffff)) }
            throw makeError(
                pc, "R\(d) 32-bit arithmetic on a \(pointer.kind.name) is prohibited", register: d, state: s)
        }
        switch kind {
        case .add:
            if target.kind.isPointer && operand.kind.isPointer {
                throw makeError(pc, "R\(d) pointer += pointer prohibited (adding two pointers)", register: d, state: s)
            }
            return try offsetPointer(
                pointer, by: target.kind.isPointer ? operand.value : target.value, subtract: false, d, pc, s)
        case .sub:
            if target.kind.isPointer && operand.kind.isPointer {
                let packetKinds: Set<RegisterKind> = [.packet, .packetEnd, .packetMeta]
                if packetKinds.contains(target.kind) && packetKinds.contains(operand.kind) {
                    return .scalar(.unknown)
                }
                if target.kind == operand.kind && target.target == operand.target
                    && (target.kind == .stack || target.kind == .mapValue)
                {
                    if let a = target.value.constantValue, let b = operand.value.constantValue {
                        return .constant(UInt64(bitPattern: target.offset &- operand.offset) &+ a &- b)
                    }
                    return .scalar(.unknown)
                }
                throw makeError(
                    pc, "R\(d) subtracting a \(operand.kind.name) from a \(target.kind.name) is prohibited",
                    register: d, state: s)
            }
            if !target.kind.isPointer {
                throw makeError(
                    pc, "R\(d) scalar -= pointer prohibited (it would leak the pointer)", register: d, state: s)
            }
            return try offsetPointer(target, by: operand.value, subtract: true, d, pc, s)
        default:
            throw makeError(
                pc, "R\(d) \(kind.rawValue) on a \(pointer.kind.name) is prohibited (only += and -= of a scalar)",
                register: d, state: s)
        }
    }

    func offsetPointer(
        _ pointer: RegisterState, by scalar: Scalar, subtract: Bool, _ d: Int, _ pc: Int, _ s: AbstractState
    ) throws(VerifierError) -> RegisterState {
        if pointer.kind == .context, let c = scalar.constantValue {
            // The kernel lets the context move by a constant and refuses it when it is used
            // ("dereference of modified ctx ptr").
            var p = pointer
            let delta = Int64(bitPattern: c)
            let (sum, overflow) =
                subtract ? p.offset.subtractingReportingOverflow(delta) : p.offset.addingReportingOverflow(delta)
            guard !overflow, sum > -VerifierLimits.maxOffset, sum < VerifierLimits.maxOffset else {
                throw makeError(
                    pc, "R\(d) pointer offset \(subtract ? "-" : "+") \(delta) leaves the allowed range ±2^29",
                    register: d, state: s)
            }
            p.offset = sum
            return p
        }
        guard pointer.kind.allowsArithmetic else {
            let hint = pointer.kind.isNullable ? " (check it against NULL first)" : ""
            throw makeError(
                pc, "R\(d) pointer arithmetic on \(pointer.kind.name) prohibited\(hint)", register: d, state: s,
                kernel: "R\(d) pointer arithmetic on \(pointer.kind.kernelTypeName) prohibited")
        }
        var p = pointer
        p.id = pointer.kind == .packet || pointer.kind == .packetMeta ? pointer.id : 0
        if let c = scalar.constantValue {
            let delta = Int64(bitPattern: c)
            let (sum, overflow) =
                subtract ? p.offset.subtractingReportingOverflow(delta) : p.offset.addingReportingOverflow(delta)
            guard !overflow, sum > -VerifierLimits.maxOffset, sum < VerifierLimits.maxOffset else {
                throw makeError(
                    pc, "R\(d) pointer offset \(subtract ? "-" : "+") \(delta) leaves the allowed range ±2^29",
                    register: d, state: s)
            }
            p.offset = sum
            return p
        }
        guard scalar.smin > -VerifierLimits.maxOffset, scalar.smax < VerifierLimits.maxOffset else {
            // The kernel refuses the arithmetic for an unbounded or far minimum (check_reg_sane_offset), and an
            // unbounded maximum at the access that follows.
            let type = pointer.kind.kernelTypeName
            let kernel =
                scalar.smin == .min
                ? "math between \(type) pointer and register with unbounded min value is not allowed"
                : scalar.smin <= -VerifierLimits.maxOffset || scalar.smin >= VerifierLimits.maxOffset
                    ? "value \(scalar.smin) makes \(type) pointer be out of bounds"
                    : "R\(d) unbounded memory access, make sure to bounds check any such access"
            throw makeError(
                pc,
                "R\(d) math between \(pointer.kind.name) and a register with unbounded value [\(scalar.description)] "
                    + "is not allowed; bound it first (e.g. 'if (x > N) return' or 'x &= N')",
                register: d, state: s, kernel: kernel)
        }
        p.value = Scalar.alu(subtract ? .sub : .add, p.value, scalar, width: .bits64)
        guard p.value.smin > -VerifierLimits.maxOffset, p.value.smax < VerifierLimits.maxOffset else {
            throw makeError(
                pc, "R\(d) variable pointer offset [\(p.value.description)] is out of the allowed range",
                register: d, state: s)
        }
        if p.kind == .packet || p.kind == .packetMeta {
            p.id = newID()
            p.range = 0
            p.rangeProvenAt = -1
        }
        return p
    }

    // MARK: Context

    func contextLoad(_ base: RegisterState, _ insn: Instruction, size: Int, _ pc: Int) throws(VerifierError)
        -> RegisterState
    {
        let offset = Int(base.offset) + Int(insn.offset)
        let register = Int(insn.src)
        if base.offset != 0 {
            throw makeError(
                pc, "R\(register) the context pointer was moved by \(base.offset); load fields from ctx itself",
                kernel: "dereference of modified ctx ptr R\(register) off=\(base.offset) disallowed")
        }
        // The kernel's xdp_is_valid_access: every field is read whole (4 bytes, aligned); egress_ifindex only in
        // devmap programs.
        let kernel = "invalid bpf_context access off=\(insn.offset) size=\(size)"
        guard offset >= 0, offset + size <= ContextField.contextSize,
            let field = ContextField(rawValue: UInt8(offset / 4))
        else {
            throw makeError(
                pc, "invalid access to the context (xdp_md) at offset \(offset), size \(size): outside its 24 bytes",
                kernel: kernel)
        }
        guard size == 4 && offset % 4 == 0 else {
            throw makeError(
                pc,
                "misaligned or oversized xdp_md access at offset \(offset), size \(size): xdp_md fields must be read "
                    + "with a 4-byte load, whole", kernel: kernel)
        }
        if field == .egressIfindex {
            throw makeError(
                pc, "egress_ifindex (xdp_md offset 20) is only readable in devmap programs, not in XDP", kernel: kernel)
        }
        contextLoads[pc] = field
        switch field {
        case .data: return .pointer(.packet)
        case .dataEnd: return .pointer(.packetEnd)
        case .dataMeta: return .pointer(.packetMeta)
        default: return .scalar(.unsigned(upTo: size == 4 ? 0xffff_ffff : (1 << UInt64(size * 8)) - 1))
        }
    }

    // MARK: Exit

    func exit(_ s: inout AbstractState, _ pc: Int) throws(VerifierError) -> StepResult {
        let r0 = s[register: 0]
        if r0.kind == .notInitialised {
            throw makeError(
                pc, "R0 is not initialised at exit: the function must set a return value on every path",
                kernel: "R0 !read_ok")
        }
        if s.frames.count > 1 {
            let frame = s.frames[s.top]
            if r0.kind == .stack && Int(r0.target) == s.top {
                throw makeError(pc, "R0 returns a pointer to the returning function's own stack", register: 0, state: s)
            }
            var result = r0
            if frame.isLoopCallback {
                guard r0.kind == .scalar, r0.value.umax <= 1 else {
                    throw makeError(
                        pc,
                        "a bpf_loop callback must return 0 (continue) or 1 (stop); R0 may be \(r0.value.description)",
                        register: 0, state: s)
                }
                if s.references.count != Int(frame.referencesAtEntry) {
                    let r = s.references.last!
                    throw makeError(
                        pc,
                        "unreleased reference \(r.id) from bpf_ringbuf_reserve at \(at(Int(r.acquiredAt))) when the "
                            + "bpf_loop callback returns")
                }
                result = .scalar(.unsigned(upTo: VerifierLimits.maxLoops))
                if let entrySlots = frame.callerSlotsAtEntry {
                    for f in 0..<entrySlots.count { s.frames[f].slots = joinSlots(entrySlots[f], s.frames[f].slots) }
                }
            }
            s.frames.removeLast()
            let caller = s.top
            for r in 1...5 { s.frames[caller].registers[r] = .notInitialised }
            s.frames[caller].registers[0] = result
            invalidateStackPointers(&s, above: caller)
            return .next(Int(frame.callSite) + 1)
        }
        if s.frames[0].subprogram != 0 {
            // A global function verified on its own returns an integer to whichever caller.
            guard r0.kind == .scalar else {
                throw makeError(
                    pc, "R0 a global function must return an integer, not a \(r0.kind.name)", register: 0, state: s,
                    kernel: "At subprogram exit the register R0 is not a scalar value (\(r0.kind.kernelTypeName))")
            }
        }
        if let r = s.references.first {
            throw makeError(
                pc,
                "unreleased reference \(r.id): the ring buffer record reserved at \(at(Int(r.acquiredAt))) is "
                    + "neither submitted nor discarded on this path",
                kernel: "BPF_EXIT instruction in main prog would lead to reference leak")
        }
        guard r0.kind == .scalar else {
            throw makeError(
                pc, "R0 leaks addr: the program returns a \(r0.kind.name) instead of an XDP action",
                register: 0, state: s, kernel: "R0 leaks addr as return value")
        }
        if r0.value.umax > 4 && s.frames[0].subprogram == 0 {
            let warning = "\(at(pc)): return value may be \(r0.value.description), outside XDP's actions 0…4"
            if !warnings.contains(warning) && warnings.count < 20 { warnings.append(warning) }
        }
        return .end
    }

    /// After a frame returns, nothing may still point into its stack.
    func invalidateStackPointers(_ s: inout AbstractState, above frame: Int) {
        s.forEachRegister { reg in
            if reg.kind == .stack && Int(reg.target) > frame { reg = .unknownScalar }
        }
    }

    /// Slot contents valid whether a loop callback ran zero or more times.
    func joinSlots(_ a: [StackSlot], _ b: [StackSlot]) -> [StackSlot] {
        var out: [StackSlot] = []
        for i in 0..<max(a.count, b.count) {
            let x = i < a.count ? a[i] : .empty
            let y = i < b.count ? b[i] : .empty
            if x == y {
                out.append(x)
                continue
            }
            var slot = StackSlot()
            for byte in 0..<8 {
                let kx = x.kind(at: byte)
                let ky = y.kind(at: byte)
                slot.setKind(
                    kx == .invalid || ky == .invalid ? .invalid : (kx == .zero && ky == .zero ? .zero : .misc), at: byte
                )
            }
            out.append(slot)
        }
        return out
    }

    // MARK: Calls

    func localCall(_ s: inout AbstractState, _ pc: Int, target: Int) throws(VerifierError) -> StepResult {
        guard s.frames.count < VerifierLimits.maxFrames else {
            throw makeError(
                pc, "the call stack is too deep: more than \(VerifierLimits.maxFrames) frames",
                kernel: "the call stack of \(s.frames.count + 1) frames is too deep")
        }
        var frame = FrameState(frameIndex: s.frames.count, callSite: Int32(pc), subprogram: Int32(target))
        for r in 1...5 { frame.registers[r] = s[register: r] }
        s.frames.append(frame)
        return .next(target)
    }
}

extension VerifierRun {
    /// Immediates the kernel refuses when it decodes an ALU instruction (`check_alu_op`).
    func checkImmediate(_ kind: ALUKind, _ width: OperandWidth, _ imm: Int32, _ pc: Int) throws(VerifierError) {
        switch kind {
        case .div, .mod, .sdiv, .smod:
            if imm == 0 {
                throw makeError(
                    pc, "\(kind.rawValue) by the immediate 0 (the kernel refuses it when loading)", kernel: "div by zero")
            }
        case .lsh, .rsh, .arsh:
            let bits: Int32 = width == .bits64 ? 64 : 32
            if imm < 0 || imm >= bits {
                throw makeError(
                    pc, "shift by \(imm), outside 0…\(bits - 1) for a \(bits)-bit operation",
                    kernel: "invalid shift \(imm)")
            }
        default:
            break
        }
    }

    /// A store must not put an address where the program's output (map values, the packet, ring buffer records)
    /// or the context could carry it out, and a pointer goes to the stack only as a whole 8-byte spill.
    func checkStoreLeak(
        _ base: RegisterState, _ value: RegisterState, d: Int, sr: Int, size: Int, fromRegister: Bool, _ pc: Int,
        _ s: AbstractState
    ) throws(VerifierError) {
        if base.kind == .context && !fromRegister {
            throw makeError(
                pc, "R\(d) writes to the context (xdp_md) are not allowed", register: d, state: s,
                kernel: "invalid bpf_context access off=\(insns[pc].offset) size=\(size)")
        }
        guard value.kind.isPointer else { return }
        let place: String
        switch base.kind {
        case .mapValue: place = "map"
        case .packet, .packetMeta: place = "packet"
        case .ringbufRecord: place = "mem"
        case .context: place = "ctx"
        case .stack:
            if size != 8 {
                throw makeError(
                    pc, "R\(sr) a \(value.kind.name) may only be spilled to the stack whole (8 bytes), not \(size)",
                    register: sr, state: s, kernel: "invalid size of register spill")
            }
            return
        default: return
        }
        let what = place == "mem" ? "a ring buffer record" : place == "ctx" ? "the context" : "the \(place)"
        throw makeError(
            pc,
            "R\(sr) stores a \(value.kind.name) into \(what): the host address would leak out of the sandbox",
            register: sr, state: s, kernel: "R\(sr) leaks addr into \(place)")
    }

    /// The kernel's `check_generic_ptr_alignment` message for a misaligned access through `base`.
    func misalignedText(_ base: RegisterState, insnOffset: Int64, size: Int) -> String {
        let desc = base.kind == .stack ? "stack " : base.kind == .mapValue ? "value " : ""
        let t = base.value.tnum
        let varOff =
            t.isConstant
            ? "\(Int64(bitPattern: t.value))" : "(0x\(String(t.value, radix: 16)); 0x\(String(t.mask, radix: 16)))"
        return "misaligned \(desc)access off \(varOff)+\(base.offset)+\(insnOffset) size \(size)"
    }
}

extension RegisterKind {
    /// The kernel's `reg_type_str` for the kinds its store messages name.
    var kernelStoreName: String? {
        switch self {
        case .context: "ctx"
        case .packet: "pkt"
        case .packetMeta: "pkt_meta"
        default: nil
        }
    }
}
