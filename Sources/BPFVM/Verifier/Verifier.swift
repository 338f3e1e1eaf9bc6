/// Proves an XDP program safe before it runs, as the kernel's verifier does: every path is explored with an abstract
/// state (register types, scalar bounds, stack contents, proven packet ranges, held references), and every memory
/// access, helper call and exit is checked against it. Accepted programs run without bounds checks.
///
/// The result also lists the program's context loads, which the translator rewrites
/// (`TranslationContext.contextLoads`).
public struct Verifier: Sendable {
    public struct Options: Sendable {
        /// Instructions processed over all paths before giving up (the kernel's `BPF_COMPLEXITY_LIMIT_INSNS`).
        public var instructionLimit: Int
        /// Helper description by kernel id; nil = unknown helper.
        public var helper: @Sendable (Int32) -> HelperSpec?
        /// kfunc description by name; nil = not provided.
        public var kfunc: @Sendable (String) -> HelperSpec?
        /// Precision tracking and stack liveness in state pruning (as the kernel). False compares every scalar's
        /// range and every stack slot: slower, never a different decision (the tests check that).
        public var precisionTracking = true
        /// Store a state at every prune point, not only as the kernel's heuristics choose (the kernel's
        /// `BPF_F_TEST_STATE_FREQ`): more pruning opportunities, for tests of pruning.
        public var storeStateAtEveryPrunePoint = false

        public init(
            instructionLimit: Int = 1_000_000,
            helper: @escaping @Sendable (Int32) -> HelperSpec? = Verifier.defaultHelper,
            kfunc: @escaping @Sendable (String) -> HelperSpec? = Verifier.defaultKfunc
        ) {
            self.instructionLimit = instructionLimit
            self.helper = helper
            self.kfunc = kfunc
        }
    }

    public var options: Options
    public init(options: Options = .init()) { self.options = options }

    /// Verifies `program` alone (not its tail-call siblings): the proof `LoadedProgram(verified:)` needs.
    public func verify(_ program: ProgramSpec) throws(VerifierError) -> VerifiedProgram {
        VerifiedProgram(spec: program, reports: [program.name: try report(program)])
    }

    /// Verifies a program and every sibling it may tail-call into (`ProgramSpec.siblings`); each report is under its
    /// function name.
    public func verifyWithSiblings(_ program: ProgramSpec) throws(VerifierError) -> VerifiedProgram {
        var reports = [program.name: try report(program)]
        for (name, sibling) in program.siblings.sorted(by: { $0.key < $1.key }) where reports[name] == nil {
            reports[name] = try report(sibling)
        }
        return VerifiedProgram(spec: program, reports: reports)
    }

    private func report(_ program: ProgramSpec) throws(VerifierError) -> VerificationReport {
        let run = try VerifierRun(program: program, options: options)
        return try run.verify()
    }
}

/// The kernel's limits the verifier enforces.
enum VerifierLimits {
    static let maxFrames = 8
    static let stackSize: Int64 = 512
    /// `BPF_MAX_VAR_OFF`: pointer offsets (fixed and variable) stay within ±2^29.
    static let maxOffset: Int64 = 1 << 29
    /// `BPF_MAX_VAR_SIZ`: helper memory sizes.
    static let maxMemorySize: UInt64 = 1 << 29
    /// `MAX_PACKET_OFF`.
    static let maxPacketOffset: Int64 = 0xffff
    static let maxLoops: UInt64 = 1 << 23
}

/// One verification: the program, its structure, the exploration state and the results.
final class VerifierRun {
    let program: ProgramSpec
    let insns: [Instruction]
    let options: Options
    typealias Options = Verifier.Options
    let structure: ProgramStructure

    // Results
    var contextLoads: [Int: ContextField] = [:]
    var nonContextLoads: Set<Int> = []
    var warnings: [String] = []
    var stackDepth: [Int]  // per sub-program, bytes
    var processed = 0
    var pruned = 0
    var peakPending = 0
    /// Jump, call and exit instructions processed (the kernel's `jmps_processed`).
    var jumpsProcessed = 0
    /// `processed` and `jumpsProcessed` when the last state was stored (the kernel's `prev_insn_processed`, …).
    var processedAtLastStore = 0
    var jumpsAtLastStore = 0
    /// Stored states still compared at their instruction, and the most there were at once (`peak_states`).
    var liveStates = 0
    var peakStates = 0
    /// The most stored states one prune point compared a path against (`max_states_per_insn`).
    var maxStatesPerInstruction = 0
    /// Backtracking walks that gave up and marked every ancestor's scalars precise.
    var precisionFallbacks = 0

    // Exploration
    struct Stored {
        var state: AbstractState
        var branches: Int
        var parent: Int
        /// The path's instructions from `parent` to this state, for backtracking.
        var history: [HistoryEntry]
        /// Precise scalars: registers and stack slots (spills) per frame; `allPrecise` after a fallback.
        var preciseRegisters: [UInt16]
        var preciseSlots: [UInt64]
        var allPrecise = false
        /// Stack slots, per frame, that a continuation reads before writing them (the others are not compared).
        var readSlots: [UInt64]
        /// The kernel's eviction heuristic: a state that keeps failing to prune is dropped from its list.
        var hits = 0
        var misses = 0
        /// Register kinds of the top frame, 4 bits each (a quick filter before the full comparison), and which of
        /// them must match (live and initialised in the stored state).
        var kinds: UInt64
        var kindMask: UInt64
    }

    /// Kinds of the top frame's live registers, 4 bits per register.
    func kindSignature(_ state: AbstractState, pc: Int) -> (kinds: UInt64, mask: UInt64) {
        let live = structure.liveIn[pc]
        var kinds: UInt64 = 0
        var mask: UInt64 = 0
        let top = state.frames[state.top]
        for r in 0..<10 where live & (1 << UInt16(r)) != 0 {
            let kind = top.registers[r].kind
            kinds |= UInt64(kind.rawValue) << UInt64(4 * r)
            if kind != .notInitialised { mask |= 0xf << UInt64(4 * r) }
        }
        return (kinds, mask | UInt64(state.frames.count) << 60 | 0xf << 60)
    }
    /// Entries of global functions a verified path called or took the address of.
    var calledGlobals: Set<Int> = []
    var stored: [Stored] = []
    var storedAt: [[Int]]
    var nextID: UInt32 = 0

    init(program: ProgramSpec, options: Options) throws(VerifierError) {
        self.program = program
        self.insns = program.instructions
        self.options = options
        storedAt = Array(repeating: [], count: program.instructions.count)
        structure = try ProgramStructure(program, helperArguments: { options.helper($0)?.arguments.count }) { pc, reason in
            VerifierRun.makeError(program, pc, reason, registerText: nil, source: nil)
        }
        stackDepth = Array(repeating: 0, count: structure.subprograms.count)
    }

    func newID() -> UInt32 {
        nextID += 1
        return nextID
    }

    // MARK: Errors

    func makeError(
        _ pc: Int, _ reason: String, register: Int? = nil, state: AbstractState? = nil, kernel: String? = nil
    ) -> VerifierError {
        var registerText: String? = nil
        if let register, let state {
            registerText = "R\(register) = " + state[register: register].description(maps: program.maps)
        }
        var error = VerifierRun.makeError(program, pc, reason, registerText: registerText, source: nil)
        error.kernelReason = kernel
        return error
    }

    static func makeError(
        _ program: ProgramSpec, _ pc: Int, _ reason: String, registerText: String?, source: SourceLocation?
    ) -> VerifierError {
        let insns = program.instructions
        let index = max(0, min(pc, insns.count - 1))
        let text =
            insns.isEmpty
            ? "(none)" : Disassembler.text(of: insns[index], next: index + 1 < insns.count ? insns[index + 1] : nil)
        var location = source
        if location == nil {
            var i = index
            while i >= 0 && location == nil {
                if let l = program.lineInfo[i], l.line > 0 { location = l }
                i -= 1
            }
        }
        return VerifierError(
            programName: program.name, instructionIndex: index, instruction: text, source: location,
            registerState: registerText, reason: reason)
    }

    func sourceLocation(_ pc: Int) -> SourceLocation? {
        var i = pc
        while i >= 0 {
            if let l = program.lineInfo[i], l.line > 0 { return l }
            i -= 1
        }
        return nil
    }

    func at(_ pc: Int) -> String {
        if let l = sourceLocation(pc) {
            return "instruction \(pc) (\(l.file.split(separator: "/").last ?? ""):\(l.line))"
        }
        return "instruction \(pc)"
    }

    // MARK: Driver

    struct Pending {
        var state: AbstractState
        var pc: Int
        var parent: Int
        /// Instructions since `parent` was stored, and how many of them were jumps.
        var history: [HistoryEntry] = []
        var jumps = 0
    }

    func verify() throws(VerifierError) -> VerificationReport {
        var entry = AbstractState(frames: [FrameState(frameIndex: 0, callSite: -1, subprogram: 0)])
        entry[register: 1] = .pointer(.context)
        var work: [Pending] = [Pending(state: entry, pc: 0, parent: -1)]
        while var path = work.popLast() {
            try explore(&path, &work)
        }
        // As the kernel since 6.8 (lazy global subprogram validation): a global function is verified, on its own,
        // when a verified path calls it (or takes its address), not when no path reaches it.
        var verifiedGlobals: Set<Int> = []
        while let entry = calledGlobals.subtracting(verifiedGlobals).min() {
            verifiedGlobals.insert(entry)
            guard let info = globalFunction(at: entry) else { continue }
            work = [Pending(state: globalEntryState(entry, info), pc: entry, parent: -1)]
            while var path = work.popLast() {
                try explore(&path, &work)
            }
        }
        try checkStackDepth()
        var report = VerificationReport(
            contextLoads: contextLoads, instructionsProcessed: processed, statesStored: stored.count,
            statesPruned: pruned, peakPendingStates: peakPending, stackDepth: maxChainDepth, warnings: warnings)
        report.peakStates = peakStates
        report.maxStatesPerInstruction = maxStatesPerInstruction
        report.precisionFallbacks = precisionFallbacks
        return report
    }

    /// A path ended (exit or pruned): its nearest stored ancestors may now be complete.
    func finishPath(parent: Int) {
        var p = parent
        while p >= 0 {
            stored[p].branches -= 1
            if stored[p].branches > 0 { return }
            p = stored[p].parent
        }
    }

    /// Follows one path until it ends, pushing the other side of every undecided branch.
    func explore(_ path: inout Pending, _ work: inout [Pending]) throws(VerifierError) {
        while true {
            let pc = path.pc
            processed += 1
            if processed > options.instructionLimit {
                throw makeError(
                    pc,
                    "program too complex: more than \(options.instructionLimit) instructions processed "
                        + "(loops must end within that budget over all paths)",
                    kernel: "BPF program is too large. Processed \(options.instructionLimit + 1) insn")
            }
            if structure.isPrunePoint[pc] {
                switch try checkPrunePoint(&path) {
                case .prune:
                    pruned += 1
                    finishPath(parent: path.parent)
                    return
                case .continueWith(let parent):
                    path.parent = parent
                }
            }
            let entry = historyEntry(path.state, pc)
            for read in stackReads(path.state, pc) {
                markStackRead(frame: read.frame, slots: read.slots, history: path.history, parent: path.parent)
            }
            let before = path.state
            let result = try step(&path.state, pc)
            if let demand = precisionDemand(before, pc, result) {
                markPrecise(demand, history: path.history, parent: path.parent, depth: before.frames.count)
            }
            path.history.append(entry)
            if entry.flags & HistoryEntry.isJump != 0 { path.jumps += 1 }
            switch structure.operations[pc] {
            case .jump?, .jumpAlways?, .call?, .callRegister?, .exit?: jumpsProcessed += 1
            default: break
            }
            switch result {
            case .next(let n):
                path.pc = n
            case .branch(let taken, let target, let fallState, let fall):
                switch (taken, fallState) {
                case (let t?, let f?):
                    if path.parent >= 0 { stored[path.parent].branches += 1 }
                    work.append(
                        Pending(state: t, pc: target, parent: path.parent, history: path.history, jumps: path.jumps))
                    peakPending = max(peakPending, work.count)
                    path.state = f
                    path.pc = fall
                case (let t?, nil):
                    path.state = t
                    path.pc = target
                case (nil, let f?):
                    path.state = f
                    path.pc = fall
                case (nil, nil):
                    finishPath(parent: path.parent)
                    return
                }
            case .end:
                finishPath(parent: path.parent)
                return
            }
        }
    }

    enum PruneDecision {
        case prune
        case continueWith(parent: Int)
    }

    /// The kernel's `is_state_visited`: prune when a complete stored state covers the path; refuse when an
    /// incomplete one (the path's own ancestor, in a loop) equals it exactly; otherwise maybe store the path's state,
    /// with the kernel's heuristics for how often (at least 2 jumps and 8 instructions since the last store; 20 and
    /// 100 inside a loop; always after 40 jumps).
    func checkPrunePoint(_ path: inout Pending) throws(VerifierError) -> PruneDecision {
        let pc = path.pc
        var (kinds, _) = kindSignature(path.state, pc: pc)
        kinds |= UInt64(path.state.frames.count) << 60
        let forceNew = options.storeStateAtEveryPrunePoint || path.jumps > 40
        var addNew =
            forceNew || (jumpsProcessed - jumpsAtLastStore >= 2 && processed - processedAtLastStore >= 8)
        var compared = 0
        // Newest first, as the kernel keeps its list: a path meets the states of its own loop iterations (and the
        // 20/100 rule that stops storing inside a loop) before older ones, so older states are not charged misses
        // for comparisons the kernel never makes, and are not evicted sooner than the kernel evicts them.
        var position = storedAt[pc].count
        while position > 0 {
            position -= 1
            let index = storedAt[pc][position]
            compared += 1
            let matchesKinds = (stored[index].kinds ^ kinds) & stored[index].kindMask == 0
            if stored[index].branches > 0 {
                if matchesKinds && subsumes(stored[index], path.state, pc: pc, exact: true) {
                    throw makeError(
                        pc, "infinite loop detected at instruction \(pc): the state repeats without progress")
                }
                if !forceNew && jumpsProcessed - jumpsAtLastStore < 20 && processed - processedAtLastStore < 100 {
                    addNew = false
                }
            } else if matchesKinds && subsumes(stored[index], path.state, pc: pc, exact: false) {
                stored[index].hits += 1
                maxStatesPerInstruction = max(maxStatesPerInstruction, compared)
                propagatePrecision(from: index, to: path)
                return .prune
            }
            if addNew { stored[index].misses += 1 }
            if stored[index].misses > stored[index].hits * 3 + 3 {
                storedAt[pc].remove(at: position)
                liveStates -= 1
            }
        }
        maxStatesPerInstruction = max(maxStatesPerInstruction, compared)
        if !addNew || storedAt[pc].count >= 512 { return .continueWith(parent: path.parent) }
        let frames = path.state.frames.count
        stored.append(
            Stored(
                state: path.state, branches: 1, parent: path.parent, history: path.history,
                preciseRegisters: Array(repeating: 0, count: frames), preciseSlots: Array(repeating: 0, count: frames),
                readSlots: Array(repeating: 0, count: frames),
                kinds: kinds, kindMask: kindSignature(path.state, pc: pc).mask))
        storedAt[pc].append(stored.count - 1)
        liveStates += 1
        peakStates = max(peakStates, liveStates)
        processedAtLastStore = processed
        jumpsAtLastStore = jumpsProcessed
        path.history = []
        path.jumps = 0
        return .continueWith(parent: stored.count - 1)
    }

    /// A path pruned against `index` depends on what that state's continuation needed precise: mark the same
    /// registers and slots precise on the path (the kernel's `propagate_precision`).
    func propagatePrecision(from index: Int, to path: Pending) {
        let old = stored[index]
        for f in old.readSlots.indices where old.readSlots[f] != 0 {
            markStackRead(frame: f, slots: old.readSlots[f], history: path.history, parent: path.parent)
        }
        var mask = PrecisionMask()
        for f in old.state.frames.indices {
            let frame = old.state.frames[f]
            let live = liveRegisters(old.state, frame: f, pc: path.pc)
            for r in 0..<10 where frame.registers[r].kind == .scalar && live & (1 << UInt16(r)) != 0 {
                if old.allPrecise || old.preciseRegisters[f] & (1 << UInt16(r)) != 0 {
                    mask.registers[f] |= 1 << UInt16(r)
                }
            }
            for i in frame.slots.indices where frame.slots[i].spill?.kind == .scalar {
                if old.allPrecise || old.preciseSlots[f] & (1 << UInt64(i)) != 0 { mask.slots[f] |= 1 << UInt64(i) }
            }
        }
        if !mask.isEmpty {
            markPrecise(mask, history: path.history, parent: path.parent, depth: path.state.frames.count)
        }
    }

    // MARK: Stack depth

    var maxChainDepth = 0

    /// The kernel's `check_max_stack_depth`: along every static call chain, the frames' stack use (each rounded up
    /// to 32 bytes) must fit in 512 bytes. (Call depth is checked on the paths themselves.) Memoised, so a call
    /// graph with much fan-out costs linear time.
    func checkStackDepth() throws(VerifierError) {
        try checkRecursion()
        let subs = structure.subprograms
        func frameSize(_ s: Int) -> Int { (max(stackDepth[s], 1) + 31) / 32 * 32 }
        var memo: [Int: (bytes: Int, chain: [Int])] = [:]
        var onPath = Set<Int>()
        func deepest(_ s: Int) -> (bytes: Int, chain: [Int]) {
            if let known = memo[s] { return known }
            onPath.insert(s)
            var best: (bytes: Int, chain: [Int]) = (0, [])
            for c in structure.callees[s] where !onPath.contains(c) {
                let candidate = deepest(c)
                if candidate.bytes > best.bytes { best = candidate }
            }
            onPath.remove(s)
            let result = (frameSize(s) + best.bytes, [s] + best.chain)
            memo[s] = result
            return result
        }
        let (total, chain) = deepest(0)
        maxChainDepth = total
        if total > Int(VerifierLimits.stackSize) {
            let names = chain.map { "\(subs[$0]) (\(frameSize($0)) bytes)" }.joined(separator: " → ")
            throw makeError(
                subs[chain.last ?? 0],
                "combined stack size of \(chain.count) calls is \(total) bytes, more than 512: \(names)")
        }
    }
}

extension VerifierRun {
    /// The kernel walks the static call graph after exploring the paths (`check_max_stack_depth`) and refuses any
    /// recursion, even one a value bounds, because the walk never ends before 8 frames.
    func checkRecursion() throws(VerifierError) {
        let count = structure.subprograms.count
        var calls = [[(site: Int, callee: Int)]](repeating: [], count: count)
        for pc in insns.indices {
            if case .call(.local)? = structure.operations[pc] {
                calls[structure.subprogramOf[pc]].append((pc, structure.subprogramOf[pc + 1 + Int(insns[pc].imm)]))
            }
        }
        var state = [UInt8](repeating: 0, count: count)  // 0 unvisited, 1 on the path, 2 done
        var path: [(site: Int, callee: Int)] = []
        func visit(_ sub: Int) -> [(site: Int, callee: Int)]? {
            state[sub] = 1
            for call in calls[sub] {
                path.append(call)
                if state[call.callee] == 1 { return path }
                if state[call.callee] == 0, let cycle = visit(call.callee) { return cycle }
                path.removeLast()
            }
            state[sub] = 2
            return nil
        }
        guard let cycle = visit(0), let last = cycle.last else { return }
        let names = cycle.drop { structure.subprogramOf[$0.site] != last.callee }.map {
            "\(functionName(structure.subprogramOf[$0.site])) calls \(functionName($0.callee)) at \(at($0.site))"
        }
        throw makeError(
            last.site, "recursive call: " + names.joined(separator: ", ") + " (BPF functions may not recurse)",
            kernel: "the call stack of \(VerifierLimits.maxFrames) frames is too deep !")
    }

    func functionName(_ sub: Int) -> String {
        let entry = structure.subprograms[sub]
        return program.functions[entry]?.name ?? "function at instruction \(entry)"
    }
}

extension Verifier {
    /// `HelperTable`'s helpers.
    public static let defaultHelper: @Sendable (Int32) -> HelperSpec? = { HelperTable.spec(id: $0) }
    /// `HelperTable`'s kfuncs.
    public static let defaultKfunc: @Sendable (String) -> HelperSpec? = { HelperTable.kfunc(named: $0) }
}
