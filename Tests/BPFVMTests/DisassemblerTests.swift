import Testing

@testable import BPFVM

@Suite struct DisassemblerTests {
    @Test func printsTheConformanceSyntax() throws {
        let cases: [(String, String)] = [
            ("mov %r0, 1", "mov %r0, 1"),
            ("stxdw [%r10-8], %r1", "stxdw [%r10-8], %r1"),
            ("ldxh %r0, [%r1]", "ldxh %r0, [%r1+0]"),
            ("jeq %r1, 0x5, +3", "jeq %r1, 5, +3"),
            ("jsle32 %r1, 0xfffffffd, -1", "jsle32 %r1, -3, -1"),
            ("and %r1, 0xffff0000", "and %r1, -0x10000"),
            ("or32 %r1, 0x12345678", "or32 %r1, 0x12345678"),
            ("lddw %r1, 0x1122334455667788", "lddw %r1, 0x1122334455667788"),
            ("lddw %r1, -2", "lddw %r1, -2"),
            ("lddw %r1, map[3]", "lddw %r1, map[3]"),
            ("lddw %r1, map_value[3]+16", "lddw %r1, map_value[3]+16"),
            ("lddw %r1, map_value[3]+0", "lddw %r1, map_value[3]"),
            ("lddw %r1, func +7", "lddw %r1, func +7"),
            ("lock fetch or32 [%r1+4], %r2", "lock fetch or32 [%r1+4], %r2"),
            ("lock cmpxchg [%r10-8], %r1", "lock cmpxchg [%r10-8], %r1"),
            ("swap32 %r4", "bswap32 %r4"),
            ("movsx1664 %r8, %r7", "movsx1664 %r8, %r7"),
            ("sdiv32 %r1, -3", "sdiv32 %r1, -3"),
            ("call %r2", "call %r2"),
            ("call 5", "call 5"),
            ("call local -4", "call local -4"),
            ("call kfunc 77", "call kfunc 77"),
            ("ja32 +0", "ja32 +0"),
            ("ldabsb 0x10", "ldabsb 16"),
            ("ldindh %r2, -1", "ldindh %r2, -1"),
        ]
        for (source, expected) in cases {
            #expect(Disassembler.text(of: try Assembler.assemble(source)) == [expected], "\(source)")
        }
    }

    @Test func roundTripsEveryConformanceProgram() throws {
        for file in try ConformanceFiles.all() {
            do {
                let original = try Assembler.assemble(ConformanceCase.parse(file.text, name: file.name).asm)
                let text = Disassembler.text(of: original)
                #expect(!text.contains { $0.hasPrefix(".raw") }, "\(file.name) has non-canonical instructions")
                let reassembled = try Assembler.assemble(text.joined(separator: "\n"))
                #expect(reassembled == original, "\(file.name)")
            } catch {
                Issue.record("\(file.name): \(error)")
            }
        }
    }

    /// Every operation of the table, with a spread of field values, prints as text that assembles back identically.
    @Test func roundTripsEveryOperation() throws {
        let immediates: [Int32] = [0, 1, -1, 100, 0x7fff_ffff, Int32.min, 0x12345, -65536, 65535]
        for operation in InstructionSyntax.allOperations {
            for imm in immediates {
                let fields = Instruction(opcode: 0, dst: 3, src: 10, offset: Int16(truncatingIfNeeded: imm), imm: imm)
                var program = [InstructionSyntax.canonicalInstruction(operation, fields: fields)]
                if case .loadImmediate64(let kind) = operation {
                    program.append(InstructionSyntax.canonicalSecondSlot(kind, imm: imm &* 3))
                }
                let text = Disassembler.text(of: program)
                #expect(text.count == 1)
                #expect(!text[0].hasPrefix(".raw"), "\(operation): \(text[0])")
                #expect(try Assembler.assemble(text[0]) == program, "\(operation): \(text[0])")
            }
        }
    }

    /// Whatever the slots hold — unknown opcodes, set reserved fields, lddw with a bad or missing second slot — the
    /// text assembles back to exactly the same slots.
    @Test func roundTripsArbitrarySlots() throws {
        let fieldPatterns: [(UInt8, UInt8, Int16, Int32)] = [
            (0, 0, 0, 0), (1, 2, 3, 4), (10, 10, -1, -1), (11, 0, 0, 0), (0, 15, 0, 0), (1, 0, 1, 16), (1, 2, 8, 32),
            (1, 0, 0, 0xe1), (1, 2, 0, 0xf0), (2, 1, 0, 5), (0, 0, 5, 64),
        ]
        for opcode in 0...255 {
            for (dst, src, offset, imm) in fieldPatterns {
                let insn = Instruction(opcode: UInt8(opcode), dst: dst, src: src, offset: offset, imm: imm)
                for program in [[insn], [insn, Instruction(opcode: 0, imm: 9)], [insn, Instruction(opcode: 0x95)]] {
                    let text = Disassembler.text(of: program)
                    let reassembled = try Assembler.assemble(text.joined(separator: "\n"))
                    #expect(reassembled == program, "\(text)")
                }
            }
        }
    }

    @Test func marksInvalidAndNonCanonicalInstructions() {
        #expect(
            Disassembler.text(of: [Instruction(opcode: 0xff)]) == [
                ".raw 0x00000000000000ff  # invalid instruction (opcode 0xff): unknown ALU operation"
            ])
        #expect(
            Disassembler.text(of: [Instruction(opcode: 0x07, dst: 11)]) == [
                ".raw 0x0000000000000b07  # invalid instruction (opcode 0x7): destination register r11 does not exist"
            ])
        // add r1, 5 with a source register set although the immediate form ignores it.
        #expect(
            Disassembler.text(of: [Instruction(opcode: 0x07, dst: 1, src: 3, imm: 5)]) == [
                ".raw 0x0000000500003107  # non-canonical encoding (reserved fields set) of 'add %r1, 5'"
            ])
        #expect(
            Disassembler.text(of: [Instruction(opcode: 0x18, dst: 1, imm: 1)]) == [
                ".raw 0x0000000100000118  # invalid instruction: lddw is missing its second slot"
            ])
        #expect(
            Disassembler.text(of: [Instruction(opcode: 0x18, dst: 1, imm: 1), Instruction(opcode: 0x95)]) == [
                ".raw 0x0000000100000118, 0x0000000000000095"
                    + "  # non-canonical encoding (reserved fields set) of 'lddw %r1, 1'"
            ])
    }

    @Test func canonicalEncodingMeansUnusedFieldsAreZero() throws {
        let add = Instruction(opcode: 0x07, dst: 1, imm: 5)
        #expect(try Operation(decoding: add).isCanonical(add))
        var withSource = add
        withSource.src = 3
        #expect(try !Operation(decoding: withSource).isCanonical(withSource))
        let exitWithOffset = Instruction(opcode: 0x95, offset: 1)
        #expect(try !Operation(decoding: exitWithOffset).isCanonical(exitWithOffset))
        let lddw = Instruction(opcode: 0x18, dst: 1, src: 5, imm: 2)
        #expect(try Operation(decoding: lddw).isCanonical(lddw, secondSlot: Instruction(opcode: 0)))
        #expect(try !Operation(decoding: lddw).isCanonical(lddw, secondSlot: Instruction(opcode: 0, imm: 4)))
        #expect(try !Operation(decoding: lddw).isCanonical(lddw))
    }

    @Test func perInstructionTextUsesTheNextSlotForLddw() {
        let program: [Instruction] = [
            Instruction(opcode: 0x18, dst: 1, imm: 0x5566_7788), Instruction(opcode: 0, imm: 0x1122_3344),
        ]
        #expect(Disassembler.text(of: program[0], next: program[1]) == "lddw %r1, 0x1122334455667788")
        #expect(Disassembler.text(of: Instruction(opcode: 0x95), next: nil) == "exit")
        #expect(Disassembler.slotCount(of: program[0], hasNext: true) == 2)
        #expect(Disassembler.slotCount(of: program[0], hasNext: false) == 1)
    }

    @Test func listingShowsSlotIndicesAndJumpTargets() throws {
        let program = try Assembler.assemble(
            """
            lddw %r0, 1
            jeq %r0, 1, done
            mov %r0, 2
            ja +0
            call local done
            mov %r0, 0
            mov %r0, 0
            mov %r0, 0
            mov %r0, 0
            done:
            exit
            """)
        #expect(
            Disassembler.listing(of: program) == [
                " 0: lddw %r0, 1",
                " 2: jeq %r0, 1, +7  # -> 10",
                " 3: mov %r0, 2",
                " 4: ja +0  # -> 5",
                " 5: call local +4  # -> 10",
                " 6: mov %r0, 0",
                " 7: mov %r0, 0",
                " 8: mov %r0, 0",
                " 9: mov %r0, 0",
                "10: exit",
            ])
    }
}
