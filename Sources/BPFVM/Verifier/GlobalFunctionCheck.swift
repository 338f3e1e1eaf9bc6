/// Global (non-static) BPF-to-BPF functions, as the kernel treats them: each is verified once, on its own, from its
/// BTF argument types (a context pointer, a scalar, or a pointer to sized memory that may be NULL), and a call is
/// checked against those types instead of being followed in the caller's context. The call returns an unknown
/// scalar; if the callee may change the packet, the caller's packet pointers die as after such a helper.
extension VerifierRun {
    func globalFunction(at entry: Int) -> FunctionInfo? {
        guard let info = program.functions[entry], info.isGlobal, entry != 0 else { return nil }
        return info
    }

    /// Kernel's sub-program number of a function entry (`func#N`).
    func functionNumber(_ entry: Int) -> Int { structure.subprograms.firstIndex(of: entry) ?? 0 }

    func globalCall(_ s: inout AbstractState, _ pc: Int, entry: Int, _ info: FunctionInfo) throws(VerifierError)
        -> StepResult
    {
        calledGlobals.insert(entry)
        let caller = "Caller passes invalid args into func#\(functionNumber(entry)) ('\(info.name)')"
        func fail(_ reason: String, _ kernelLine: String?, register: Int? = nil) -> VerifierError {
            makeError(
                pc, "call of global function \(info.name)(): " + reason, register: register, state: s,
                kernel: (kernelLine.map { $0 + "\n" } ?? "") + caller)
        }
        if case .unsupported(let text)? = info.returns {
            throw fail("it must return an integer (the kernel verifies global functions from their BTF types)", text)
        }
        guard info.arguments.count <= 5 else {
            throw fail("it has \(info.arguments.count) arguments, more than 5", nil)
        }
        for (index, argument) in info.arguments.enumerated() {
            let r = index + 1
            let reg = s[register: r]
            switch argument {
            case .unsupported(let text):
                throw fail("argument \(index) has a type the kernel cannot verify a global function from", text)
            case .scalar:
                guard reg.kind == .scalar else {
                    throw fail(
                        "argument \(index) is an integer, but R\(r) is \(reg.description(maps: program.maps))",
                        "R\(r) is not a scalar", register: r)
                }
            case .context:
                guard reg.kind == .context, reg.offset == 0 else {
                    throw fail(
                        "argument \(index) is the context (struct xdp_md *), but R\(r) is "
                            + reg.description(maps: program.maps), "arg#\(index) expects pointer to ctx", register: r)
                }
            case .memory(let size):
                if reg.kind == .scalar && reg.value.constantValue == 0 { continue }
                switch reg.kind {
                case .stack, .packet, .packetMeta, .mapValue, .ringbufRecord:
                    break
                default:
                    throw fail(
                        "argument \(index) points to \(size) bytes of memory, but R\(r) is "
                            + reg.description(maps: program.maps),
                        "R\(r) type=\(reg.kind.kernelTypeName) expected=fp", register: r)
                }
                do {
                    // The callee may read and write all `size` bytes.
                    try memoryArgument(&s, r, pc, name: info.name, min: Int64(size), max: Int64(size), write: false)
                    try memoryArgument(&s, r, pc, name: info.name, min: Int64(size), max: Int64(size), write: true)
                } catch {
                    var e = error
                    e.reason = "call of global function \(info.name)(): " + e.reason
                    if reg.kind == .stack && e.kernelReason?.hasPrefix("invalid read from stack") == true {
                        let offset = reg.offset &+ Int64(bitPattern: reg.value.constantValue ?? 0)
                        e.kernelReason = "invalid read from stack R\(r) off=\(offset) size=\(size)\n" + caller
                    } else {
                        e.kernelReason = (e.kernelReason.map { $0 + "\n" } ?? "") + caller
                    }
                    throw e
                }
            }
        }
        if functionChangesPacket(entry) {
            s.forEachRegister { reg in
                if reg.kind == .packet || reg.kind == .packetEnd || reg.kind == .packetMeta { reg = .unknownScalar }
            }
        }
        for r in 1...5 { s[register: r] = .notInitialised }
        s[register: 0] = .unknownScalar
        return .next(pc + 1)
    }

    /// Whether the function at `entry`, or anything it calls, may call a helper that changes the packet.
    func functionChangesPacket(_ entry: Int) -> Bool {
        var seen: Set<Int> = []
        var pending = [structure.subprogramOf[entry]]
        while let sub = pending.popLast() {
            guard seen.insert(sub).inserted else { continue }
            let start = structure.subprograms[sub]
            let end = sub + 1 < structure.subprograms.count ? structure.subprograms[sub + 1] : insns.count
            for pc in start..<end {
                switch structure.operations[pc] {
                case .call(.helper)?:
                    if options.helper(insns[pc].imm)?.changesPacket == true { return true }
                case .call(.local)?:
                    pending.append(structure.subprogramOf[pc + 1 + Int(insns[pc].imm)])
                default: break
                }
            }
        }
        return false
    }

    /// The entry state of a global function verified on its own.
    func globalEntryState(_ entry: Int, _ info: FunctionInfo) -> AbstractState {
        var state = AbstractState(frames: [FrameState(frameIndex: 0, callSite: -1, subprogram: Int32(entry))])
        for (index, argument) in info.arguments.prefix(5).enumerated() {
            switch argument {
            case .scalar: state[register: index + 1] = .unknownScalar
            case .context: state[register: index + 1] = .pointer(.context)
            case .memory(let size):
                var reg = RegisterState.pointer(.ringbufRecordOrNull)
                reg.size = Int64(size)
                reg.id = newID()
                state[register: index + 1] = reg
            case .unsupported: break
            }
        }
        return state
    }

}

extension RegisterKind {
    /// The kernel's `reg_type_str`.
    var kernelTypeName: String {
        switch self {
        case .notInitialised: "?"
        case .scalar: "scalar"
        case .context: "ctx"
        case .packet: "pkt"
        case .packetEnd: "pkt_end"
        case .packetMeta: "pkt_meta"
        case .stack: "fp"
        case .mapValue: "map_value"
        case .mapValueOrNull: "map_value_or_null"
        case .mapPointer: "map_ptr"
        case .ringbufRecord: "mem"
        case .ringbufRecordOrNull: "mem_or_null"
        case .codeAddress: "func"
        }
    }
}
