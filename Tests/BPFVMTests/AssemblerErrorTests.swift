import Testing

@testable import BPFVM

/// Malformed assembly is reported as an `AssemblyError` naming the line and the problem; nothing traps.
@Suite struct AssemblerErrorTests {
    /// Each bad line is placed on line 4, after a comment, a label and a valid instruction.
    static let badLines: [(String, String)] = [
        ("addd %r1, 1", "unknown mnemonic 'addd'"),
        ("lock foo [%r1], %r2", "unknown mnemonic 'lock foo'"),
        ("lock fetch nand [%r1], %r2", "unknown mnemonic 'lock fetch nand'"),
        ("mov %r11, 1", "expected register %r0…%r10, found '%r11'"),
        ("mov r1, 1", "expected register %r0…%r10, found 'r1'"),
        ("add %r1, %r-1", "expected register %r0…%r10, found '%r-1'"),
        ("mov %r1", "missing operand: 'mov' takes %rD, IMM or %rD, %rS"),
        ("call local", "missing operand: 'call local' takes TARGET (+N, -N or a label)"),
        ("exit %r0", "unexpected operand '%r0': 'exit' takes no operands"),
        ("neg %r1, 5", "unexpected operand '5': 'neg' takes %rD"),
        ("mov %r1, 1 2", "expected immediate, found '1 2'"),
        ("add %r1, , 2", "operand 2 of 'add' is empty"),
        ("ja nowhere", "undefined label 'nowhere'"),
        ("lddw %r1, func nowhere", "undefined label 'nowhere'"),
        ("jeq %r1, 1, 5", "expected jump target (+N, -N or a label), found '5'"),
        ("start: exit", "duplicate label 'start' (first defined on line 2)"),
        ("mov %r1, 0x1ffffffff", "immediate 0x1ffffffff does not fit in 32 bits"),
        ("mov %r1, -2147483649", "immediate -2147483649 does not fit in 32 bits"),
        ("mov %r1, 12abc", "expected immediate, found '12abc'"),
        ("lddw %r1, 0x10000000000000000", "immediate 0x10000000000000000 does not fit in 64 bits"),
        ("lddw %r1, bogus", "expected 64-bit immediate or map[N], map_value[N]+OFF, func TARGET, found 'bogus'"),
        ("lddw %r1, map[x]", "expected a number in map[…], found 'x'"),
        ("lddw %r1, map[1]+4", "unexpected '+4' after map[1]"),
        ("lddw %r1, map_value[1]*4", "expected +OFF after map_value[1], found '*4'"),
        ("ldxw %r1, [%r2+40000]", "memory offset +40000 does not fit in 16 bits"),
        ("ldxw %r1, [%r2+]", "expected memory offset, found '+' in '[%r2+]'"),
        ("stxw %r1, %r2", "expected memory operand [%rN+OFF], found '%r1'"),
        ("stxw [%r1+2, %r2", "expected memory operand [%rN+OFF], found '[%r1+2'"),
        ("jeq %r1, 1, +40000", "jump distance +40000 does not fit in 16 bits"),
        ("ja32 +0x100000000", "jump distance +0x100000000 does not fit in 32 bits"),
        (".raw 0xzz", "expected a 64-bit instruction word, found '0xzz'"),
        ("mov %r1, ✓", "expected immediate, found '✓'"),
        ("%r1 = 1", "unknown mnemonic '%r1'"),
        ("call func1", "expected helper id, found 'func1' (a BPF-to-BPF call is 'call local func1')"),
        ("call kfunc", "missing operand: 'call kfunc' takes IMM"),
        ("add %r1, [%r2]", "expected immediate, found '[%r2]'"),
    ]

    @Test(arguments: badLines)
    func reportsTheLineAndTheProblem(line: String, message: String) {
        let source = "# a comment\nstart:\nmov %r0, 0\n\(line)\nexit\n"
        #expect(throws: AssemblyError(line: 4, message: message)) { try Assembler.assemble(source) }
    }

    @Test func labelTooFarForA16BitJump() {
        let body = String(repeating: "exit\n", count: 40_000) + "far: exit\n"
        let source = "ja far\n" + body
        #expect(
            throws: AssemblyError(
                line: 1, message: "label 'far' is 40000 slots away, which does not fit in 16 bits")
        ) { try Assembler.assemble(source) }
        // ja32 reaches it.
        #expect(throws: Never.self) { try Assembler.assemble("ja32 far\n" + body) }
    }

    @Test func descriptionNamesTheLine() {
        #expect(
            AssemblyError(line: 3, message: "unknown mnemonic 'addd'").description == "line 3: unknown mnemonic 'addd'")
    }

    /// Mutated conformance lines never trap: each either assembles (and then round-trips through the disassembler)
    /// or throws an `AssemblyError` naming line 1.
    @Test func mutatedInputNeverTraps() throws {
        let lines = try ConformanceFiles.all().flatMap { file in
            try ConformanceCase.parse(file.text, name: file.name).asm.split(separator: "\n").filter { !$0.isEmpty }
        }
        let alphabet = Array("%[]+-,:# 0x9fr1lddwmap_value.\u{0}✓")
        var state: UInt64 = 0x9e37_79b9_7f4a_7c15
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        var assembled = 0
        for round in 0..<4000 {
            var characters = Array(lines[round % lines.count])
            for _ in 0...next(3) {
                let position = next(characters.count + 1)
                switch next(3) {
                case 0 where position < characters.count: characters.remove(at: position)
                case 1: characters.insert(alphabet[next(alphabet.count)], at: position)
                default: if position < characters.count { characters[position] = alphabet[next(alphabet.count)] }
                }
            }
            let source = String(characters)
            do {
                let program = try Assembler.assemble(source)
                assembled += 1
                let text = Disassembler.text(of: program).joined(separator: "\n")
                #expect(try Assembler.assemble(text) == program, "\(source)")
            } catch {
                #expect(error.line == 1, "\(source): \(error)")
            }
        }
        #expect(assembled > 0)
    }
}
