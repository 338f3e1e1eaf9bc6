import Testing

@testable import BPFVM

@Suite struct InstructionEncodingTests {
    @Test func rawWordRoundTrips() {
        // lddw r0, 0x1122334455667788 as in conformance/lddw.data's raw section.
        let first = Instruction(raw: 0x5566_7788_0000_0018)
        #expect(first.opcode == 0x18)
        #expect(first.dst == 0 && first.src == 0 && first.offset == 0)
        #expect(UInt32(bitPattern: first.imm) == 0x5566_7788)
        #expect(first.raw == 0x5566_7788_0000_0018)
        let insn = Instruction(opcode: 0x61, dst: 3, src: 10, offset: -8, imm: -1)
        #expect(Instruction(raw: insn.raw) == insn)
        #expect(Instruction.decode(littleEndianBytes: Instruction.encode([insn, first])) == [insn, first])
    }

    @Test func classifiesEveryVersionFourAddition() throws {
        #expect(try Operation(decoding: Instruction(opcode: 0x3f, dst: 1, src: 2, offset: 1)) == .alu(.sdiv, .bits64, .register))
        #expect(try Operation(decoding: Instruction(opcode: 0x94, dst: 1, offset: 1, imm: 3)) == .alu(.smod, .bits32, .immediate))
        #expect(try Operation(decoding: Instruction(opcode: 0xbf, dst: 1, src: 2, offset: 16)) == .movsx(from: 16, .bits64))
        #expect(try Operation(decoding: Instruction(opcode: 0x91, dst: 1, src: 2)) == .load(.byte, signExtend: true))
        #expect(try Operation(decoding: Instruction(opcode: 0xd7, dst: 1, imm: 32)) == .byteOrder(.swap, bits: 32))
        #expect(try Operation(decoding: Instruction(opcode: 0x06, imm: 5)) == .jumpAlways(longOffset: true))
        #expect(try Operation(decoding: Instruction(opcode: 0x8d, dst: 2)) == .callRegister)
    }

    @Test func refusesMalformedEncodings() {
        #expect(throws: InvalidInstruction.self) { try Operation(decoding: Instruction(opcode: 0xff)) }
        #expect(throws: InvalidInstruction.self) { try Operation(decoding: Instruction(opcode: 0x07, dst: 11)) }
        #expect(throws: InvalidInstruction.self) { try Operation(decoding: Instruction(opcode: 0xd7, imm: 8)) }
        #expect(throws: InvalidInstruction.self) { try Operation(decoding: Instruction(opcode: 0xdb, imm: 0xe0)) }
        #expect(throws: InvalidInstruction.self) { try Operation(decoding: Instruction(opcode: 0x3f, offset: 2)) }
    }
}
