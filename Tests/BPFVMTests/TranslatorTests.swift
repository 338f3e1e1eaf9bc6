import Testing

@testable import BPFVM

/// Bad programs are refused at load with the instruction named; nothing reaches the interpreter that could crash it.
@Suite struct TranslatorTests {
    static var context: TranslationContext { TranslationContext(helper: TestHelpers.resolve) }

    static func load(_ instructions: [Instruction]) throws(ProgramError) -> ExecutableProgram {
        try ExecutableProgram(instructions: instructions, context: context, analyseContext: false)
    }

    static func error(_ instructions: [Instruction]) -> ProgramError? {
        do {
            _ = try load(instructions)
            return nil
        } catch { return error }
    }

    static let exit = Instruction(opcode: 0x95)

    @Test func unknownOpcodeIsNamedWithItsIndex() throws {
        let error = try #require(Self.error([Instruction(opcode: 0xb7), Instruction(opcode: 0x8e), Self.exit]))
        #expect(error.instructionIndex == 1)
        #expect(error.reason.contains("0x8e"))
    }

    @Test func jumpOutOfRangeIsRefused() throws {
        let forward = try #require(Self.error([Instruction(opcode: 0x05, offset: 5), Self.exit]))
        #expect(forward.instructionIndex == 0 && forward.reason.contains("outside the program"))
        let backward = try #require(Self.error([Self.exit, Instruction(opcode: 0x15, dst: 1, offset: -3), Self.exit]))
        #expect(backward.instructionIndex == 1)
        let call = try #require(Self.error([Instruction(opcode: 0x85, src: 1, imm: 40), Self.exit]))
        #expect(call.instructionIndex == 0)
    }

    @Test func jumpIntoTheMiddleOfLddwIsRefused() throws {
        let program = try Assembler.assemble("ja +1\nlddw %r0, 0x100000000\nexit")
        let error = try #require(Self.error(program))
        #expect(error.reason.contains("middle of an lddw"))
    }

    @Test func truncatedLddwIsRefused() throws {
        let error = try #require(Self.error([Self.exit, Instruction(opcode: 0x18, imm: 1)]))
        #expect(error.instructionIndex == 1 && error.reason.contains("truncated"))
        let badSecond = try #require(Self.error([Instruction(opcode: 0x18, imm: 1), Instruction(opcode: 0x07), Self.exit]))
        #expect(badSecond.instructionIndex == 1)
    }

    @Test func fallingOffTheEndIsRefused() throws {
        let error = try #require(Self.error([Instruction(opcode: 0xb7)]))
        #expect(error.reason.contains("last instruction"))
        #expect(Self.error([]) != nil)
    }

    @Test func unknownHelperAndLegacyPacketAccessAreRefused() throws {
        #expect(try #require(Self.error([Instruction(opcode: 0x85, imm: 9999), Self.exit])).reason.contains("unknown helper 9999"))
        #expect(try #require(Self.error([Instruction(opcode: 0x30, imm: 0), Self.exit])).reason.contains("legacy packet"))
        #expect(Self.error([Instruction(opcode: 0x18, src: 5, imm: 0), Instruction(opcode: 0), Self.exit])!.reason.contains("unknown map"))
    }

    @Test func checkedModeStopsAProgramThatNeverExits() throws {
        let program = try Self.load(try Assembler.assemble("mov %r0, 0\nloop:\nadd %r0, 1\nja loop\nexit"))
        let machine = Machine()
        machine.environment.pointee.instructionBudget = 10_000
        let result = machine.runChecked(program, r1: 0)
        #expect(result.fault?.isBudgetExceeded == true)
        #expect(result.fault?.instructionIndex == 1 || result.fault?.instructionIndex == 2)
    }

    @Test func randomWordsNeverCrashTheLoader() {
        // Any sequence of words either loads or is refused with an error; loaded ones may fault but never crash
        // in checked mode.
        var rng = SplitMix(seed: 42)
        let machine = Machine()
        machine.environment.pointee.instructionBudget = 100_000
        var loaded = 0
        for _ in 0..<2000 {
            var words = (0..<Int(rng.next() % 12 + 1)).map { _ in Instruction(raw: rng.next()) }
            words.append(Self.exit)
            guard let program = try? Self.load(words) else { continue }
            loaded += 1
            _ = machine.runChecked(program, r1: 0, r2: 0)
        }
        #expect(loaded > 0)
    }
}


typealias SplitMix = SplitMix64
