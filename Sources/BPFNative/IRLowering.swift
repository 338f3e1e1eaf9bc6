import BPFVM

/// Translates a program's decoded instructions (helpers, maps and context loads already resolved by the
/// `Translator`) into LLVM IR text: one function per BPF function (entry, BPF-to-BPF call targets, `bpf_loop`
/// callbacks), registers as `alloca` slots that `mem2reg` turns into SSA values, a 512-byte stack per function, and
/// no bounds checks (only verified programs get here, or conformance cases that the interpreter runs unchecked too).
///
/// Semantics follow the interpreter's `switch` (Interpreter.swift) case for case; `NativeDifferentialTests` runs
/// both on random programs.
struct IRLowering {
    let code: [DecodedInstruction]
    let instructions: [Instruction]
    /// Symbol of the exported entry function.
    let entryName: String
    let dataLayout: String
    let triple: String
    /// Address of `NativeRuntime.tailCallTarget`.
    let tailCallThunk: UInt

    /// Fault codes written to the caller's fault word (see `NativeFault`).
    enum FaultCode: Int32 {
        case invalidInstruction = 1, invalidCallback = 2, unknownHelper = 3, budgetExceeded = 4
    }

    private var out = ""
    private var next = 0
    private var functionStarts: [Int] = []
    private var callbacks: [Int] = []
    private var mayFault = false
    /// The leaders of the function being lowered.
    private var currentLeaders: Set<Int> = []

    init(
        code: [DecodedInstruction], instructions: [Instruction], entryName: String, dataLayout: String, triple: String,
        tailCallThunk: UInt
    ) {
        self.code = code
        self.instructions = instructions
        self.entryName = entryName
        self.dataLayout = dataLayout
        self.triple = triple
        self.tailCallThunk = tailCallThunk
    }

    // MARK: Environment layout, taken from the Swift struct so the two cannot drift apart.
    private static let envData = MemoryLayout<ExecutionEnvironment>.offset(of: \.data)!
    private static let envDataEnd = MemoryLayout<ExecutionEnvironment>.offset(of: \.dataEnd)!
    private static let envDataMeta = MemoryLayout<ExecutionEnvironment>.offset(of: \.dataMeta)!
    private static let envIngress = MemoryLayout<ExecutionEnvironment>.offset(of: \.ingressIfindex)!
    private static let envRxQueue = MemoryLayout<ExecutionEnvironment>.offset(of: \.rxQueueIndex)!
    private static let envHelperTable = MemoryLayout<ExecutionEnvironment>.offset(of: \.helperTable)!
    private static let envHelperCount = MemoryLayout<ExecutionEnvironment>.offset(of: \.helperTableCount)!
    private static let envBudget = MemoryLayout<ExecutionEnvironment>.offset(of: \.instructionBudget)!
    private static let envBudgetRemaining = MemoryLayout<ExecutionEnvironment>.offset(of: \.budgetRemaining)!

    static let stackSize = MachineState.frameStackSize

    mutating func lower() throws(NativeError) -> String {
        // Function starts: the entry, local call targets, and code addresses (bpf_loop callbacks).
        var starts: Set<Int> = [0]
        var callbackSet: Set<Int> = []
        for (pc, insn) in code.enumerated() {
            switch insn.op {
            case .callLocal: starts.insert(Int(insn.offset))
            case .lddw where instructions[pc].src == 4:
                if let index = CodeAddress.index(of: insn.imm) {
                    starts.insert(index)
                    callbackSet.insert(index)
                }
            case .invalid where pc == 0 || code[pc - 1].op != .lddw: mayFault = true
            case .callRegister, .loop: mayFault = true
            // A back edge charges the run budget (`chargeBudget`), which can end the run.
            case _ where Self.isJump(insn.op) && Int(insn.offset) <= pc: mayFault = true
            default: break
            }
        }
        functionStarts = starts.sorted()
        callbacks = callbackSet.sorted()

        out = "target datalayout = \"\(dataLayout)\"\ntarget triple = \"\(triple)\"\n\n"
        out += "declare i16 @llvm.bswap.i16(i16)\ndeclare i32 @llvm.bswap.i32(i32)\ndeclare i64 @llvm.bswap.i64(i64)\n\n"
        for (n, start) in functionStarts.enumerated() {
            let end = n + 1 < functionStarts.count ? functionStarts[n + 1] : code.count
            try lowerFunction(start: start, end: end)
        }
        out += """
            define i64 @\(entryName)(ptr %env, i64 %a1, i64 %a2, ptr %fault) {
              %r = call fastcc i64 @f0(ptr %env, ptr %fault, i64 %a1, i64 %a2, i64 0, i64 0, i64 0)
              ret i64 %r
            }

            """
        return out
    }

    // MARK: Emission helpers

    private mutating func fresh() -> String {
        next += 1
        return "%v\(next)"
    }

    private mutating func emit(_ line: String) { out += "  " + line + "\n" }

    /// `%vN = <expression>`.
    private mutating func value(_ expression: String) -> String {
        let name = fresh()
        emit("\(name) = \(expression)")
        return name
    }

    private mutating func reg(_ r: UInt8) -> String { value("load i64, ptr %r\(r)") }
    private mutating func set(_ r: UInt8, _ v: String) { emit("store i64 \(v), ptr %r\(r)") }
    private func imm64(_ v: UInt64) -> String { String(Int64(bitPattern: v)) }
    private func imm32(_ v: UInt64) -> String { String(Int32(truncatingIfNeeded: Int64(bitPattern: v))) }

    private mutating func lo(_ v: String) -> String { value("trunc i64 \(v) to i32") }
    private mutating func zext(_ v: String, from type: String = "i32") -> String { value("zext \(type) \(v) to i64") }

    /// A pointer to `base + offset`.
    private mutating func address(_ base: UInt8, _ offset: Int32) -> String {
        let b = reg(base)
        let sum = offset == 0 ? b : value("add i64 \(b), \(offset)")
        return value("inttoptr i64 \(sum) to ptr")
    }

    private mutating func fault(_ code: FaultCode, pc: Int, detail: String = "0") {
        emit("store i32 \(code.rawValue), ptr %fault, align 4")
        let pcSlot = value("getelementptr i8, ptr %fault, i64 4")
        emit("store i32 \(pc), ptr \(pcSlot), align 4")
        let detailSlot = value("getelementptr i8, ptr %fault, i64 8")
        emit("store i64 \(detail), ptr \(detailSlot), align 8")
        emit("ret i64 0")
    }

    private func label(_ pc: Int) -> String { "L\(pc)" }

    /// Charges `cost` budget units (an SSA value or constant) to `ExecutionEnvironment.budgetRemaining`, as the
    /// unchecked interpreter does at each taken back edge and bpf_loop pass: below zero the run ends with
    /// `instructionBudgetExceeded` (the fault's detail is the budget); otherwise control goes on to `next`.
    private mutating func chargeBudget(_ cost: String, pc: Int, tag: String, next: String) {
        let slot = value("getelementptr i8, ptr %env, i64 \(Self.envBudgetRemaining)")
        let remaining = value("sub i64 \(value("load i64, ptr \(slot), align 8")), \(cost)")
        let over = value("icmp slt i64 \(remaining), 0")
        emit("br i1 \(over), label %bx\(tag)over, label %bx\(tag)ok")
        out += "bx\(tag)over:\n"
        let budget = value("load i64, ptr \(value("getelementptr i8, ptr %env, i64 \(Self.envBudget)")), align 8")
        fault(.budgetExceeded, pc: pc, detail: budget)
        out += "bx\(tag)ok:\n"
        emit("store i64 \(remaining), ptr \(slot), align 8")
        emit("br label %\(next)")
    }

    // MARK: Functions

    private mutating func lowerFunction(start: Int, end: Int) throws(NativeError) {
        // Leaders: the start, every jump target, and every instruction after a jump or exit.
        var leaders: Set<Int> = [start]
        var pc = start
        while pc < end {
            let insn = code[pc]
            let width = insn.op == .lddw ? 2 : 1
            if Self.isJump(insn.op) {
                let target = Int(insn.offset)
                guard target >= start && target < end else {
                    throw NativeError("instruction \(pc): jump to \(target) leaves its function (\(start)..<\(end))")
                }
                leaders.insert(target)
                if pc + width < end { leaders.insert(pc + width) }
            } else if insn.op == .exit || insn.op == .tailCall || insn.op == .invalid || insn.op == .loop
                || insn.op == .callLocal || insn.op == .callRegister
            {
                if pc + width < end { leaders.insert(pc + width) }
            }
            pc += width
        }

        currentLeaders = leaders
        out += "define internal fastcc i64 @f\(start)(ptr %env, ptr %fault, i64 %a1, i64 %a2, i64 %a3, i64 %a4, i64 %a5) {\nentry:\n"
        emit("%stack = alloca [\(Self.stackSize) x i8], align 16")
        for r in 0...10 { emit("%r\(r) = alloca i64, align 8") }
        emit("store i64 0, ptr %r0")
        for r in 1...5 { emit("store i64 %a\(r), ptr %r\(r)") }
        for r in 6...9 { emit("store i64 0, ptr %r\(r)") }
        let base = value("ptrtoint ptr %stack to i64")
        let top = value("add i64 \(base), \(Self.stackSize)")
        set(10, top)
        emit("br label %\(label(start))")

        pc = start
        var open = false
        while pc < end {
            if leaders.contains(pc) {
                if open { emit("br label %\(label(pc))") }
                out += "\(label(pc)):\n"
                open = true
            } else if !open {
                // Unreachable code after a terminator that is not a leader (dead code): give it a block anyway.
                out += "\(label(pc)):\n"
                open = true
            }
            let width = code[pc].op == .lddw ? 2 : 1
            open = try lowerInstruction(pc, functionEnd: end)
            pc += width
        }
        if open { emit("unreachable") }
        out += "}\n\n"
    }

    static func isJump(_ op: DecodedOp) -> Bool {
        switch op {
        case .ja, .jeq64Imm, .jeq64Reg, .jgt64Imm, .jgt64Reg, .jge64Imm, .jge64Reg, .jset64Imm, .jset64Reg, .jne64Imm,
            .jne64Reg, .jsgt64Imm, .jsgt64Reg, .jsge64Imm, .jsge64Reg, .jlt64Imm, .jlt64Reg, .jle64Imm, .jle64Reg,
            .jslt64Imm, .jslt64Reg, .jsle64Imm, .jsle64Reg, .jeq32Imm, .jeq32Reg, .jgt32Imm, .jgt32Reg, .jge32Imm,
            .jge32Reg, .jset32Imm, .jset32Reg, .jne32Imm, .jne32Reg, .jsgt32Imm, .jsgt32Reg, .jsge32Imm, .jsge32Reg,
            .jlt32Imm, .jlt32Reg, .jle32Imm, .jle32Reg, .jslt32Imm, .jslt32Reg, .jsle32Imm, .jsle32Reg:
            true
        default: false
        }
    }

    /// Emits one instruction; returns whether its block is still open (falls through).
    private mutating func lowerInstruction(_ pc: Int, functionEnd: Int) throws(NativeError) -> Bool {
        let insn = code[pc]
        let d = insn.dst
        let s = insn.src
        switch insn.op {
        // MARK: 64-bit ALU
        case .add64Imm, .sub64Imm, .mul64Imm, .or64Imm, .and64Imm, .xor64Imm:
            set(d, value("\(Self.simple(insn.op)) i64 \(reg(d)), \(imm64(insn.imm))"))
        case .add64Reg, .sub64Reg, .mul64Reg, .or64Reg, .and64Reg, .xor64Reg:
            let a = reg(d)
            set(d, value("\(Self.simple(insn.op)) i64 \(a), \(reg(s))"))
        case .lsh64Imm, .rsh64Imm, .arsh64Imm:
            set(d, value("\(Self.shift(insn.op)) i64 \(reg(d)), \(insn.imm & 63)"))
        case .lsh64Reg, .rsh64Reg, .arsh64Reg:
            let a = reg(d)
            let amount = value("and i64 \(reg(s)), 63")
            set(d, value("\(Self.shift(insn.op)) i64 \(a), \(amount)"))
        case .mov64Imm: set(d, imm64(insn.imm))
        case .mov64Reg: set(d, reg(s))
        case .neg64: set(d, value("sub i64 0, \(reg(d))"))
        case .div64Imm, .div64Reg, .mod64Imm, .mod64Reg, .sdiv64Imm, .sdiv64Reg, .smod64Imm, .smod64Reg:
            let a = reg(d)
            let b = Self.isRegisterSource(insn.op) ? reg(s) : imm64(insn.imm)
            set(d, division(insn.op, a, b, type: "i64"))

        // MARK: 32-bit ALU
        case .add32Imm, .sub32Imm, .mul32Imm, .or32Imm, .and32Imm, .xor32Imm:
            let a = lo(reg(d))
            set(d, zext(value("\(Self.simple(insn.op)) i32 \(a), \(imm32(insn.imm))")))
        case .add32Reg, .sub32Reg, .mul32Reg, .or32Reg, .and32Reg, .xor32Reg:
            let a = lo(reg(d))
            let b = lo(reg(s))
            set(d, zext(value("\(Self.simple(insn.op)) i32 \(a), \(b)")))
        case .lsh32Imm, .rsh32Imm, .arsh32Imm:
            let a = lo(reg(d))
            set(d, zext(value("\(Self.shift(insn.op)) i32 \(a), \(insn.imm & 31)")))
        case .lsh32Reg, .rsh32Reg, .arsh32Reg:
            let a = lo(reg(d))
            let amount = value("and i32 \(lo(reg(s))), 31")
            set(d, zext(value("\(Self.shift(insn.op)) i32 \(a), \(amount)")))
        case .mov32Imm: set(d, String(UInt32(truncatingIfNeeded: insn.imm)))
        case .mov32Reg: set(d, value("and i64 \(reg(s)), 4294967295"))
        case .neg32: set(d, zext(value("sub i32 0, \(lo(reg(d)))")))
        case .div32Imm, .div32Reg, .mod32Imm, .mod32Reg, .sdiv32Imm, .sdiv32Reg, .smod32Imm, .smod32Reg:
            let a = lo(reg(d))
            let b = Self.isRegisterSource(insn.op) ? lo(reg(s)) : imm32(insn.imm)
            set(d, zext(division(insn.op, a, b, type: "i32")))

        // MARK: Sign extension and byte order
        case .movsx8To64, .movsx16To64, .movsx32To64:
            let bits = insn.op == .movsx8To64 ? 8 : insn.op == .movsx16To64 ? 16 : 32
            let narrow = value("trunc i64 \(reg(s)) to i\(bits)")
            set(d, value("sext i\(bits) \(narrow) to i64"))
        case .movsx8To32, .movsx16To32:
            let bits = insn.op == .movsx8To32 ? 8 : 16
            let narrow = value("trunc i64 \(reg(s)) to i\(bits)")
            set(d, zext(value("sext i\(bits) \(narrow) to i32")))
        case .zext16: set(d, value("and i64 \(reg(d)), 65535"))
        case .zext32: set(d, value("and i64 \(reg(d)), 4294967295"))
        case .swap16, .swap32:
            let bits = insn.op == .swap16 ? 16 : 32
            let narrow = value("trunc i64 \(reg(d)) to i\(bits)")
            let swapped = value("call i\(bits) @llvm.bswap.i\(bits)(i\(bits) \(narrow))")
            set(d, zext(swapped, from: "i\(bits)"))
        case .swap64: set(d, value("call i64 @llvm.bswap.i64(i64 \(reg(d)))"))
        case .nop: break

        // MARK: Memory
        case .ldxb, .ldxh, .ldxw, .ldxdw, .ldxsb, .ldxsh, .ldxsw:
            let (bits, signed) = Self.loadShape(insn.op)
            let p = address(s, insn.offset)
            let loaded = value("load i\(bits), ptr \(p), align 1")
            set(d, bits == 64 ? loaded : value("\(signed ? "sext" : "zext") i\(bits) \(loaded) to i64"))
        case .stb, .sth, .stw, .stdw:
            let bits = Self.storeBits(insn.op)
            let p = address(d, insn.offset)
            let v = bits == 64 ? imm64(insn.imm) : String(Int64(bitPattern: insn.imm) & ((1 << bits) - 1))
            emit("store i\(bits) \(v), ptr \(p), align 1")
        case .stxb, .stxh, .stxw, .stxdw:
            let bits = Self.storeBits(insn.op)
            let p = address(d, insn.offset)
            let r = reg(s)
            let v = bits == 64 ? r : value("trunc i64 \(r) to i\(bits)")
            emit("store i\(bits) \(v), ptr \(p), align 1")
        case .atomicAdd32, .atomicOr32, .atomicAnd32, .atomicXor32, .atomicFetchAdd32, .atomicFetchOr32,
            .atomicFetchAnd32, .atomicFetchXor32, .atomicXchg32, .atomicCmpxchg32, .atomicAdd64, .atomicOr64,
            .atomicAnd64, .atomicXor64, .atomicFetchAdd64, .atomicFetchOr64, .atomicFetchAnd64, .atomicFetchXor64,
            .atomicXchg64, .atomicCmpxchg64:
            lowerAtomic(insn)

        case .lddw: set(d, imm64(insn.imm))
        case .loadContext: lowerContextLoad(insn)

        // MARK: Jumps
        case .ja where Int(insn.offset) <= pc:
            chargeBudget(String(pc - Int(insn.offset) + 1), pc: pc, tag: "\(pc)", next: label(Int(insn.offset)))
            return false
        case .ja:
            emit("br label %\(label(Int(insn.offset)))")
            return false
        case _ where Self.isJump(insn.op) && Int(insn.offset) <= pc:
            // A taken back edge is charged; falling through is not (as in the interpreter).
            let condition = jumpCondition(insn)
            emit("br i1 \(condition), label %be\(pc), label %\(label(pc + 1))")
            out += "be\(pc):\n"
            chargeBudget(String(pc - Int(insn.offset) + 1), pc: pc, tag: "\(pc)", next: label(Int(insn.offset)))
            return false
        case _ where Self.isJump(insn.op):
            let condition = jumpCondition(insn)
            emit("br i1 \(condition), label %\(label(Int(insn.offset))), label %\(label(pc + 1))")
            return false

        // MARK: Calls
        case .callHelper where insn.imm == Self.lookupElemBits:
            if let map = mapInR1(before: pc), map.pointee.type == MapType.array.rawValue {
                lowerArrayLookup(map)
                break
            }
            set(0, value("call i64 \(value("inttoptr i64 \(imm64(insn.imm)) to ptr"))(ptr %env, \(helperArguments()))"))
        case .callHelper:
            let function = value("inttoptr i64 \(imm64(insn.imm)) to ptr")
            set(0, value("call i64 \(function)(ptr %env, \(helperArguments()))"))
        case .callRegister:
            let id = reg(d)
            let count = value("load i64, ptr \(value("getelementptr i8, ptr %env, i64 \(Self.envHelperCount)"))")
            let table = value("load ptr, ptr \(value("getelementptr i8, ptr %env, i64 \(Self.envHelperTable)"))")
            let inRange = value("icmp ult i64 \(id), \(count)")
            let notNull = value("icmp ne ptr \(table), null")
            let tableOK = value("and i1 \(inRange), \(notNull)")
            emit("br i1 \(tableOK), label %cx\(pc)a, label %cx\(pc)bad")
            out += "cx\(pc)a:\n"
            let slot = value("getelementptr ptr, ptr \(table), i64 \(id)")
            let function = value("load ptr, ptr \(slot)")
            let present = value("icmp ne ptr \(function), null")
            emit("br i1 \(present), label %cx\(pc)call, label %cx\(pc)bad")
            out += "cx\(pc)bad:\n"
            fault(.unknownHelper, pc: pc, detail: id)
            out += "cx\(pc)call:\n"
            set(0, value("call i64 \(function)(ptr %env, \(helperArguments()))"))
            emit("br label %\(label(pc + 1))")
            return false
        case .callLocal:
            set(0, value("call fastcc i64 @f\(insn.offset)(ptr %env, ptr %fault, \(helperArguments()))"))
            return branchAfterCall(pc)
        case .tailCall:
            let thunk = value("inttoptr i64 \(tailCallThunk) to ptr")
            let map = reg(2)
            let index = reg(3)
            let target = value("call ptr \(thunk)(ptr %env, i64 \(map), i64 \(index))")
            let missing = value("icmp eq ptr \(target), null")
            emit("br i1 \(missing), label %tc\(pc)miss, label %tc\(pc)go")
            out += "tc\(pc)go:\n"
            let context = reg(1)
            // The target is another module's entry: control does not come back, its r0 is ours.
            let result = value("tail call i64 \(target)(ptr %env, i64 \(context), i64 0, ptr %fault)")
            emit("ret i64 \(result)")
            out += "tc\(pc)miss:\n"
            set(0, "-2")  // -ENOENT, as the kernel's helper returns when it falls through
            emit("br label %\(label(pc + 1))")
            return false
        case .loop:
            lowerLoop(pc)
            return false
        case .exit:
            emit("ret i64 \(reg(0))")
            return false
        case .invalid:
            fault(.invalidInstruction, pc: pc)
            return false
        default:
            throw NativeError("instruction \(pc): \(insn.op) has no native lowering")
        }
        _ = functionEnd
        return true
    }

    /// `bpf_map_lookup_elem`'s implementation, to recognise its calls.
    private static let lookupElemBits: UInt64 =
        HelperTable.spec(id: 1)?.implementation.map { UInt64(UInt(bitPattern: unsafeBitCast($0, to: UnsafeRawPointer.self))) }
        ?? 0

    /// The map r1 holds at the call at `pc`, when the same basic block loaded it with `lddw` (map by fd or index)
    /// and nothing wrote r1 since.
    private func mapInR1(before pc: Int) -> UnsafeMutablePointer<MapCore>? {
        guard !currentLeaders.contains(pc) else { return nil }
        var i = pc - 1
        while i >= 0 {
            if i > 0 && code[i - 1].op == .lddw { i -= 1 }  // i was the second slot of an lddw
            let insn = code[i]
            if insn.op == .lddw && insn.dst == 1 {
                let kind = instructions[i].src
                guard kind == 1 || kind == 5 else { return nil }  // BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_IDX
                return UnsafeMutablePointer<MapCore>(bitPattern: UInt(insn.imm))
            }
            if Self.writesDestination(insn.op) && insn.dst == 1 { return nil }
            if Self.writesSource(insn.op) && insn.src == 1 { return nil }
            switch insn.op {
            case .callHelper, .callLocal, .callRegister, .tailCall, .loop, .exit, .invalid: return nil
            default: break
            }
            if currentLeaders.contains(i) { return nil }
            i -= 1
        }
        return nil
    }

    private static func writesDestination(_ op: DecodedOp) -> Bool {
        switch op {
        case .stb, .sth, .stw, .stdw, .stxb, .stxh, .stxw, .stxdw, .nop: false
        case _ where isJump(op): false
        case _ where "\(op)".hasPrefix("atomic"): false
        default: true
        }
    }

    private static func writesSource(_ op: DecodedOp) -> Bool {
        let name = "\(op)"
        return name.hasPrefix("atomicFetch") || name.hasPrefix("atomicXchg")
    }

    /// `bpf_map_lookup_elem` on a (non-per-CPU) ARRAY, inline: its values are flat, `valueStride` apart.
    /// Same result as `ArrayMap.value`: the value's address, or 0 when the index is out of range.
    private mutating func lowerArrayLookup(_ map: UnsafeMutablePointer<MapCore>) {
        let key = value("load i32, ptr \(value("inttoptr i64 \(reg(2)) to ptr")), align 1")
        let inRange = value("icmp ult i32 \(key), \(map.pointee.maxEntries)")
        let offset = value("mul i64 \(zext(key)), \(map.pointee.valueStride)")
        let base = UInt(bitPattern: map.pointee.storage)
        let address = value("add i64 \(base), \(offset)")
        set(0, value("select i1 \(inRange), i64 \(address), i64 0"))
    }

    /// After a call that may fault (only in programs that can fault at all), return early with the fault set.
    private mutating func branchAfterCall(_ pc: Int) -> Bool {
        guard mayFault else { return true }
        let word = value("load i32, ptr %fault, align 4")
        let faulted = value("icmp ne i32 \(word), 0")
        emit("br i1 \(faulted), label %ft\(pc), label %\(label(pc + 1))")
        out += "ft\(pc):\n"
        emit("ret i64 0")
        return false
    }

    private mutating func helperArguments() -> String {
        (1...5).map { "i64 \(reg(UInt8($0)))" }.joined(separator: ", ")
    }

    private static func isRegisterSource(_ op: DecodedOp) -> Bool { "\(op)".hasSuffix("Reg") }

    private static func simple(_ op: DecodedOp) -> String {
        switch op {
        case .add64Imm, .add64Reg, .add32Imm, .add32Reg: "add"
        case .sub64Imm, .sub64Reg, .sub32Imm, .sub32Reg: "sub"
        case .mul64Imm, .mul64Reg, .mul32Imm, .mul32Reg: "mul"
        case .or64Imm, .or64Reg, .or32Imm, .or32Reg: "or"
        case .and64Imm, .and64Reg, .and32Imm, .and32Reg: "and"
        default: "xor"
        }
    }

    private static func shift(_ op: DecodedOp) -> String {
        switch op {
        case .lsh64Imm, .lsh64Reg, .lsh32Imm, .lsh32Reg: "shl"
        case .rsh64Imm, .rsh64Reg, .rsh32Imm, .rsh32Reg: "lshr"
        default: "ashr"
        }
    }

    /// Division and remainder with BPF's total semantics: x/0 = 0, x%0 = x, INT_MIN/-1 = INT_MIN, INT_MIN%-1 = 0.
    private mutating func division(_ op: DecodedOp, _ a: String, _ b: String, type t: String) -> String {
        let isSigned = "\(op)".hasPrefix("s")
        let isRemainder = "\(op)".contains("mod")
        let zero = value("icmp eq \(t) \(b), 0")
        let minusOne = isSigned ? value("icmp eq \(t) \(b), -1") : "false"
        let unsafe = isSigned ? value("or i1 \(zero), \(minusOne)") : zero
        let divisor = value("select i1 \(unsafe), \(t) 1, \(t) \(b)")
        let instruction = isSigned ? (isRemainder ? "srem" : "sdiv") : (isRemainder ? "urem" : "udiv")
        var result = value("\(instruction) \(t) \(a), \(divisor)")
        if isSigned {
            // b == -1: the quotient is -a (wrapping), the remainder 0.
            let special = isRemainder ? "0" : value("sub \(t) 0, \(a)")
            result = value("select i1 \(minusOne), \(t) \(special), \(t) \(result)")
        }
        return value("select i1 \(zero), \(t) \(isRemainder ? a : "0"), \(t) \(result)")
    }

    private static func loadShape(_ op: DecodedOp) -> (Int, Bool) {
        switch op {
        case .ldxb: (8, false)
        case .ldxh: (16, false)
        case .ldxw: (32, false)
        case .ldxsb: (8, true)
        case .ldxsh: (16, true)
        case .ldxsw: (32, true)
        default: (64, false)
        }
    }

    private static func storeBits(_ op: DecodedOp) -> Int {
        switch op {
        case .stb, .stxb: 8
        case .sth, .stxh: 16
        case .stw, .stxw: 32
        default: 64
        }
    }

    private mutating func lowerAtomic(_ insn: DecodedInstruction) {
        let name = "\(insn.op)"
        let wide = name.hasSuffix("64")
        let t = wide ? "i64" : "i32"
        let p = address(insn.dst, insn.offset)
        let r = reg(insn.src)
        let operand = wide ? r : value("trunc i64 \(r) to i32")
        let align = wide ? 8 : 4
        if insn.op == .atomicCmpxchg32 || insn.op == .atomicCmpxchg64 {
            let r0 = reg(0)
            let expected = wide ? r0 : value("trunc i64 \(r0) to i32")
            let pair = value("cmpxchg ptr \(p), \(t) \(expected), \(t) \(operand) seq_cst seq_cst, align \(align)")
            let old = value("extractvalue { \(t), i1 } \(pair), 0")
            set(0, wide ? old : zext(old))
            return
        }
        let operation =
            name.contains("Add") ? "add" : name.contains("Or") ? "or" : name.contains("And") ? "and"
            : name.contains("Xor") && !name.contains("Xchg") ? "xor" : "xchg"
        let old = value("atomicrmw \(operation) ptr \(p), \(t) \(operand) seq_cst, align \(align)")
        if name.contains("Fetch") || name.contains("Xchg") { set(insn.src, wide ? old : zext(old)) }
    }

    private mutating func lowerContextLoad(_ insn: DecodedInstruction) {
        func field(_ offset: Int, _ type: String) -> String {
            let slot = value("getelementptr i8, ptr %env, i64 \(offset)")
            return value("load \(type), ptr \(slot)")
        }
        switch ContextField(rawValue: insn.aux) {
        case .data: set(insn.dst, value("ptrtoint ptr \(field(Self.envData, "ptr")) to i64"))
        case .dataEnd: set(insn.dst, value("ptrtoint ptr \(field(Self.envDataEnd, "ptr")) to i64"))
        case .dataMeta: set(insn.dst, value("ptrtoint ptr \(field(Self.envDataMeta, "ptr")) to i64"))
        case .ingressIfindex, .rxQueueIndex:
            let offset = ContextField(rawValue: insn.aux) == .ingressIfindex ? Self.envIngress : Self.envRxQueue
            let whole = zext(field(offset, "i32"))
            let shifted = value("lshr i64 \(whole), \(UInt64(insn.offset) * 8 & 63)")
            let mask = insn.src == 1 ? "255" : insn.src == 2 ? "65535" : "4294967295"
            set(insn.dst, value("and i64 \(shifted), \(mask)"))
        case .egressIfindex, nil: set(insn.dst, "0")
        }
    }

    private mutating func jumpCondition(_ insn: DecodedInstruction) -> String {
        let name = "\(insn.op)"
        let wide = name.contains("64")
        let t = wide ? "i64" : "i32"
        var a = reg(insn.dst)
        var b = Self.isRegisterSource(insn.op) ? reg(insn.src) : (wide ? imm64(insn.imm) : imm32(insn.imm))
        if !wide {
            a = lo(a)
            if Self.isRegisterSource(insn.op) { b = lo(b) }
        }
        let condition = String(name.prefix { $0.isLetter })
        if condition == "jset" {
            let masked = value("and \(t) \(a), \(b)")
            return value("icmp ne \(t) \(masked), 0")
        }
        let predicate =
            switch condition {
            case "jeq": "eq"
            case "jne": "ne"
            case "jgt": "ugt"
            case "jge": "uge"
            case "jlt": "ult"
            case "jle": "ule"
            case "jsgt": "sgt"
            case "jsge": "sge"
            case "jslt": "slt"
            default: "sle"
            }
        return value("icmp \(predicate) \(t) \(a), \(b)")
    }

    /// Instructions in the function that starts at `start` (at least 1).
    private func callbackLength(_ start: Int) -> Int {
        let end = functionStarts.first { $0 > start } ?? code.count
        return max(end - start, 1)
    }

    /// `bpf_loop(nr_loops, callback, ctx, flags)`: the loop itself in native code, the callback a direct call.
    private mutating func lowerLoop(_ pc: Int) {
        let count = reg(1)
        let callback = reg(2)
        let context = reg(3)
        let flags = reg(4)
        let p = "lp\(pc)"
        let badFlags = value("icmp ne i64 \(flags), 0")
        emit("br i1 \(badFlags), label %\(p)einval, label %\(p)c1")
        out += "\(p)einval:\n"
        set(0, "-22")
        emit("br label %\(label(pc + 1))")
        out += "\(p)c1:\n"
        let tooMany = value("icmp ugt i64 \(count), \(1 << 23)")
        emit("br i1 \(tooMany), label %\(p)e2big, label %\(p)c2")
        out += "\(p)e2big:\n"
        set(0, "-7")
        emit("br label %\(label(pc + 1))")
        out += "\(p)c2:\n"
        let none = value("icmp eq i64 \(count), 0")
        emit("br i1 \(none), label %\(p)zero, label %\(p)pick")
        out += "\(p)zero:\n"
        set(0, "0")
        emit("br label %\(label(pc + 1))")
        out += "\(p)pick:\n"
        guard !callbacks.isEmpty else {
            fault(.invalidCallback, pc: pc)
            return
        }
        let cases = callbacks.map { "i64 \(Int64(bitPattern: CodeAddress.make(index: $0))), label %\(p)cb\($0)" }
        emit("switch i64 \(callback), label %\(p)bad [ \(cases.joined(separator: " ")) ]")
        out += "\(p)bad:\n"
        fault(.invalidCallback, pc: pc)
        for target in callbacks {
            out += "\(p)cb\(target):\n"
            emit("br label %\(p)head")
        }
        out += "\(p)head:\n"
        let i = fresh()
        let incoming = callbacks.map { "[ 0, %\(p)cb\($0) ]" } + ["[ \(i)n, %\(p)again ]"]
        emit("\(i) = phi i64 \(incoming.joined(separator: ", "))")
        let function = fresh()
        let functions = callbacks.map { "[ @f\($0), %\(p)cb\($0) ]" } + ["[ \(function), %\(p)again ]"]
        emit("\(function) = phi ptr \(functions.joined(separator: ", "))")
        // What one further pass costs the budget: the callback's length (the interpreter charges from the callback's
        // start to the exit it took, at most this).
        let passCost = fresh()
        let costs = callbacks.map { "[ \(callbackLength($0)), %\(p)cb\($0) ]" } + ["[ \(passCost), %\(p)again ]"]
        emit("\(passCost) = phi i64 \(costs.joined(separator: ", "))")
        let result = value("call fastcc i64 \(function)(ptr %env, ptr %fault, i64 \(i), i64 \(context), i64 0, i64 0, i64 0)")
        let word = value("load i32, ptr %fault, align 4")
        let faulted = value("icmp ne i32 \(word), 0")
        emit("br i1 \(faulted), label %\(p)fault, label %\(p)step")
        out += "\(p)fault:\n"
        emit("ret i64 0")
        out += "\(p)step:\n"
        emit("\(i)n = add i64 \(i), 1")
        let stop = value("icmp ne i64 \(result), 0")
        let done = value("icmp uge i64 \(i)n, \(count)")
        let leave = value("or i1 \(stop), \(done)")
        emit("br i1 \(leave), label %\(p)end, label %\(p)charge")
        out += "\(p)charge:\n"
        chargeBudget(passCost, pc: pc, tag: p, next: "\(p)again")
        out += "\(p)again:\n"
        emit("br label %\(p)head")
        out += "\(p)end:\n"
        set(0, "\(i)n")
        emit("br label %\(label(pc + 1))")
    }
}
