import BPFVM

/// Watches observed runs (`Machine.runXDPObserved`) of one loaded program and its tail-call targets: per instruction,
/// the registers it changed, the memory it read or wrote, helper calls with arguments and result, branches taken or
/// not; and over many runs, hit counts per instruction and per branch for coverage.
///
/// Used only for the packets a user asked to trace and for `--coverage`; the replay fast path never creates one.
public final class ExecutionRecorder {
    /// A program the recorder can name: the entry program or one of its siblings.
    public struct ProgramInfo {
        public var name: String
        public var spec: ProgramSpec
        public var code: UnsafeRawPointer
        /// Hits per instruction index, and per conditional jump how often it was taken / fell through.
        public var hits: [UInt64]
        public var taken: [UInt64]
        public var notTaken: [UInt64]
    }

    /// One executed instruction and what it did.
    public struct Step: Sendable {
        public var program: String
        public var index: Int
        public var depth: Int
        public var text: String
        public var location: SourceLocation?
        /// Registers whose value changed, with the new value.
        public var changed: [(register: Int, value: UInt64)]
        public var memory: MemoryAccess?
        public var call: HelperCall?
        /// For conditional jumps: whether the jump was taken.
        public var branchTaken: Bool?
    }

    public struct MemoryAccess: Sendable {
        public var isWrite: Bool
        public var address: UInt64
        /// `ctx+N` for context loads (the program's `xdp_md`), else nil.
        public var contextOffset: Int?
        public var size: Int
        /// The value read (the loaded register) or written (memory after the store), little-endian.
        public var value: UInt64
    }

    public struct HelperCall: Sendable {
        public var name: String
        public var arguments: [UInt64]
        public var result: UInt64
    }

    public private(set) var programs: [ProgramInfo]
    /// Record steps (trace) or only count (coverage).
    public var recordsSteps = false
    public private(set) var steps: [Step] = []
    public private(set) var instructionCount: UInt64 = 0

    private let contextPointer: UInt64
    private var pending: (program: Int, index: Int, depth: Int, before: [UInt64], access: MemoryAccess?)?
    private var observerStorage: UnsafeMutablePointer<InstructionObserver>
    private var mapNames: [String]

    public init(program: LoadedProgram, contextPointer: UInt64) {
        self.contextPointer = contextPointer
        var programs = [
            ProgramInfo(
                name: program.spec.name, spec: program.spec, code: UnsafeRawPointer(program.executable.entry.code),
                hits: [], taken: [], notTaken: [])
        ]
        for (name, executable) in program.siblings.sorted(by: { $0.key < $1.key }) {
            guard let spec = program.spec.siblings[name] else { continue }
            programs.append(
                ProgramInfo(
                    name: name, spec: spec, code: UnsafeRawPointer(executable.entry.code), hits: [], taken: [],
                    notTaken: []))
        }
        for i in programs.indices {
            let count = programs[i].spec.instructions.count
            programs[i].hits = Array(repeating: 0, count: count)
            programs[i].taken = Array(repeating: 0, count: count)
            programs[i].notTaken = Array(repeating: 0, count: count)
        }
        self.programs = programs
        mapNames = program.spec.maps.map(\.name)
        observerStorage = .allocate(capacity: 1)
        observerStorage.initialize(to: InstructionObserver { _ in })
        observerStorage.pointee.willExecute = { [unowned self] step in self.willExecute(step) }
    }

    deinit {
        observerStorage.deinitialize(count: 1)
        observerStorage.deallocate()
    }

    /// The observer to pass to an observed run. Call `begin()` before and `end(registers:)` after each run.
    public var observer: UnsafeMutablePointer<InstructionObserver> { observerStorage }

    /// Starts a run: clears the steps of the last one.
    public func begin() {
        steps.removeAll(keepingCapacity: true)
        instructionCount = 0
        pending = nil
    }

    /// Ends a run: completes the last instruction's record from the final registers. `faulted`: the last
    /// instruction did not complete (its memory is not read).
    public func end(registers: UnsafePointer<UInt64>, faulted: Bool) {
        if faulted {
            if let p = pending, recordsSteps {
                steps.append(step(p, after: registers, completed: false, nextIndex: nil))
            }
            pending = nil
        } else {
            complete(after: registers, nextCode: nil, nextIndex: nil)
        }
    }

    private func willExecute(_ step: ObservedStep) {
        complete(after: step.registers, nextCode: step.code, nextIndex: step.index)
        instructionCount += 1
        let program = programs.firstIndex { $0.code == step.code } ?? 0
        programs[program].hits[step.index] += 1
        var access: MemoryAccess? = nil
        let insn = programs[program].spec.instructions[step.index]
        let cls = insn.opcode & 0x07
        let mode = insn.opcode & 0xe0
        let size = [4, 2, 1, 8][Int((insn.opcode >> 3) & 0x03)]
        if cls == 0x01 && (mode == 0x60 || mode == 0x80) {
            let address = step.registers[Int(insn.src)] &+ UInt64(bitPattern: Int64(insn.offset))
            let delta = Int64(bitPattern: address &- contextPointer)
            access = MemoryAccess(
                isWrite: false, address: address,
                contextOffset: delta >= 0 && delta < 64 ? Int(delta) : nil, size: size, value: 0)
        } else if (cls == 0x02 || cls == 0x03) && (mode == 0x60 || mode == 0xc0) {
            let address = step.registers[Int(insn.dst)] &+ UInt64(bitPattern: Int64(insn.offset))
            access = MemoryAccess(isWrite: true, address: address, contextOffset: nil, size: size, value: 0)
        }
        let before = recordsSteps ? Array(UnsafeBufferPointer(start: step.registers, count: 11)) : []
        pending = (program, step.index, step.depth, before, access)
    }

    private func complete(after registers: UnsafePointer<UInt64>, nextCode: UnsafeRawPointer?, nextIndex: Int?) {
        guard let p = pending else { return }
        pending = nil
        let insn = programs[p.program].spec.instructions[p.index]
        let cls = insn.opcode & 0x07
        let op = insn.opcode & 0xf0
        if (cls == 0x05 || cls == 0x06) && op != 0x00 && op != 0x80 && op != 0x90, let nextIndex {
            if nextIndex != p.index + 1 { programs[p.program].taken[p.index] += 1 } else {
                programs[p.program].notTaken[p.index] += 1
            }
        }
        if recordsSteps { steps.append(step(p, after: registers, completed: true, nextIndex: nextIndex)) }
    }

    private func step(
        _ p: (program: Int, index: Int, depth: Int, before: [UInt64], access: MemoryAccess?),
        after registers: UnsafePointer<UInt64>, completed: Bool, nextIndex: Int?
    ) -> Step {
        let info = programs[p.program]
        let insns = info.spec.instructions
        let insn = insns[p.index]
        let next = p.index + 1 < insns.count ? insns[p.index + 1] : nil
        var text = KernelSyntax.text(
            of: insn, at: p.index, next: next, symbols: KernelSyntax.Symbols(mapNames: mapNames))
        if let close = text.firstIndex(of: ")"), text.hasPrefix("(") {
            text = String(text[text.index(after: close)...].drop { $0 == " " })
        }
        var changed: [(Int, UInt64)] = []
        if completed {
            for r in 0..<11 where registers[r] != p.before[r] { changed.append((r, registers[r])) }
        }
        var memory = p.access
        if completed, var access = memory {
            if access.isWrite {
                access.value = Self.load(access.address, size: access.size)
            } else {
                access.value = registers[Int(insn.dst)]
            }
            memory = access
        }
        var call: HelperCall? = nil
        if insn.opcode == 0x85 && insn.src != 1 {
            let name =
                insn.src == 0
                ? (HelperTable.spec(id: insn.imm)?.name ?? "helper#\(insn.imm)")
                : (info.spec.kfuncCalls[p.index]?.name ?? "kfunc")
            call = HelperCall(
                name: name, arguments: Array(p.before[1...5]), result: completed ? registers[0] : 0)
        }
        let cls = insn.opcode & 0x07
        let op = insn.opcode & 0xf0
        var branch: Bool? = nil
        if (cls == 0x05 || cls == 0x06) && op != 0x00 && op != 0x80 && op != 0x90, let nextIndex {
            branch = nextIndex != p.index + 1
        }
        return Step(
            program: info.name, index: p.index, depth: p.depth, text: text, location: info.spec.lineInfo[p.index],
            changed: changed, memory: memory, call: call, branchTaken: branch)
    }

    private static func load(_ address: UInt64, size: Int) -> UInt64 {
        guard let pointer = UnsafeRawPointer(bitPattern: UInt(address)) else { return 0 }
        switch size {
        case 1: return UInt64(pointer.load(as: UInt8.self))
        case 2: return UInt64(pointer.loadUnaligned(as: UInt16.self))
        case 4: return UInt64(pointer.loadUnaligned(as: UInt32.self))
        default: return pointer.loadUnaligned(as: UInt64.self)
        }
    }
}
