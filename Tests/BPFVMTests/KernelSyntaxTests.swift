import Testing

@testable import BPFVM

/// The kernel's syntax (`kernel/bpf/disasm.c`, as verifier logs and `bpftool prog dump` print it), one case per
/// instruction shape.
@Suite struct KernelSyntaxTests {
    @Test func printsTheKernelsSyntax() throws {
        let cases: [(String, String)] = [
            ("mov %r0, 1", "(b7) r0 = 1"),
            ("mov32 %r5, 1", "(b4) w5 = 1"),
            ("mov %r6, %r1", "(bf) r6 = r1"),
            ("add %r3, 14", "(07) r3 += 14"),
            ("add %r2, -4", "(07) r2 += -4"),
            ("or32 %r3, %r5", "(4c) w3 |= w5"),
            ("lsh32 %r3, 8", "(64) w3 <<= 8"),
            ("arsh %r1, 3", "(c7) r1 s>>= 3"),
            ("sdiv32 %r1, -3", "(34) w1 s/= -3"),
            ("smod %r1, %r2", "(9f) r1 s%= r2"),
            ("neg %r1", "(87) r1 = -r1"),
            ("neg32 %r1", "(84) w1 = -w1"),
            ("movsx1664 %r8, %r7", "(bf) r8 = (s16)r7"),
            ("movsx832 %r1, %r2", "(bc) w1 = (s8)w2"),
            ("be16 %r1", "(dc) r1 = be16 r1"),
            ("le32 %r1", "(d4) r1 = le32 r1"),
            ("swap64 %r4", "(d7) r4 = bswap64 r4"),
            ("ldxw %r2, [%r1+4]", "(61) r2 = *(u32 *)(r1 +4)"),
            ("ldxb %r5, [%r2+12]", "(71) r5 = *(u8 *)(r2 +12)"),
            ("ldxsh %r5, [%r2-2]", "(89) r5 = *(s16 *)(r2 -2)"),
            ("stxw [%r10-4], %r5", "(63) *(u32 *)(r10 -4) = r5"),
            ("stdw [%r10-8], 0", "(7a) *(u64 *)(r10 -8) = 0"),
            ("lock add [%r0+0], %r1", "(db) lock *(u64 *)(r0 +0) += r1"),
            ("lock or32 [%r1+4], %r2", "(c3) lock *(u32 *)(r1 +4) |= r2"),
            ("lock fetch add [%r0+8], %r1", "(db) r1 = atomic64_fetch_add((u64 *)(r0 +8), r1)"),
            ("lock fetch xor32 [%r0+0], %r3", "(c3) r3 = atomic_fetch_xor((u32 *)(r0 +0), r3)"),
            ("lock xchg [%r10-8], %r1", "(db) r1 = atomic64_xchg((u64 *)(r10 -8), r1)"),
            ("lock cmpxchg [%r10-8], %r1", "(db) r0 = atomic64_cmpxchg((u64 *)(r10 -8), r0, r1)"),
            ("lddw %r1, 0x1122334455667788", "(18) r1 = 0x1122334455667788"),
            ("ja +6", "(05) goto pc+6"),
            ("ja32 -2", "(06) gotol pc-2"),
            ("jgt %r4, %r1, +8", "(2d) if r4 > r1 goto pc+8"),
            ("jeq %r0, 0, +2", "(15) if r0 == 0x0 goto pc+2"),
            ("jsgt32 %r3, 0xa887, +28", "(66) if w3 s> 0xa887 goto pc+28"),
            ("jslt32 %r3, -1, +1", "(c6) if w3 s< 0xffffffff goto pc+1"),
            ("jset %r1, %r2, -3", "(4d) if r1 & r2 goto pc-3"),
            ("call 1", "(85) call bpf_map_lookup_elem#1"),
            ("call 99999", "(85) call unknown#99999"),
            ("call local +4", "(85) call pc+4"),
            ("exit", "(95) exit"),
            ("ldabsb 12", "(30) r0 = *(u8 *)skb[12]"),
            ("ldindh %r2, 4", "(48) r0 = *(u16 *)skb[r2 + 4]"),
        ]
        for (source, expected) in cases {
            let program = try Assembler.assemble(source)
            let line = KernelSyntax.text(of: program[0], at: 0, next: program.count > 1 ? program[1] : nil)
            #expect(line == expected, "\(source)")
        }
    }

    @Test func namesMapsAndFunctions() throws {
        let program = try Assembler.assemble(
            """
            lddw %r1, map[1]
            lddw %r2, map_value[0]+16
            call local +1
            exit
            mov %r0, 0
            exit
            """)
        let symbols = KernelSyntax.Symbols(mapNames: [".rodata", "counters"], functionNames: [6: "helper"])
        #expect(
            KernelSyntax.listing(of: program, symbols: symbols) == [
                "   0: (18) r1 = map[name:counters]",
                "   2: (18) r2 = map[name:.rodata][0]+16",
                "   4: (85) call pc+1#helper",
                "   5: (95) exit",
                "   6: (b7) r0 = 0",
                "   7: (95) exit",
            ])
    }

    @Test func undecodableInstructionsSayWhy() {
        let line = KernelSyntax.text(of: Instruction(opcode: 0xff, dst: 0, src: 0, offset: 0, imm: 0), at: 0, next: nil)
        #expect(line.hasPrefix("(ff) invalid: "))
    }
}
