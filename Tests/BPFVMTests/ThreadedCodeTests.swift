import Testing

@testable import BPFVM

/// Unchecked runs use direct-threaded code with superinstructions and fall back to the `switch` interpreter for the
/// operations it leaves out. Whatever path a run takes, the result must be the plain interpreter's.
@Suite struct ThreadedCodeTests {
    static func load(_ source: String, analyseContext: Bool = false) throws -> ExecutableProgram {
        try ExecutableProgram(
            instructions: try Assembler.assemble(source), context: TranslationContext(helper: TestHelpers.resolve),
            analyseContext: analyseContext)
    }

    /// r0 from the fast entry point (threaded + fused) and from the plain, unfused `switch` (counting, unchecked).
    static func bothResults(_ program: ExecutableProgram, r1: UInt64 = 0, r2: UInt64 = 0) -> (fast: RunResult, plain: RunResult) {
        let machine = Machine()
        return (machine.run(program, r1: r1, r2: r2), machine.runCounting(program, r1: r1, r2: r2, checked: false))
    }

    @Test func uncheckedRunsUseThreadedCodeOnThisPlatform() throws {
        let program = try Self.load("mov %r0, 1\nexit")
        #if arch(x86_64) || arch(arm64)
        #expect(program.threadedCode != nil)
        #endif
        #expect(Machine().run(program, r1: 0).returnValue == 1)
    }

    @Test(arguments: [0 as UInt64, 1, 2, 3])
    func superinstructionsMatchTheirPartsAlsoWhenAJumpLandsInsideAGroup(entry: UInt64) throws {
        // r1 selects a path: 0 runs every fused group from its start; 1–3 jump into the second slot of a group, where
        // only the rest of the group must run.
        let source = """
            mov %r2, 0
            mov %r3, 0
            mov %r4, 0
            mov %r5, 0
            mov %r9, 0
            mov %r6, 0x1234
            mov %r7, 7
            mov %r8, 5
            jeq %r1, 1, into_rsh
            jeq %r1, 2, into_add
            jeq %r1, 3, into_bounds
            mov %r2, %r6
            into_rsh:
            rsh %r2, 4
            mov %r3, %r6
            lsh %r3, 8
            mov %r4, %r6
            and %r4, 0xff0
            mov %r5, %r6
            into_add:
            add %r5, %r7
            mov %r9, %r6
            into_bounds:
            add %r9, 10
            jgt %r9, %r8, big
            mov %r0, 1
            exit
            big:
            mov %r0, %r2
            add %r0, %r3
            add %r0, %r4
            add %r0, %r5
            add %r0, %r9
            exit
            """
        let program = try Self.load(source)
        let (fast, plain) = Self.bothResults(program, r1: entry)
        #expect(fast.fault == nil && plain.fault == nil)
        #expect(fast.returnValue == plain.returnValue)
        let expected: UInt64 =
            switch entry {
            case 0: (0x1234 >> 4) + (0x1234 << 8) + (0x1234 & 0xff0) + (0x1234 + 7) + (0x1234 + 10)
            // Jumping into a group skips its `mov`: the registers it would have set keep their entry values.
            case 1: (0 >> 4) + (0x1234 << 8) + (0x1234 & 0xff0) + (0x1234 + 7) + (0x1234 + 10)
            case 2: 0 + 0 + 0 + (0 + 7) + (0x1234 + 10)
            default: 0 + 0 + 0 + 0 + (0 + 10)
            }
        #expect(fast.returnValue == expected)
    }

    @Test func atomicsAndCallsKeepRegistersAndStack() throws {
        let source = """
            mov %r6, 6
            mov %r7, 40
            mov %r1, 5
            stxdw [%r10-8], %r7
            lock add [%r10-8], %r1
            ldxdw %r8, [%r10-8]
            mov %r1, %r8
            call local double
            add %r0, %r6
            exit
            double:
            mov %r0, %r1
            add %r0, %r1
            exit
            """
        let program = try Self.load(source)
        let (fast, plain) = Self.bothResults(program)
        #expect(fast.fault == nil)
        #expect(fast.returnValue == 2 * 45 + 6)
        #expect(plain.returnValue == fast.returnValue)
    }

    @Test func theSwitchTakesOverInsideACalleeAndReturnsToTheCaller() throws {
        // The threaded code makes the call (frame pushed); `bpf_loop` inside the callee is left to the switch, which
        // must find the caller's frame, restore r6 and return into the caller's code.
        let source = """
            mov %r6, 3
            call local f
            add %r0, %r6
            exit
            f:
            mov %r6, 50
            mov %r1, 4
            lddw %r2, func cb
            mov %r3, 0
            mov %r4, 0
            call 181
            add %r0, 10
            exit
            cb:
            mov %r0, 0
            exit
            """
        let program = try Self.load(source)
        let (fast, plain) = Self.bothResults(program)
        #expect(fast.fault == nil)
        #expect(fast.returnValue == 4 + 10 + 3)
        #expect(plain.returnValue == fast.returnValue)
    }

    @Test func callsBeyondTheFrameLimitFaultAtTheCall() throws {
        let program = try Self.load("mov %r0, 0\ncall local f\nexit\nf:\nadd %r0, 1\ncall local f\nexit")
        let (fast, plain) = Self.bothResults(program)
        let fault = try #require(fast.fault)
        #expect(fault.kind == .callDepthExceeded && fault.instructionIndex == 4)
        #expect(plain.fault?.kind == fault.kind && plain.fault?.instructionIndex == fault.instructionIndex)
    }

    @Test func aFaultAfterAThreadedPrefixNamesTheOriginalSlot() throws {
        // `callx` with an unknown helper id is a dynamic fault; the threaded code hands `callx` to the switch
        // interpreter, which must still name the original slot.
        let program = try Self.load("mov %r0, 1\nmov %r2, 9999\ncall %r2\nexit")
        let (fast, _) = Self.bothResults(program)
        let fault = try #require(fast.fault)
        #expect(fault.instructionIndex == 2)
    }

    @Test(arguments: [0 as UInt64, 7])
    func helperCallFusedWithItsNullCheckTakesTheRightBranch(clock: UInt64) throws {
        // `call; jeq r0, 0` and `call; jne r0, 0` fuse; helper 5 returns the environment's clock.
        let source = """
            mov %r6, 0
            call 5
            jeq %r0, 0, was_zero
            add %r6, 10
            was_zero:
            call 5
            jne %r0, 0, not_zero
            add %r6, 100
            not_zero:
            mov %r0, %r6
            exit
            """
        let program = try Self.load(source)
        #expect(program.fastCode[1].op == .callHelperJeqZero && program.fastCode[4].op == .callHelperJneZero)
        let machine = Machine()
        machine.environment.pointee.clockNanos = clock
        let fast = machine.run(program, r1: 0)
        let plain = machine.runCounting(program, r1: 0, checked: false)
        #expect(fast.returnValue == (clock == 0 ? 100 : 10))
        #expect(plain.returnValue == fast.returnValue)
    }

    @Test func contextPointerLoadsReadTheEnvironment() throws {
        let source = """
            ldxw %r2, [%r1+0]
            ldxw %r3, [%r1+4]
            ldxw %r4, [%r1+8]
            mov %r0, %r3
            sub %r0, %r2
            sub %r2, %r4
            add %r0, %r2
            exit
            """
        let program = try Self.load(source, analyseContext: true)
        let machine = Machine()
        let frame = UnsafeMutableRawPointer.allocate(byteCount: 256, alignment: 8)
        defer { frame.deallocate() }
        machine.environment.pointee.dataMeta = frame + 32
        machine.environment.pointee.data = frame + 64
        machine.environment.pointee.dataEnd = frame + 200
        let fast = machine.run(program, r1: machine.contextPointer)
        let plain = machine.runCounting(program, r1: machine.contextPointer, checked: false)
        // (data_end - data) + (data - data_meta)
        #expect(fast.returnValue == 136 + 32)
        #expect(plain.returnValue == fast.returnValue)
    }
}
