import Testing

@testable import BPFVM

/// Safe programs the verifier must accept, each exercising one thing it has to prove (so a verifier that refuses
/// everything fails here), plus the report the translator consumes.
@Suite("Verifier accepts safe programs")
struct VerifierAcceptanceTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var source: String
        var testDescription: String { name }
    }

    static let packet = VerifierRejectionTests.packet
    static let checked14 = VerifierRejectionTests.checked14
    static let out14 = VerifierRejectionTests.out14
    static let lookup = VerifierRejectionTests.lookup
    static let reserve = VerifierRejectionTests.reserve

    static let cases: [Case] = [
        Case(name: "constant return", source: "mov %r0, 2\nexit"),
        Case(name: "packet read inside the checked range", source: checked14 + "\nldxh %r0, [%r2+12]\nexit\n" + out14),
        Case(
            name: "check written with data_end first",
            source: packet + """

                mov %r4, %r2
                add %r4, 14
                jle %r3, %r4, out
                ldxb %r0, [%r2+13]
                exit
                out:
                mov %r0, 1
                exit
                """),
        Case(
            name: "check with >= and a jump to the safe side",
            source: packet + """

                mov %r4, %r2
                add %r4, 14
                jlt %r4, %r3, ok
                mov %r0, 1
                exit
                ok:
                ldxb %r0, [%r2+14]
                exit
                """),
        Case(
            name: "variable offset re-checked",
            source: checked14 + """

                ldxb %r5, [%r2+0]
                and %r5, 60
                add %r2, %r5
                mov %r4, %r2
                add %r4, 4
                jgt %r4, %r3, out14
                ldxw %r0, [%r2+0]
                exit
                """ + "\n" + out14),
        Case(
            name: "metadata checked against data",
            source: """
                ldxw %r2, [%r1+8]
                ldxw %r3, [%r1+0]
                mov %r4, %r2
                add %r4, 4
                jgt %r4, %r3, out
                ldxw %r0, [%r2+0]
                exit
                out:
                mov %r0, 2
                exit
                """),
        Case(
            name: "map value after a NULL check of a copy",
            source: lookup + """

                mov %r6, %r0
                jeq %r6, 0, out
                ldxdw %r0, [%r0+0]
                exit
                out:
                mov %r0, 2
                exit
                """),
        Case(
            name: "array index bounded by a check on a copy",
            source: checked14 + """

                ldxb %r6, [%r2+0]
                stw [%r10-4], 0
                lddw %r1, map[1]
                mov %r2, %r10
                add %r2, -4
                call 1
                jeq %r0, 0, out14
                mov %r7, %r6
                jgt %r7, 15, out14
                add %r0, %r6
                ldxb %r0, [%r0+0]
                exit
                """ + "\n" + out14),
        Case(
            name: "array index masked",
            source: checked14 + """

                ldxb %r6, [%r2+0]
                and %r6, 15
                stw [%r10-4], 0
                lddw %r1, map[1]
                mov %r2, %r10
                add %r2, -4
                call 1
                jeq %r0, 0, out14
                add %r0, %r6
                ldxb %r0, [%r0+0]
                exit
                """ + "\n" + out14),
        Case(
            name: "32-bit index check (alu32 style)",
            source: checked14 + """

                ldxb %r6, [%r2+0]
                stw [%r10-4], 0
                lddw %r1, map[1]
                mov %r2, %r10
                add %r2, -4
                call 1
                jeq %r0, 0, out14
                mov32 %r7, %r6
                jgt32 %r7, 15, out14
                add %r0, %r7
                ldxb %r0, [%r0+0]
                exit
                """ + "\n" + out14),
        Case(
            name: "spilled packet pointer keeps its proof",
            source: checked14 + """

                stxdw [%r10-8], %r2
                call 5
                ldxdw %r2, [%r10-8]
                ldxb %r0, [%r2+13]
                exit
                """ + "\n" + out14),
        Case(
            // At the start of a slot: a narrow store elsewhere in a slot is plain data in the kernel (and here).
            name: "32-bit spill keeps the index bound",
            source: checked14 + """

                ldxb %r6, [%r2+0]
                and %r6, 15
                stxw [%r10-16], %r6
                stw [%r10-4], 0
                lddw %r1, map[1]
                mov %r2, %r10
                add %r2, -4
                call 1
                jeq %r0, 0, out14
                ldxw %r7, [%r10-16]
                add %r0, %r7
                ldxb %r0, [%r0+0]
                exit
                """ + "\n" + out14),
        Case(
            name: "bounded loop",
            source: """
                mov %r0, 0
                mov %r1, 0
                l:
                add %r0, %r1
                add %r1, 1
                jlt %r1, 100, l
                and %r0, 3
                exit
                """),
        Case(
            name: "loop over the stack",
            source: """
                mov %r1, 0
                l:
                mov %r2, %r10
                add %r2, -64
                add %r2, %r1
                stb [%r2+0], 0
                add %r1, 1
                jlt %r1, 64, l
                ldxdw %r0, [%r10-64]
                and %r0, 1
                exit
                """),
        Case(
            name: "ring buffer record submitted",
            source: reserve + """

                jeq %r0, 0, out
                stdw [%r0+0], 1
                mov %r1, %r0
                mov %r2, 0
                call 132
                out:
                mov %r0, 2
                exit
                """),
        Case(
            name: "BPF-to-BPF call with a stack argument",
            source: """
                stdw [%r10-8], 7
                mov %r1, %r10
                add %r1, -8
                mov %r6, 3
                call local f
                add %r0, %r6
                exit
                f:
                ldxdw %r0, [%r1+0]
                and %r0, 1
                exit
                """),
        Case(
            name: "bpf_loop with a stack context",
            source: """
                stdw [%r10-8], 0
                mov %r1, 10
                lddw %r2, func cb
                mov %r3, %r10
                add %r3, -8
                mov %r4, 0
                call 181
                ldxdw %r0, [%r10-8]
                and %r0, 3
                exit
                cb:
                ldxdw %r3, [%r2+0]
                add %r3, %r1
                stxdw [%r2+0], %r3
                mov %r0, 0
                exit
                """),
        Case(
            name: "atomics on the stack and a map value",
            source: lookup + """

                jeq %r0, 0, out
                mov %r1, 1
                lock add [%r0+0], %r1
                stdw [%r10-16], 0
                lock fetch add [%r10-16], %r1
                out:
                mov %r0, 2
                exit
                """),
        Case(
            name: ".rodata constant decides a branch",
            source: """
                lddw %r1, map_value[2]
                ldxw %r2, [%r1+0]
                jeq %r2, 7, ok
                ldxb %r0, [%r2+0]
                exit
                ok:
                mov %r0, 2
                exit
                """),
        Case(
            name: "tail call then fall through",
            source: """
                lddw %r2, map[4]
                mov %r3, 0
                call 12
                mov %r0, 2
                exit
                """),
        Case(
            name: "adjust_head then reload pointers",
            source: """
                mov %r6, %r1
                mov %r2, -4
                call 44
                ldxw %r2, [%r6+0]
                ldxw %r3, [%r6+4]
                mov %r4, %r2
                add %r4, 4
                jgt %r4, %r3, out
                stw [%r2+0], 0
                out:
                mov %r0, 2
                exit
                """),
    ]

    @Test("accepted", arguments: cases)
    func accepted(_ c: Case) throws {
        let program = try VerifierFixture.program(c.source)
        if let error = VerifierFixture.rejection(program) { Issue.record("\(c.name):\n\(error)") }
    }

    @Test func contextLoadsAreReported() throws {
        let program = try VerifierFixture.program(
            Self.checked14 + "\nldxw %r5, [%r1+12]\nmov %r0, %r5\nand %r0, 3\nexit\n" + Self.out14)
        let report = try Verifier().verify(program)
        let expected: [Int: ContextField] = [0: .data, 1: .dataEnd, 5: .ingressIfindex]
        #expect(report.contextLoads == expected)
    }

    @Test func reportCountsWorkAndWarnsAboutOddReturnValues() throws {
        let program = try VerifierFixture.program(Self.checked14 + "\nldxb %r0, [%r2+0]\nexit\n" + Self.out14)
        let report = try Verifier().verify(program)
        #expect(report.instructionsProcessed >= 8)
        // As the kernel (6.18: "processed 9 insns … total_states 1"): one state, stored at out14 when the second
        // path reaches it (2 jumps and 8 instructions after the start).
        #expect(report.instructionsProcessed == 9)
        #expect(report.statesStored == 1)
        #expect(report.warnings.count == 1 && report.warnings[0].contains("outside XDP's actions"))
    }

    @Test func errorDescriptionNamesInstructionSourceAndRegister() throws {
        var program = try VerifierFixture.program(
            VerifierRejectionTests.checked14 + "\nldxh %r0, [%r2+13]\nexit\n" + Self.out14)
        program.lineInfo[5] = SourceLocation(file: "fw.c", line: 41, column: 5, text: "    return eth->h_proto;")
        program.lineInfo[4] = SourceLocation(file: "fw.c", line: 38, column: 5)
        let error = try #require(VerifierFixture.rejection(program))
        #expect(error.instructionIndex == 5)
        #expect(error.instruction == "ldxh %r0, [%r2+13]")
        #expect(error.source?.line == 41)
        #expect(error.reason.contains("the check at instruction 4 (fw.c:38)"))
        let text = error.description
        #expect(text.contains("instruction 5: ldxh %r0, [%r2+13]"))
        #expect(text.contains("at fw.c:41:5: return eth->h_proto;"))
        #expect(text.contains("R2 = pointer to packet (offset 0, 14 bytes proven)"))
    }
}
