import Testing

@testable import BPFVM

/// Encodings checked by hand against RFC 9669's tables and cross-checked with `llvm-mc -show-encoding` /
/// `llvm-objdump -d` (LLVM's syntax in the comments). Words are the little-endian slot read as a `UInt64`: opcode in
/// the low byte, then src:dst nibbles, 16-bit offset, 32-bit immediate in the high half.
@Suite struct AssemblerEncodingTests {
    static let singleSlot: [(String, UInt64)] = [
        ("stxdw [%r10-8], %r1", 0x0000_0000_fff8_1a7b),  // *(u64 *)(r10 - 8) = r1
        ("mov %r0, 1", 0x0000_0001_0000_00b7),  // r0 = 1
        ("mov32 %r1, %r2", 0x0000_0000_0000_21bc),  // w1 = w2
        ("add %r1, -1", 0xffff_ffff_0000_0107),  // r1 += -1
        ("ldxw %r0, [%r1+4]", 0x0000_0000_0004_1061),  // r0 = *(u32 *)(r1 + 4)
        ("ldxdw %r0, [%r1+0x10]", 0x0000_0000_0010_1079),  // r0 = *(u64 *)(r1 + 16)
        ("ldxsb %r0, [%r10-1]", 0x0000_0000_ffff_a091),  // r0 = *(s8 *)(r10 - 1)
        ("stw [%r1+2], 0x11223344", 0x1122_3344_0002_0162),  // *(u32 *)(r1 + 2) = 0x11223344
        ("stb [%r10-1], 0xff", 0x0000_00ff_ffff_0a72),  // *(u8 *)(r10 - 1) = 0xff
        ("jeq %r1, 5, +3", 0x0000_0005_0003_0115),  // if r1 == 5 goto +3
        ("jne32 %r1, %r2, -2", 0x0000_0000_fffe_215e),  // if w1 != w2 goto -2
        ("jsgt %r1, -1, +1", 0xffff_ffff_0001_0165),  // if r1 s> -1 goto +1
        ("ja -1", 0x0000_0000_ffff_0005),  // goto -1
        ("ja32 +5", 0x0000_0005_0000_0006),  // gotol +5
        ("call 5", 0x0000_0005_0000_0085),  // call 5
        ("call %r2", 0x0000_0000_0000_028d),  // callx r2 (register in dst)
        ("call local +3", 0x0000_0003_0000_1085),  // BPF_PSEUDO_CALL
        ("call kfunc 1234", 0x0000_04d2_0000_2085),  // BPF_PSEUDO_KFUNC_CALL
        ("exit", 0x0000_0000_0000_0095),
        ("lock add [%r10-8], %r1", 0x0000_0000_fff8_1adb),  // lock *(u64 *)(r10 - 8) += r1
        ("lock fetch add [%r10-8], %r1", 0x0000_0001_fff8_1adb),  // atomic_fetch_add
        ("lock add32 [%r1+0], %r2", 0x0000_0000_0000_21c3),  // lock *(u32 *)(r1 + 0) += w2
        ("lock xchg [%r10-8], %r1", 0x0000_00e1_fff8_1adb),  // xchg_64
        ("lock cmpxchg32 [%r1+4], %r2", 0x0000_00f1_0004_21c3),  // cmpxchg32_32
        ("lock fetch xor32 [%r1], %r2", 0x0000_00a1_0000_21c3),
        ("sdiv %r1, 3", 0x0000_0003_0001_0137),  // r1 s/= 3
        ("smod32 %r1, %r2", 0x0000_0000_0001_219c),  // w1 s%= w2
        ("movsx832 %r0, %r1", 0x0000_0000_0008_10bc),  // w0 = (s8)w1
        ("movsx3264 %r0, %r1", 0x0000_0000_0020_10bf),  // r0 = (s32)r1
        ("be16 %r1", 0x0000_0010_0000_01dc),  // r1 = be16 r1
        ("le32 %r1", 0x0000_0020_0000_01d4),  // r1 = le32 r1
        ("bswap64 %r1", 0x0000_0040_0000_01d7),  // r1 = bswap64 r1
        ("swap16 %r1", 0x0000_0010_0000_01d7),  // alias of bswap16
        ("neg %r3", 0x0000_0000_0000_0387),  // r3 = -r3
        ("lsh32 %r1, 36", 0x0000_0024_0000_0164),  // w1 <<= 36 (out-of-range shift kept as written)
        ("arsh %r1, %r2", 0x0000_0000_0000_21cf),  // r1 s>>= r2
        ("mov32 %r0, 0xffffffff", 0xffff_ffff_0000_00b4),
        ("ldabsh 12", 0x0000_000c_0000_0028),
        ("ldindw %r3, 4", 0x0000_0004_0000_3040),
    ]

    @Test(arguments: singleSlot)
    func encodesOneSlot(text: String, word: UInt64) throws {
        let program = try Assembler.assemble(text)
        #expect(program.map(\.raw) == [word], "\(text)")
    }

    @Test func lddwTakesTwoSlots() throws {
        // r1 = 0x1122334455667788 ll
        #expect(
            try Assembler.assemble("lddw %r1, 0x1122334455667788").map(\.raw) == [
                0x5566_7788_0000_0118, 0x1122_3344_0000_0000,
            ])
        #expect(try Assembler.assemble("lddw %r0, -1").map(\.raw) == [0xffff_ffff_0000_0018, 0xffff_ffff_0000_0000])
        #expect(try Assembler.assemble("lddw %r9, 0xffffffffffffffff") == Assembler.assemble("lddw %r9, -1"))
    }

    @Test func lddwPseudoSources() throws {
        #expect(try Assembler.assemble("lddw %r1, map[2]").map(\.raw) == [0x0000_0002_0000_5118, 0])
        #expect(
            try Assembler.assemble("lddw %r2, map_value[1]+16").map(\.raw) == [
                0x0000_0001_0000_6218, 0x0000_0010_0000_0000,
            ])
        #expect(try Assembler.assemble("lddw %r2, map_value[1]").map(\.raw) == [0x0000_0001_0000_6218, 0])
        #expect(try Assembler.assemble("lddw %r1, map_fd[7]").map(\.raw) == [0x0000_0007_0000_1118, 0])
        #expect(
            try Assembler.assemble("lddw %r1, map_value_fd[7]+4").map(\.raw) == [
                0x0000_0007_0000_2118, 0x0000_0004_0000_0000,
            ])
        #expect(try Assembler.assemble("lddw %r1, btf_var[99]").map(\.raw) == [0x0000_0063_0000_3118, 0])
        // The function pointer is the distance from the slot after the first lddw slot, as clang emits it.
        let program = try Assembler.assemble(
            """
            lddw %r2, func callback
            mov %r0, 0
            exit
            callback:
              mov %r0, 1
              exit
            """)
        #expect(program[0] == Instruction(opcode: 0x18, dst: 2, src: 4, imm: 3))
        #expect(program[1] == Instruction(opcode: 0))
        #expect(try Assembler.assemble("lddw %r2, func +3")[0] == program[0])
    }

    @Test func labelsResolveToSlotDistances() throws {
        let program = try Assembler.assemble(
            """
            # comments and blank lines take no slot

            start:
              lddw %r1, 1        # two slots
              jeq %r1, 1, done   # forward over ja
              ja start           # backward
            done: exit
            """)
        #expect(program.count == 5)
        #expect(program[2] == Instruction(opcode: 0x15, dst: 1, offset: 1, imm: 1))
        #expect(program[3] == Instruction(opcode: 0x05, offset: -4))
    }

    @Test func sourceMapNamesTheLineOfEverySlot() throws {
        let assembled = try Assembler.assembleWithSourceMap(
            "# header\nstart:\n  lddw %r0, 1\n\n  ja start\nend: exit\n")
        #expect(assembled.instructions.count == 4)
        #expect(assembled.sourceLines == [3, 3, 5, 6])
        #expect(assembled.labels == ["start": 0, "end": 3, "exit": 3])
    }

    @Test func callLocalAndJa32UseTheImmediate() throws {
        let program = try Assembler.assemble(
            """
            call local fn
            ja32 end
            fn:
            mov %r0, 7
            exit
            end:
            exit
            """)
        #expect(program[0] == Instruction(opcode: 0x85, src: 1, imm: 1))
        #expect(program[1] == Instruction(opcode: 0x06, imm: 2))
    }

    @Test func exitLabelDefaultsToTheFirstExitInstruction() throws {
        let implicit = try Assembler.assemble("jne %r0, 0, exit\nmov %r0, 1\nexit\nmov %r0, 2\nexit")
        #expect(implicit[0].offset == 1)
        let explicit = try Assembler.assemble("jne %r0, 0, exit\nexit\nexit:\nmov %r0, 2\nexit")
        #expect(explicit[0].offset == 1)
    }

    @Test func acceptsCRLFLineEndings() throws {
        #expect(try Assembler.assemble("mov %r0, 1\r\nexit\r\n").map(\.raw) == [0x0000_0001_0000_00b7, 0x95])
        #expect(throws: AssemblyError(line: 2, message: "unknown mnemonic 'exitt'")) {
            try Assembler.assemble("mov %r0, 1\r\nexitt\r\n")
        }
    }

    @Test func rawDirectiveEmitsWordsVerbatim() throws {
        #expect(try Assembler.assemble(".raw 0x00000000000000ff, 7").map(\.raw) == [0xff, 7])
    }

    /// Every operation in the table encodes to an instruction the ISA table classifies as that same operation.
    @Test func everyOperationEncodesToItself() throws {
        #expect(InstructionSyntax.allOperations.count == Set(InstructionSyntax.allOperations).count)
        for operation in InstructionSyntax.allOperations {
            let insn = InstructionSyntax.baseInstruction(for: operation)
            #expect(try Operation(decoding: insn) == operation, "\(operation)")
        }
    }

    /// The table covers every operation the ISA decoder accepts: decode every opcode with typical fields.
    @Test func everyDecodableOpcodeIsInTheTable() {
        let known = Set(InstructionSyntax.allOperations)
        for opcode in 0...255 {
            for (offset, imm) in [
                (0, 0), (1, 0), (8, 0), (16, 0), (32, 0), (0, 16), (0, 32), (0, 64), (0, 1), (0, 0xe1), (0, 0xf1),
            ] {
                for src: UInt8 in 0...6 {
                    let insn = Instruction(
                        opcode: UInt8(opcode), dst: 1, src: src, offset: Int16(offset), imm: Int32(imm))
                    guard let operation = try? Operation(decoding: insn) else { continue }
                    #expect(known.contains(operation), "\(operation) from opcode \(opcode) is missing from the table")
                }
            }
        }
    }
}
