import Testing

@testable import BPFVM

/// The unsafe-program corpus: each program must be refused, for the stated reason. Programs are XDP programs
/// (r1 = ctx; `[%r1+0]` = data, `[%r1+4]` = data_end) over the maps of `VerifierFixture`.
@Suite("Verifier rejects unsafe programs")
struct VerifierRejectionTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var expect: String
        var source: String
        var limit: Int = 1_000_000
        var kfuncs: [Int: ExternReference] = [:]
        var testDescription: String { name }
    }

    /// r2 = data, r3 = data_end.
    static let packet = """
        ldxw %r2, [%r1+0]
        ldxw %r3, [%r1+4]
        """
    /// r2 = data with 14 bytes proven (else return 1), r3 = data_end.
    static let checked14 =
        packet + """

            mov %r4, %r2
            add %r4, 14
            jgt %r4, %r3, out14
            """
    static let out14 = """
        out14:
        mov %r0, 1
        exit
        """
    /// r0 = lookup(flows, key 0 on the stack at r10-4); r0 is map value or NULL.
    static let lookup = """
        stw [%r10-4], 0
        lddw %r1, map[0]
        mov %r2, %r10
        add %r2, -4
        call 1
        """
    /// r0 = ringbuf_reserve(events, 8, 0).
    static let reserve = """
        lddw %r1, map[3]
        mov %r2, 8
        mov %r3, 0
        call 131
        """

    static let cases: [Case] =
        packetCases + initialisationCases + stackCases + mapCases + arithmeticCases
        + contextCases + loopCases + structureCases + callCases + helperCases + ringbufCases + atomicCases
        + miscCases + precisionCases

    /// Two paths meet at `join` with different ranges of r6 (the first explored, the fall-through, has r6 <= 10);
    /// after the join r6's exact value decides safety. Pruning may only cut the second path if it backtracked
    /// precision onto the stored state: ignoring r6 there would accept an out-of-bounds read.
    static func twoRanges(before: String = "", arms: String = "", after: String) -> String {
        // Eight instructions and two jumps between the branch and the join: enough that the kernel's heuristics
        // store a state at the join (`checkPrunePoint`).
        let padded = arms + String(repeating: "\nmov %r8, 0", count: 6)
        return checked14 + "\nldxb %r6, [%r2+0]\n" + before + "\nmov %r7, 0\nmov %r8, 0\njgt %r6, 10, big\n" + padded
            + "\nja join\nbig:\nmov %r7, 1\n" + padded + "\nja join\njoin:\n" + after + "\n" + out14
    }

    /// r0 = the 16-byte value of `counters` key 0 (else return 1).
    static let valueOfCounters = "stw [%r10-4], 0\nlddw %r1, map[1]\nmov %r2, %r10\nadd %r2, -4\ncall 1\njeq %r0, 0, out14"

    static let precisionCases: [Case] = [
        Case(
            name: "precision: a jump decided on one path only", expect: "outside the 14 bytes proven",
            source: twoRanges(after: "jgt %r6, 20, bad\nmov %r0, 2\nexit\nbad:\nldxb %r0, [%r2+20]\nexit")),
        Case(
            name: "precision: pointer arithmetic after the join", expect: "offset 11…255 of map 'counters'",
            source: twoRanges(before: valueOfCounters, after: "add %r0, %r6\nldxb %r0, [%r0+0]\nexit")),
        Case(
            name: "precision: through a stack spill", expect: "offset 11…255 of map 'counters'",
            source: twoRanges(
                before: valueOfCounters, arms: "stxdw [%r10-16], %r6",
                after: "ldxdw %r5, [%r10-16]\nadd %r0, %r5\nldxb %r0, [%r0+0]\nexit")),
        Case(
            name: "precision: through ALU and a copy", expect: "offset 13…257 of map 'counters'",
            source: twoRanges(
                before: valueOfCounters,
                after: "mov %r5, %r6\nadd %r5, 2\nadd %r0, %r5\nldxb %r0, [%r0+0]\nexit")),
        Case(
            name: "precision: helper size argument", expect: "bpf_xdp_load_bytes argument R3 (256 bytes)",
            source: twoRanges(
                after: "mov %r4, %r6\nadd %r4, 1\nmov %r3, %r10\nadd %r3, -16\nmov %r2, 0\ncall 189\n"
                    + "mov %r0, 2\nexit")),
    ]

    static let packetCases: [Case] = [
        Case(
            name: "packet read without a bounds check", expect: "outside the 0 bytes proven",
            source: packet + "\nldxb %r0, [%r2+0]\nexit"),
        Case(
            name: "packet read just past the checked range", expect: "offset 14, size 1: outside the 14 bytes proven",
            source: checked14 + "\nldxb %r0, [%r2+14]\nexit\n" + out14),
        Case(
            name: "packet read straddling the checked range", expect: "offset 13, size 2",
            source: checked14 + "\nldxh %r0, [%r2+13]\nexit\n" + out14),
        Case(
            name: "packet read in the branch where the check failed", expect: "outside the 0 bytes proven",
            source: packet
                + "\nmov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, bad\nmov %r0, 1\nexit\nbad:\nldxb %r0, [%r2+0]\nexit"),
        Case(
            name: "packet read before the start", expect: "before its start",
            source: checked14 + "\nldxb %r0, [%r2-1]\nexit\n" + out14),
        Case(
            name: "variable offset invalidates the proof", expect: "outside the 0 bytes proven",
            source: checked14 + "\nldxb %r5, [%r2+0]\nadd %r2, %r5\nldxb %r0, [%r2+0]\nexit\n" + out14),
        Case(
            name: "unbounded variable packet offset", expect: "unbounded value",
            source: packet
                + "\nmov %r4, %r2\nadd %r4, 8\njgt %r4, %r3, out\nldxdw %r5, [%r2+0]\nadd %r2, %r5\nout:\nmov %r0, 1\nexit"
        ),
        Case(
            name: "packet write past the checked range", expect: "outside the 14 bytes proven",
            source: checked14 + "\nstb [%r2+14], 0\nmov %r0, 2\nexit\n" + out14),
        Case(
            name: "dereferencing data_end", expect: "through a packet end",
            source: packet + "\nldxb %r0, [%r3+0]\nexit"),
        Case(
            name: "arithmetic on data_end", expect: "pointer arithmetic on packet end",
            source: packet + "\nadd %r3, -14\nmov %r0, 2\nexit"),
        Case(
            name: "metadata read without a check against data", expect: "pointer to packet metadata, offset 0, size 4",
            source: "ldxw %r4, [%r1+8]\nldxw %r0, [%r4+0]\nexit"),
        Case(
            name: "packet pointer used after bpf_xdp_adjust_head", expect: "after a helper that changes the packet",
            source: checked14 + "\nmov %r6, %r2\nmov %r2, 0\ncall 44\nldxb %r0, [%r6+0]\nexit\n" + out14),
        Case(
            name: "32-bit comparison proves no packet range", expect: "outside the 0 bytes proven",
            source: packet
                + "\nmov %r4, %r2\nadd %r4, 14\njgt32 %r4, %r3, out\nldxb %r0, [%r2+0]\nexit\nout:\nmov %r0, 1\nexit"),
        Case(
            name: "signed comparison proves no packet range", expect: "outside the 0 bytes proven",
            source: packet
                + "\nmov %r4, %r2\nadd %r4, 14\njsgt %r4, %r3, out\nldxb %r0, [%r2+0]\nexit\nout:\nmov %r0, 1\nexit"),
        Case(
            name: "check proves the range for one pointer, access through another",
            expect: "outside the 0 bytes proven",
            source: checked14 + """

                ldxb %r5, [%r2+0]
                mov %r6, %r2
                add %r6, %r5
                mov %r7, %r2
                add %r7, %r5
                mov %r8, %r6
                add %r8, 4
                jgt %r8, %r3, out14
                ldxw %r0, [%r7+0]
                exit
                """ + "\n" + out14),
        Case(
            name: "pointer check with >= proves one byte less than needed",
            expect: "offset 0, size 2: outside the 1 bytes",
            source: packet + "\njge %r2, %r3, out\nldxh %r0, [%r2+0]\nexit\nout:\nmov %r0, 1\nexit"),
    ]

    static let initialisationCases: [Case] = [
        Case(
            name: "reading an uninitialised register", expect: "R5 is read before it is initialised",
            source: "mov %r0, %r5\nexit"),
        Case(
            name: "ALU on an uninitialised r0", expect: "R0 is read before it is initialised",
            source: "add %r0, 1\nexit"),
        Case(name: "exit without a return value", expect: "R0 is not initialised at exit", source: "exit"),
        Case(
            name: "return value set on one path only", expect: "R0 is not initialised at exit",
            source: packet + "\njeq %r2, %r3, skip\nmov %r0, 2\nskip:\nexit"),
        Case(
            name: "reading an uninitialised stack slot", expect: "reads uninitialised stack at offset -8",
            source: "ldxdw %r0, [%r10-8]\nexit"),
        Case(
            name: "reading a half-initialised stack slot", expect: "reads uninitialised stack at offset -4",
            source: "stw [%r10-8], 0\nldxdw %r0, [%r10-8]\nexit"),
        Case(
            name: "storing an uninitialised register", expect: "R3 is read before it is initialised",
            source: "stxdw [%r10-8], %r3\nmov %r0, 2\nexit"),
        Case(
            name: "argument registers are clobbered by a helper call", expect: "R1 is read before it is initialised",
            source: "call 5\nmov %r0, %r1\nexit"),
        Case(
            name: "callee-saved registers start uninitialised in a sub-program", expect: "R6 is read before",
            source: "mov %r6, 1\ncall local f\nexit\nf:\nmov %r0, %r6\nexit"),
        Case(
            name: "map key on uninitialised stack", expect: "reads uninitialised stack",
            source: "lddw %r1, map[0]\nmov %r2, %r10\nadd %r2, -4\ncall 1\nmov %r0, 2\nexit"),
        Case(
            name: "map value argument only partly initialised", expect: "reads uninitialised stack",
            source: """
                stw [%r10-4], 0
                stw [%r10-16], 0
                lddw %r1, map[0]
                mov %r2, %r10
                add %r2, -4
                mov %r3, %r10
                add %r3, -16
                mov %r4, 0
                call 2
                mov %r0, 2
                exit
                """),
        Case(
            name: "sub-program returns without setting r0", expect: "R0 is not initialised at exit",
            source: "call local f\nexit\nf:\nexit"),
    ]

    static let stackCases: [Case] = [
        Case(
            name: "store above the frame pointer", expect: "outside the frame's 512 bytes",
            source: "stdw [%r10+0], 0\nmov %r0, 2\nexit"),
        Case(
            name: "store below the 512-byte frame", expect: "outside the frame's 512 bytes",
            source: "stdw [%r10-520], 0\nmov %r0, 2\nexit"),
        Case(
            name: "load just below the bottom of the frame", expect: "outside the frame's 512 bytes",
            source: "ldxw %r0, [%r10-516]\nexit"),
        Case(
            name: "load straddling the bottom of the frame is misaligned first", expect: "misaligned stack read",
            source: "ldxdw %r0, [%r10-516]\nexit"),
        Case(name: "writing r10", expect: "R10 (the frame pointer) is read-only", source: "mov %r10, 0\nexit"),
        Case(
            name: "adjusting r10", expect: "R10 (the frame pointer) is read-only",
            source: "add %r10, -8\nmov %r0, 2\nexit"),
        Case(
            name: "loading into r10", expect: "R10 (the frame pointer) is read-only",
            source: "stdw [%r10-8], 0\nldxdw %r10, [%r10-8]\nmov %r0, 2\nexit"),
        Case(
            name: "stack pointer plus an unbounded value", expect: "unbounded value",
            source: checked14 + "\nldxdw %r5, [%r2+0]\nmov %r6, %r10\nadd %r6, %r5\nmov %r0, 2\nexit\n" + out14),
        Case(
            name: "stack pointer plus a bounded value that leaves the frame", expect: "outside the frame's 512 bytes",
            source: checked14
                + "\nldxb %r5, [%r2+0]\nmov %r6, %r10\nadd %r6, -8\nadd %r6, %r5\nstb [%r6+0], 1\nmov %r0, 2\nexit\n"
                + out14),
        Case(
            name: "sub-program returns a pointer to its own stack", expect: "own stack",
            source: "call local f\nmov %r0, 2\nexit\nf:\nmov %r0, %r10\nadd %r0, -8\nexit"),
        Case(
            name: "callee stores a pointer to its stack into the caller's frame", expect: "pointer to a callee's stack",
            source: """
                mov %r1, %r10
                add %r1, -8
                call local f
                mov %r0, 2
                exit
                f:
                mov %r2, %r10
                add %r2, -16
                stxdw [%r1+0], %r2
                mov %r0, 0
                exit
                """),
        Case(
            name: "narrow fill of a different width loses the bound", expect: "unbounded value",
            source: checked14 + """

                ldxb %r6, [%r2+0]
                and %r6, 15
                stxw [%r10-12], %r6
                stb [%r10-11], 1
                stw [%r10-4], 0
                lddw %r1, map[1]
                mov %r2, %r10
                add %r2, -4
                call 1
                jeq %r0, 0, out14
                ldxw %r7, [%r10-12]
                add %r0, %r7
                ldxb %r0, [%r0+0]
                exit
                """ + "\n" + out14),
        Case(
            name: "spilled pointer partly overwritten no longer a pointer", expect: "a scalar is not a pointer",
            source: checked14 + "\nstxdw [%r10-8], %r2\nstb [%r10-8], 0\nldxdw %r2, [%r10-8]\nldxb %r0, [%r2+0]\nexit\n"
                + out14),
    ]

    static let mapCases: [Case] = [
        Case(
            name: "map value dereferenced without a NULL check", expect: "check it against NULL first",
            source: lookup + "\nldxdw %r0, [%r0+0]\nexit"),
        Case(
            name: "map value read past its size", expect: "of map 'flows', whose values have 8 bytes",
            source: lookup + "\njeq %r0, 0, out\nldxdw %r0, [%r0+8]\nexit\nout:\nmov %r0, 2\nexit"),
        Case(
            name: "map value read before its start", expect: "whose values have 8 bytes",
            source: lookup + "\njeq %r0, 0, out\nldxb %r0, [%r0-1]\nexit\nout:\nmov %r0, 2\nexit"),
        Case(
            name: "arithmetic on a map value before the NULL check",
            expect: "pointer arithmetic on map value or NULL prohibited",
            source: lookup + "\nadd %r0, 4\nexit"),
        Case(
            name: "32-bit NULL check proves nothing", expect: "check it against NULL first",
            source: lookup + "\njeq32 %r0, 0, out\nldxdw %r0, [%r0+0]\nexit\nout:\nmov %r0, 2\nexit"),
        Case(
            name: "dereference in the NULL branch", expect: "a scalar is not a pointer",
            source: lookup + "\njne %r0, 0, out\nldxdw %r0, [%r0+0]\nexit\nout:\nmov %r0, 2\nexit"),
        Case(
            name: "map value plus an index up to 255", expect: "whose values have 16 bytes",
            source: checked14 + """

                ldxb %r6, [%r2+0]
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
            name: "map value plus an unbounded index", expect: "unbounded value",
            source: checked14 + """

                ldxdw %r6, [%r2+0]
                stw [%r10-4], 0
                lddw %r1, map[1]
                mov %r2, %r10
                add %r2, -4
                call 1
                jeq %r0, 0, out14
                add %r0, %r6
                mov %r0, 2
                exit
                """ + "\n" + out14),
        Case(
            name: "write to .rodata", expect: "write to read-only map '.rodata'",
            source: "lddw %r1, map_value[2]\nstw [%r1+0], 1\nmov %r0, 2\nexit"),
        Case(
            name: "global data offset outside the value", expect: "refers to offset 100 of map '.rodata'",
            source: "lddw %r1, map_value[2]+100\nmov %r0, 2\nexit"),
        Case(
            name: "lddw of a map that does not exist", expect: "refers to map 9",
            source: "lddw %r1, map[9]\nmov %r0, 2\nexit"),
        Case(
            name: "dereferencing a map pointer", expect: "invalid memory access through a map",
            source: "lddw %r1, map[0]\nldxw %r0, [%r1+0]\nexit"),
        Case(
            name: "write past a .data-like value through lddw offset", expect: "whose values have 16 bytes",
            source: "lddw %r1, map_value[1]+12\nstdw [%r1+0], 1\nmov %r0, 2\nexit"),
    ]

    static let arithmeticCases: [Case] = [
        Case(
            name: "load through a moved context", expect: "the context pointer was moved by 4",
            source: "add %r1, 4\nldxw %r2, [%r1+0]\nmov %r0, 2\nexit"),
        Case(
            name: "variable arithmetic on the context", expect: "pointer arithmetic on context (xdp_md) prohibited",
            source: "ldxw %r2, [%r1+16]\nand %r2, 4\nadd %r1, %r2\nmov %r0, 2\nexit"),
        Case(
            name: "adding two pointers", expect: "pointer += pointer prohibited",
            source: packet + "\nadd %r2, %r3\nmov %r0, 2\nexit"),
        Case(
            name: "multiplying a pointer", expect: "mul on a pointer to packet is prohibited",
            source: packet + "\nmul %r2, 2\nmov %r0, 2\nexit"),
        Case(
            name: "xor of a pointer", expect: "xor on a pointer to stack is prohibited",
            source: "mov %r2, %r10\nxor %r2, 1\nmov %r0, 2\nexit"),
        Case(
            name: "32-bit add to a pointer", expect: "32-bit arithmetic on a pointer to packet",
            source: packet + "\nadd32 %r2, 1\nmov %r0, 2\nexit"),
        Case(
            name: "masking a pointer", expect: "and on a pointer to packet is prohibited",
            source: packet + "\nand %r2, 255\nmov %r0, 2\nexit"),
        Case(
            name: "negating a pointer", expect: "negation of a pointer to packet",
            source: packet + "\nneg %r2\nmov %r0, 2\nexit"),
        Case(
            name: "scalar minus pointer", expect: "scalar -= pointer prohibited",
            source: packet + "\nmov %r4, 0\nsub %r4, %r2\nmov %r0, 2\nexit"),
        Case(name: "returning a packet pointer", expect: "R0 leaks addr", source: packet + "\nmov %r0, %r2\nexit"),
        Case(name: "returning a stack pointer", expect: "R0 leaks addr", source: "mov %r0, %r10\nexit"),
        Case(name: "returning the context", expect: "R0 leaks addr", source: "mov %r0, %r1\nexit"),
        Case(
            name: "subtracting pointers of different kinds",
            expect: "subtracting a pointer to stack from a pointer to packet",
            source: packet + "\nsub %r2, %r10\nmov %r0, 2\nexit"),
        Case(
            name: "shifting a pointer", expect: "lsh on a pointer to stack is prohibited",
            source: "mov %r2, %r10\nlsh %r2, 1\nmov %r0, 2\nexit"),
        Case(
            name: "arithmetic on a map pointer", expect: "pointer arithmetic on map prohibited",
            source: "lddw %r1, map[0]\nadd %r1, 8\nmov %r0, 2\nexit"),
        Case(
            name: "byte swap of a pointer", expect: "byte swap of a pointer to packet",
            source: packet + "\nbe16 %r2\nmov %r0, 2\nexit"),
        Case(
            name: "pointer offset beyond 2^29", expect: "leaves the allowed range",
            source: "mov %r2, %r10\nadd %r2, 0x30000000\nmov %r0, 2\nexit"),
    ]

    static let contextCases: [Case] = [
        Case(
            name: "store to the context", expect: "writes to the context (xdp_md) are not allowed",
            source: "stw [%r1+0], 0\nmov %r0, 2\nexit"),
        Case(
            name: "register store to the context", expect: "writes to the context (xdp_md) are not allowed",
            source: "mov %r2, 5\nstxw [%r1+16], %r2\nmov %r0, 2\nexit"),
        Case(
            name: "context read past xdp_md", expect: "invalid access to the context (xdp_md) at offset 24",
            source: "ldxw %r0, [%r1+24]\nexit"),
        Case(
            name: "8-byte load of data", expect: "must be read with a 4-byte load",
            source: "ldxdw %r0, [%r1+0]\nmov %r0, 2\nexit"),
        Case(
            name: "misaligned context read", expect: "misaligned or oversized xdp_md access",
            source: "ldxh %r0, [%r1+13]\nexit"),
        Case(
            name: "atomic add on the context", expect: "atomic operations are only allowed on the stack and map values",
            source: "mov %r2, 1\nlock add32 [%r1+12], %r2\nmov %r0, 2\nexit"),
        Case(
            name: "context on one path, stack on another, at the same load", expect: "is the context on one path",
            source: """
                stdw [%r10-8], 0
                ldxw %r2, [%r1+12]
                jeq %r2, 0, load
                mov %r1, %r10
                add %r1, -8
                load:
                ldxw %r0, [%r1+0]
                mov %r0, 2
                exit
                """),
        Case(
            name: "context passed where memory is expected", expect: "expected a pointer to memory",
            source: "mov %r2, 4\ncall 6\nmov %r0, 2\nexit"),
    ]

    static let loopCases: [Case] = [
        Case(name: "jump to itself", expect: "infinite loop detected", source: "mov %r0, 0\nl:\nja l"),
        Case(
            name: "loop whose condition never changes", expect: "infinite loop detected",
            source: checked14 + "\nldxb %r6, [%r2+0]\nl:\nmov %r0, 2\njne %r6, 7, l\nexit\n" + out14),
        Case(
            // The kernel too runs this one into its budget ("BPF program is too large"): the counter changes, so
            // no state repeats exactly.
            name: "counter loop without an exit", expect: "program too complex",
            source: "mov %r0, 0\nl:\nadd %r0, 1\nja l",
            limit: 5_000),
        Case(
            name: "loop bounded only by an unknown value", expect: "program too complex",
            source: checked14 + "\nldxw %r6, [%r2+0]\nmov %r0, 0\nl:\nadd %r0, 1\njlt %r0, %r6, l\nmov %r0, 2\nexit\n"
                + out14,
            limit: 20_000),
        Case(
            name: "loop that counts the wrong way", expect: "program too complex",
            source: "mov %r0, 0\nl:\nsub %r0, 1\njne %r0, 10, l\nmov %r0, 2\nexit", limit: 20_000),
    ]

    static let structureCases: [Case] = [
        Case(
            name: "jump into the middle of lddw", expect: "middle of an lddw",
            source: "ja +1\nlddw %r0, 0x100000000\nexit"),
        Case(name: "jump outside the program", expect: "outside the program", source: "ja +5\nexit"),
        Case(name: "backward jump before the start", expect: "outside the program", source: "mov %r0, 0\nja -3\nexit"),
        Case(
            name: "unreachable instruction", expect: "unreachable instruction",
            source: "mov %r0, 0\nexit\nmov %r0, 1\nexit"),
        Case(name: "falling off the end", expect: "falls off the end of the program", source: "mov %r0, 0"),
        Case(
            name: "falling off the end after a branch", expect: "falls off the end",
            source: "mov %r0, 0\njeq %r0, 0, +1\nexit\nmov %r0, 1"),
        Case(name: "truncated lddw", expect: "lddw is truncated", source: "mov %r0, 0\nexit\n.raw 0x0000000000000018"),
        Case(
            name: "unknown opcode", expect: "invalid instruction (opcode 0xff)", source: ".raw 0x00000000000000ff\nexit"
        ),
        Case(name: "call target outside the program", expect: "call target", source: "call local +40\nexit"),
        Case(name: "legacy packet access", expect: "legacy packet access", source: "ldabsb 0\nexit"),
        Case(
            name: "jump from one function into another", expect: "jump from sub-program",
            source: "call local f\nja g\nexit\nf:\nmov %r0, 0\ng:\nexit"),
        Case(
            name: "sub-program that falls into the next one", expect: "falls off the end of the sub-program",
            source: "call local f\ncall local g\nexit\nf:\nmov %r0, 0\ng:\nmov %r0, 1\nexit"),
        Case(name: "empty program", expect: "no instructions", source: ""),
    ]

    static let callCases: [Case] = [
        Case(
            name: "calls nested nine deep", expect: "too deep",
            source: (1...8).map { "call local f\($0)\nexit\nf\($0):" }.joined(separator: "\n") + "\nmov %r0, 0\nexit"),
        Case(
            name: "unbounded recursion", expect: "too deep",
            source: "call local f\nexit\nf:\ncall local f\nmov %r0, 0\nexit"),
        Case(
            name: "stack over 512 bytes across calls", expect: "combined stack size of 2 calls is 576 bytes",
            source: "stdw [%r10-256], 0\ncall local f\nmov %r0, 2\nexit\nf:\nstdw [%r10-312], 0\nmov %r0, 0\nexit"),
        Case(name: "indirect helper call", expect: "callx", source: "mov %r2, 5\ncall %r2\nmov %r0, 2\nexit"),
        Case(name: "unknown helper", expect: "call of unknown helper 9999", source: "call 9999\nmov %r0, 2\nexit"),
        Case(name: "refused helper", expect: "bpf_fib_lookup is not available", source: "call 69\nmov %r0, 2\nexit"),
        Case(
            name: "kfunc Sluice does not provide", expect: "kfunc 'bpf_nonexistent' is not provided",
            source: "call kfunc 77\nmov %r0, 2\nexit",
            kfuncs: [0: ExternReference(name: "bpf_nonexistent", isWeak: true)]),
        Case(
            name: "stack over 512 bytes through three frames", expect: "combined stack size of 3 calls",
            source: """
                stdw [%r10-200], 0
                call local f
                mov %r0, 2
                exit
                f:
                stdw [%r10-200], 0
                call local g
                mov %r0, 0
                exit
                g:
                stdw [%r10-200], 0
                mov %r0, 0
                exit
                """),
    ]

    static let helperCases: [Case] = [
        Case(
            name: "lookup with a scalar instead of a map", expect: "expected a map",
            source: "stw [%r10-4], 0\nmov %r1, 0\nmov %r2, %r10\nadd %r2, -4\ncall 1\nmov %r0, 2\nexit"),
        Case(
            name: "lookup with a scalar key", expect: "expected a pointer to memory",
            source: "lddw %r1, map[0]\nmov %r2, 0\ncall 1\nmov %r0, 2\nexit"),
        Case(
            name: "lookup key in unchecked packet", expect: "outside the 0 bytes proven",
            source: "ldxw %r2, [%r1+0]\nlddw %r1, map[0]\ncall 1\nmov %r0, 2\nexit"),
        Case(
            name: "adjust_head without the context", expect: "expected the context",
            source: "mov %r1, %r10\nmov %r2, 0\ncall 44\nmov %r0, 2\nexit"),
        Case(
            name: "trace_printk with an unbounded size", expect: "unbounded memory size",
            source: checked14
                + "\nldxdw %r2, [%r2+0]\nstdw [%r10-8], 0\nmov %r1, %r10\nadd %r1, -8\ncall 6\nmov %r0, 2\nexit\n"
                + out14),
        Case(
            name: "trace_printk with size 0", expect: "it must be at least 1",
            source: "stdw [%r10-8], 0\nmov %r1, %r10\nadd %r1, -8\nmov %r2, 0\ncall 6\nmov %r0, 2\nexit"),
        Case(
            name: "trace_printk reading past the initialised stack", expect: "reads uninitialised stack",
            source: "stdw [%r10-8], 0\nmov %r1, %r10\nadd %r1, -16\nmov %r2, 16\ncall 6\nmov %r0, 2\nexit"),
        Case(
            name: "tail call through a hash map", expect: "bpf_tail_call cannot be used with map 'flows'",
            source: "lddw %r2, map[0]\nmov %r3, 0\ncall 12\nmov %r0, 2\nexit"),
        Case(
            name: "redirect_map with a hash map", expect: "bpf_redirect_map cannot be used with map 'flows'",
            source: "lddw %r1, map[0]\nmov %r2, 0\nmov %r3, 0\ncall 51\nexit"),
        Case(
            name: "ring buffer reservation of unknown size", expect: "must be a known constant",
            source: checked14 + "\nldxb %r2, [%r2+0]\nlddw %r1, map[3]\nmov %r3, 0\ncall 131\nmov %r0, 2\nexit\n"
                + out14),
        Case(
            name: "ringbuf_output to an array", expect: "bpf_ringbuf_output cannot be used with map 'counters'",
            source:
                "stdw [%r10-8], 0\nlddw %r1, map[1]\nmov %r2, %r10\nadd %r2, -8\nmov %r3, 8\nmov %r4, 0\ncall 130\nmov %r0, 2\nexit"
        ),
        Case(
            name: "bpf_loop with a scalar callback", expect: "expected a function",
            source: "mov %r1, 4\nmov %r2, 0\nmov %r3, 0\nmov %r4, 0\ncall 181\nmov %r0, 2\nexit"),
        Case(
            name: "bpf_loop callback returning 2", expect: "must return 0 (continue) or 1 (stop)",
            source:
                "mov %r1, 4\nlddw %r2, func cb\nmov %r3, 0\nmov %r4, 0\ncall 181\nmov %r0, 2\nexit\ncb:\nmov %r0, 2\nexit"
        ),
        Case(
            name: "csum_diff with an unbounded size", expect: "unbounded memory size",
            source: checked14
                + "\nldxdw %r2, [%r2+0]\nstdw [%r10-8], 0\nmov %r1, %r10\nadd %r1, -8\nmov %r3, 0\nmov %r4, 0\nmov %r5, 0\ncall 28\nmov %r0, 2\nexit\n"
                + out14),
        Case(
            name: "xdp_load_bytes into .rodata", expect: "write to read-only map '.rodata'",
            source: "lddw %r3, map_value[2]\nmov %r2, 0\nmov %r4, 4\ncall 189\nmov %r0, 2\nexit"),
        Case(
            name: "bpf_loop callback writes a pointer into the caller's stack",
            expect: "may not store pointers into its caller's stack",
            source:
                "stdw [%r10-8], 0\nmov %r1, 4\nlddw %r2, func cb\nmov %r3, %r10\nadd %r3, -8\nmov %r4, 0\ncall 181\nmov %r0, 2\nexit\ncb:\nstxdw [%r2+0], %r2\nmov %r0, 0\nexit"
        ),
        Case(
            name: "tail call from a sub-program", expect: "only allowed in the program's main function",
            source: "call local f\nmov %r0, 2\nexit\nf:\nlddw %r2, map[4]\nmov %r3, 0\ncall 12\nmov %r0, 0\nexit"),
        Case(
            name: "bpf_loop callback that moves the packet", expect: "cannot be called from a bpf_loop callback",
            source: """
                stxdw [%r10-8], %r1
                mov %r1, 2
                lddw %r2, func cb
                mov %r3, %r10
                add %r3, -8
                mov %r4, 0
                call 181
                mov %r0, 2
                exit
                cb:
                ldxdw %r1, [%r2+0]
                mov %r2, 4
                call 44
                mov %r0, 0
                exit
                """),
        Case(
            name: "helper argument not initialised", expect: "argument R2 is not initialised",
            source: "lddw %r1, map[0]\ncall 1\nmov %r0, 2\nexit"),
    ]

    static let ringbufCases: [Case] = [
        Case(
            name: "reservation never released", expect: "unreleased reference",
            source: reserve + "\njeq %r0, 0, out\nstdw [%r0+0], 1\nout:\nmov %r0, 2\nexit"),
        Case(
            name: "reservation released on one path only", expect: "unreleased reference",
            source: reserve
                + "\njeq %r0, 0, out\nldxdw %r6, [%r0+0]\njeq %r6, 0, out\nmov %r1, %r0\nmov %r2, 0\ncall 132\nout:\nmov %r0, 2\nexit"
        ),
        Case(
            name: "submit without a NULL check", expect: "(checked against NULL)",
            source: reserve + "\nmov %r1, %r0\nmov %r2, 0\ncall 132\nmov %r0, 2\nexit"),
        Case(
            name: "write past the reserved record", expect: "of a 8-byte ring buffer record",
            source: reserve
                + "\njeq %r0, 0, out\nstdw [%r0+8], 1\nmov %r1, %r0\nmov %r2, 0\ncall 132\nout:\nmov %r0, 2\nexit"),
        Case(
            name: "record submitted twice", expect: "expected a ring buffer record",
            source: reserve
                + "\njeq %r0, 0, out\nmov %r6, %r0\nmov %r1, %r6\nmov %r2, 0\ncall 132\nmov %r1, %r6\nmov %r2, 0\ncall 132\nout:\nmov %r0, 2\nexit"
        ),
        Case(
            name: "submit of an offset record pointer", expect: "offset 0",
            source: reserve
                + "\njeq %r0, 0, out\nadd %r0, 4\nmov %r1, %r0\nmov %r2, 0\ncall 132\nout:\nmov %r0, 2\nexit"),
        Case(
            name: "tail call while holding a reservation", expect: "bpf_tail_call with an unreleased",
            source: "mov %r7, %r1\n" + reserve
                + "\njeq %r0, 0, out\nmov %r6, %r0\nmov %r1, %r7\nlddw %r2, map[4]\nmov %r3, 0\ncall 12\nmov %r1, %r6\nmov %r2, 0\ncall 133\nout:\nmov %r0, 2\nexit"
        ),
        Case(
            name: "record used after discard", expect: "a scalar is not a pointer",
            source: reserve
                + "\njeq %r0, 0, out\nmov %r6, %r0\nmov %r1, %r0\nmov %r2, 0\ncall 133\nstdw [%r6+0], 1\nout:\nmov %r0, 2\nexit"
        ),
    ]

    static let atomicCases: [Case] = [
        Case(
            name: "atomic add on the packet", expect: "atomic operations are only allowed on the stack and map values",
            source: checked14 + "\nmov %r5, 1\nlock add32 [%r2+0], %r5\nmov %r0, 2\nexit\n" + out14),
        Case(
            name: "misaligned atomic on the stack", expect: "misaligned atomic access",
            source: "stdw [%r10-16], 0\nstdw [%r10-8], 0\nmov %r1, 1\nlock add [%r10-12], %r1\nmov %r0, 2\nexit"),
        Case(
            name: "atomic on uninitialised stack", expect: "reads uninitialised stack",
            source: "mov %r1, 1\nlock add [%r10-8], %r1\nmov %r0, 2\nexit"),
        Case(
            name: "atomic with a pointer operand", expect: "atomic operand must be a scalar",
            source: "stdw [%r10-8], 0\nlock add [%r10-8], %r10\nmov %r0, 2\nexit"),
        Case(
            name: "atomic on .rodata", expect: "write to read-only map '.rodata'",
            source: "lddw %r1, map_value[2]\nmov %r2, 1\nlock add32 [%r1+0], %r2\nmov %r0, 2\nexit"),
    ]

    static let miscCases: [Case] = [
        Case(
            name: "32-bit move truncates a pointer to a scalar", expect: "a scalar is not a pointer",
            source: checked14 + "\nmov32 %r2, %r2\nldxb %r0, [%r2+0]\nexit\n" + out14),
        Case(
            name: "value loaded from the packet is not a pointer", expect: "a scalar is not a pointer",
            source: checked14 + "\nldxdw %r2, [%r2+0]\nldxb %r0, [%r2+0]\nexit\n" + out14),
        Case(
            name: "array index check on the wrong register", expect: "whose values have 16 bytes",
            source: checked14 + """

                ldxb %r6, [%r2+0]
                ldxb %r7, [%r2+1]
                stw [%r10-4], 0
                lddw %r1, map[1]
                mov %r2, %r10
                add %r2, -4
                call 1
                jeq %r0, 0, out14
                jgt %r7, 15, out14
                add %r0, %r6
                ldxb %r0, [%r0+0]
                exit
                """ + "\n" + out14),
        Case(
            name: "signed index check lets negative values through", expect: "whose values have 16 bytes",
            source: checked14 + """

                ldxb %r6, [%r2+0]
                stw [%r10-4], 0
                lddw %r1, map[1]
                mov %r2, %r10
                add %r2, -4
                call 1
                jeq %r0, 0, out14
                sub %r6, 128
                jsgt %r6, 15, out14
                add %r0, %r6
                ldxb %r0, [%r0+0]
                exit
                """ + "\n" + out14),
        Case(
            name: "off-by-one array index check", expect: "whose values have 16 bytes",
            source: checked14 + """

                ldxb %r6, [%r2+0]
                stw [%r10-4], 0
                lddw %r1, map[1]
                mov %r2, %r10
                add %r2, -4
                call 1
                jeq %r0, 0, out14
                jgt %r6, 16, out14
                add %r0, %r6
                ldxb %r0, [%r0+0]
                exit
                """ + "\n" + out14),
    ]

    @Test("the corpus is large enough") func corpusSize() {
        #expect(Self.cases.count >= 80)
        #expect(Set(Self.cases.map(\.name)).count == Self.cases.count)
    }

    @Test("refused with the stated reason", arguments: cases)
    func refused(_ c: Case) throws {
        let program: ProgramSpec
        do { program = try VerifierFixture.program(c.source, kfuncs: c.kfuncs) } catch {
            Issue.record("\(c.name): does not assemble: \(error)")
            return
        }
        let error = try #require(VerifierFixture.rejection(program, limit: c.limit), "\(c.name) was accepted")
        #expect(error.reason.contains(c.expect), "\(c.name):\n\(error)")
        #expect(error.instructionIndex >= 0 && error.instructionIndex < max(program.instructions.count, 1))
    }
}
