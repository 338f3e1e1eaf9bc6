/// Finds the loads from the program's context (`struct xdp_md *`) so the translator can turn them into loads of the
/// engine's real values — the kernel's context rewrite, which lets frames live anywhere in memory.
///
/// A forward data-flow analysis over all paths tracks which registers (and 8-byte stack spills) hold the context
/// pointer. A load whose base is the context on every path reaching it is a context load; one whose base is the
/// context on some paths only, a store to the context, or an access outside `xdp_md`, is an error (the kernel
/// rejects those too). The verifier performs the same tracking as part of its type analysis; this pass exists so
/// that unverified programs (`--no-verify`, the conformance suite) run with the same context semantics.
public enum ContextAnalysis {
    /// Bit set per register: 1 = context pointer, 2 = anything else; 0 = not reached yet.
    private typealias Kind = UInt8
    private static let context: Kind = 1
    private static let other: Kind = 2

    private struct State: Equatable {
        var registers: [Kind] = Array(repeating: ContextAnalysis.other, count: 11)
        /// Spilled 8-byte slots by offset from r10.
        var slots: [Int: Kind] = [:]

        /// Joins `other` in; returns whether anything changed.
        mutating func join(_ incoming: State) -> Bool {
            var changed = false
            for i in 0..<11 where registers[i] | incoming.registers[i] != registers[i] {
                registers[i] |= incoming.registers[i]
                changed = true
            }
            for (offset, kind) in incoming.slots {
                let merged = (slots[offset] ?? ContextAnalysis.other) | kind
                if slots[offset] != merged {
                    slots[offset] = merged
                    changed = true
                }
            }
            for (offset, kind) in slots where incoming.slots[offset] == nil && kind & ContextAnalysis.other == 0 {
                slots[offset] = kind | ContextAnalysis.other
                changed = true
            }
            return changed
        }
    }

    /// Analyses an entry program (r1 = context at instruction 0). Returns context loads by instruction index.
    public static func contextLoads(in program: [Instruction]) throws(ProgramError) -> [Int: ContextField] {
        var operations: [Operation?] = []
        operations.reserveCapacity(program.count)
        for insn in program { operations.append(try? Operation(decoding: insn)) }

        var states: [State?] = Array(repeating: nil, count: program.count)
        var entry = State()
        entry.registers[1] = context
        states[0] = entry
        var worklist: [Int] = [0]
        var result: [Int: ContextField] = [:]
        var visits = 0

        func propagate(_ state: State, to target: Int) {
            guard target >= 0 && target < program.count else { return }
            if states[target] == nil {
                states[target] = state
                worklist.append(target)
            } else if states[target]!.join(state) {
                worklist.append(target)
            }
        }

        while let pc = worklist.popLast() {
            visits += 1
            if visits > 4_000_000 { break }  // pathological input; the verifier bounds the real work
            guard var state = states[pc], let operation = operations[pc] else { continue }
            let insn = program[pc]
            let d = Int(insn.dst)
            let s = Int(insn.src)
            var fallsThrough = true
            switch operation {
            case .alu(.mov, .bits64, .register):
                state.registers[d] = state.registers[s]
            case .alu, .neg, .movsx, .byteOrder:
                state.registers[d] = other
            case .load(let size, _):
                let base = state.registers[s]
                if base & context != 0 {
                    guard base == context else {
                        throw ProgramError(
                            instructionIndex: pc,
                            reason: "r\(s) is the context pointer on some paths and another pointer on others")
                    }
                    result[pc] = try field(at: Int(insn.offset), size: size.byteCount, pc: pc)
                    state.registers[d] = other
                } else if s == 10 && size == .double {
                    state.registers[d] = state.slots[Int(insn.offset)] ?? other
                } else {
                    state.registers[d] = other
                }
            case .store(let size, let source):
                if state.registers[d] & context != 0 {
                    throw ProgramError(instructionIndex: pc, reason: "writes to the context (xdp_md) are not allowed")
                }
                if d == 10 {
                    let offset = Int(insn.offset)
                    if size == .double && source == .register {
                        state.slots[offset] = state.registers[s]
                    } else {
                        // A narrower store overwrites part of any spill it touches.
                        for slot in state.slots.keys where slot < offset + size.byteCount && offset < slot + 8 {
                            state.slots[slot] = other
                        }
                    }
                }
            case .atomic(_, let fetch, _):
                if state.registers[d] & context != 0 {
                    throw ProgramError(instructionIndex: pc, reason: "writes to the context (xdp_md) are not allowed")
                }
                if fetch { state.registers[s] = other }
                state.registers[0] = other
            case .loadImmediate64:
                state.registers[d] = other
                propagate(state, to: pc + 2)
                fallsThrough = false
            case .legacyPacketLoad:
                state.registers[0] = other
            case .jumpAlways(let long):
                propagate(state, to: pc + 1 + (long ? Int(insn.imm) : Int(insn.offset)))
                fallsThrough = false
            case .jump:
                propagate(state, to: pc + 1 + Int(insn.offset))
            case .call(.local):
                var callee = State()
                for r in 1...5 { callee.registers[r] = state.registers[r] }
                propagate(callee, to: pc + 1 + Int(insn.imm))
                for r in 0...5 { state.registers[r] = other }
            case .call(.helper) where insn.imm == ControlHelperID.loop:
                // bpf_loop(nr, callback, ctx, flags): the callback runs with r1 = index, r2 = ctx argument.
                if let callbackIndex = callbackTarget(program, operations, before: pc) {
                    var callee = State()
                    callee.registers[2] = state.registers[3]
                    propagate(callee, to: callbackIndex)
                }
                for r in 0...5 { state.registers[r] = other }
            case .call, .callRegister:
                for r in 0...5 { state.registers[r] = other }
            case .exit:
                fallsThrough = false
            }
            if fallsThrough { propagate(state, to: pc + 1) }
        }
        // Callbacks reached only through code addresses that are not bpf_loop arguments are analysed with r2 unknown.
        return result
    }

    /// The code address most recently loaded into r2 before a `bpf_loop` call (clang emits it just before the call).
    private static func callbackTarget(_ program: [Instruction], _ operations: [Operation?], before pc: Int) -> Int? {
        var i = pc - 1
        while i >= 0 && i >= pc - 16 {
            if operations[i] == .loadImmediate64(.codeAddress) && program[i].dst == 2 {
                return i + 1 + Int(program[i].imm)
            }
            if i >= 1, operations[i - 1] == .loadImmediate64(.codeAddress), program[i - 1].dst == 2 {
                return i + Int(program[i - 1].imm)
            }
            i -= 1
        }
        return nil
    }

    private static func field(at offset: Int, size: Int, pc: Int) throws(ProgramError) -> ContextField {
        guard offset >= 0, offset + size <= ContextField.contextSize,
            let field = ContextField(rawValue: UInt8(offset / 4))
        else {
            throw ProgramError(instructionIndex: pc, reason: "invalid access to xdp_md at offset \(offset), size \(size)")
        }
        if field.isPointer {
            guard size == 4 && offset % 4 == 0 else {
                throw ProgramError(
                    instructionIndex: pc,
                    reason: "xdp_md pointer field at offset \(offset) must be read with a 4-byte load (size \(size))")
            }
        } else {
            guard offset % 4 + size <= 4 && offset % size == 0 else {
                throw ProgramError(
                    instructionIndex: pc, reason: "misaligned or oversized xdp_md access at offset \(offset), size \(size)")
            }
        }
        return field
    }
}
