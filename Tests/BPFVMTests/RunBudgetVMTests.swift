import Testing

@testable import BPFVM

/// The instruction budget in every engine: counting and checked runs count each instruction; unchecked runs (threaded
/// code and the `switch`) charge each back edge taken and each `bpf_loop` pass with the slots it spans.
@Suite struct RunBudgetVMTests {
    /// 100 000 passes of a 3-slot loop body, then r0 = the pass count.
    static let loop = """
        mov %r0, 0
        mov %r1, 100000
        again:
        add %r0, 1
        sub %r1, 1
        jne %r1, 0, again
        exit
        """

    static func load(_ source: String) throws -> ExecutableProgram {
        try ExecutableProgram(
            instructions: try Assembler.assemble(source), context: TranslationContext(helper: TestHelpers.resolve),
            analyseContext: false)
    }

    @Test func backEdgesAreMarkedOnlyInTheUncheckedCode() throws {
        let program = try Self.load(Self.loop)
        #expect(program.decoded[4].op == .jne64Imm)
        let fast = Array(UnsafeBufferPointer(start: program.fastCode, count: program.instructions.count))
        #expect(fast[4].op == .backEdge && fast[4].aux == DecodedOp.jne64Imm.rawValue && fast[4].offset == 2)
    }

    @Test func aLoopWithinTheBudgetRunsAsBeforeInEveryEngine() throws {
        let program = try Self.load(Self.loop)
        let machine = Machine()
        machine.environment.pointee.instructionBudget = 400_000  // 300 002 charged unchecked, 300 003 counted
        let unchecked = machine.run(program, r1: 0)
        let checked = machine.runChecked(program, r1: 0)
        let counting = machine.runCounting(program, r1: 0, checked: false)
        for result in [unchecked, checked, counting] {
            #expect(result.fault == nil)
            #expect(result.returnValue == 100_000)
        }
        #expect(checked.instructionCount == 300_003)
    }

    @Test func aLoopPastTheBudgetFaultsAtTheBackEdgeInEveryEngine() throws {
        let program = try Self.load(Self.loop)
        let machine = Machine()
        machine.environment.pointee.instructionBudget = 10_000
        for result in [
            machine.run(program, r1: 0), machine.runChecked(program, r1: 0),
            machine.runCounting(program, r1: 0, checked: false),
        ] {
            let fault = try #require(result.fault)
            #expect(fault.kind == .instructionBudgetExceeded(budget: 10_000))
            #expect(fault.description.contains("instruction budget of 10000 exceeded"))
        }
        // The threaded code stops at the back edge itself and names it.
        #expect(machine.run(program, r1: 0).fault?.instructionIndex == 4)
        // The next run starts with the whole budget again.
        machine.environment.pointee.instructionBudget = 400_000
        #expect(machine.run(program, r1: 0).returnValue == 100_000)
    }

    @Test func bpfLoopPassesAreChargedInUncheckedRuns() throws {
        // bpf_loop(1 << 23, cb): 2^23 passes of a 2-slot callback, far past a budget of 1 000 000.
        let source = """
            mov %r1, 8388608
            lddw %r2, func cb
            mov %r3, 0
            mov %r4, 0
            call 181
            exit
            cb:
            mov %r0, 0
            exit
            """
        let program = try Self.load(source)
        let machine = Machine()
        machine.environment.pointee.instructionBudget = 1_000_000
        #expect(machine.run(program, r1: 0).fault?.isBudgetExceeded == true)
        #expect(machine.runChecked(program, r1: 0).fault?.isBudgetExceeded == true)
        machine.environment.pointee.instructionBudget = 1 << 26
        let whole = machine.run(program, r1: 0)
        #expect(whole.fault == nil && whole.returnValue == 1 << 23)
    }
}
