import BPFVM
import Sluice
import Testing

/// The classic validator's refusals and the translator's semantics, on hand-written classic programs.
@Suite struct ClassicTranslatorTests {
    typealias O = ClassicOpcode
    static func insn(_ code: UInt16, _ k: UInt32 = 0, jt: UInt8 = 0, jf: UInt8 = 0) -> ClassicInstruction {
        ClassicInstruction(code: code, jt: jt, jf: jf, k: k)
    }
    static let retA = insn(O.ret | O.retA)
    static func ret(_ k: UInt32) -> ClassicInstruction { insn(O.ret | O.k, k) }

    static func refusal(_ code: [ClassicInstruction]) -> String? {
        do {
            _ = try ClassicTranslator.translate(ClassicProgram(instructions: code))
            return nil
        } catch { return error.description }
    }

    @Test(
        arguments: [
            ([], "empty"),
            (Array(repeating: insn(O.ret | O.k, 1), count: 4097), "BPF_MAXINSNS"),
            ([insn(0xff), ret(0)], "unknown opcode 0xff"),
            ([insn(O.ret | O.x), ret(0)], "unknown opcode 0xe"),
            ([insn(O.ld | O.w | O.abs + 0x100), ret(0)], "unknown opcode"),
            ([insn(O.alu | O.div | O.k, 0), retA], "division by constant 0"),
            ([insn(O.alu | O.mod | O.k, 0), retA], "modulo by constant 0"),
            ([insn(O.alu | O.lsh | O.k, 32), retA], "shift by constant 32"),
            ([insn(O.st, 16), retA], "M[16] out of range"),
            ([insn(O.ld | O.mem, 99), retA], "M[99] out of range"),
            ([insn(O.jmp | O.ja, 5), ret(0)], "leaves the program"),
            ([insn(O.jmp | O.jeq | O.k, 1, jt: 3, jf: 0), ret(0), ret(1)], "leaves the program"),
            ([insn(O.ld | O.imm, 1)], "not a ret"),
            ([insn(O.ld | O.mem, 3), retA], "M[3] is loaded before it is stored"),
            // Stored on one path only: the other reaches the load with M[0] unset.
            (
                [insn(O.jmp | O.jeq | O.k, 0, jt: 0, jf: 1), insn(O.st, 0), insn(O.ld | O.mem, 0), retA],
                "M[0] is loaded before it is stored"
            ),
            ([insn(O.ld | O.w | O.abs, UInt32(bitPattern: -0x1000 + 8)), retA], "SKF_AD_IFINDEX"),
            ([insn(O.ld | O.h | O.abs, UInt32(bitPattern: -0x1000 + 44)), retA], "SKF_AD_VLAN_TCI"),
            ([insn(O.ld | O.b | O.abs, UInt32(bitPattern: -0x100000 + 9)), retA], "SKF_NET_OFF"),
        ] as [([ClassicInstruction], String)])
    func validatorRefuses(_ code: [ClassicInstruction], _ reason: String) {
        let message = Self.refusal(code)
        #expect(message?.contains(reason) == true, "expected a refusal naming '\(reason)', got \(message ?? "none")")
    }

    /// A packet 0x00, 0x01, … (`count` bytes).
    static func packet(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0) } }

    /// Runs `code` on each engine and checks it against libpcap's classic interpreter on `packet`, returning ours.
    static func run(_ code: [ClassicInstruction], _ packet: [UInt8], wireLength: Int? = nil) throws -> UInt32 {
        let program = ClassicProgram(instructions: code)
        var results: [UInt32] = []
        for engine in [EngineChoice.interpreter, .auto] {
            let filter = try PacketFilter(classic: program, engine: engine)
            packet.withUnsafeBytes { results.append(filter.returnValue($0, wireLength: wireLength)) }
        }
        let reference = packet.withUnsafeBytes { program.libpcapResult($0, wireLength: wireLength) }
        #expect(results.allSatisfy { $0 == reference }, "engines \(results), libpcap \(reference)")
        return results[0]
    }

    @Test func loadsAreBigEndianAndOutOfBoundsEndsWithNoMatch() throws {
        let p = Self.packet(60)
        #expect(try Self.run([Self.insn(O.ld | O.w | O.abs, 12), Self.retA], p) == 0x0c0d_0e0f)
        #expect(try Self.run([Self.insn(O.ld | O.h | O.abs, 58), Self.retA], p) == 0x3a3b)
        #expect(try Self.run([Self.insn(O.ld | O.b | O.abs, 59), Self.retA], p) == 59)
        // One byte past the end: the filter ends with 0 even though the next instruction would return 7.
        #expect(try Self.run([Self.insn(O.ld | O.h | O.abs, 59), Self.ret(7)], p) == 0)
        #expect(try Self.run([Self.insn(O.ld | O.w | O.abs, 40_000), Self.ret(7)], p) == 0)
        #expect(try Self.run([Self.insn(O.ld | O.b | O.abs, 0), Self.ret(7)], []) == 0)
    }

    @Test func indirectLoadsAndMshUseX() throws {
        let p = Self.packet(64)
        // X = 4 * (P[14] & 0xf) = 4 * 14 = 56; A = P[X + 2 … X + 5] = 58…61.
        let code = [Self.insn(O.ldx | O.b | O.msh, 14), Self.insn(O.ld | O.w | O.ind, 2), Self.retA]
        #expect(try Self.run(code, p) == 0x3a3b_3c3d)
        // X + k past the end, and X + k wrapping around 2^32 (a negative offset): no match.
        #expect(
            try Self.run([Self.insn(O.ldx | O.b | O.msh, 14), Self.insn(O.ld | O.b | O.ind, 8), Self.ret(1)], p) == 0)
        let wrap = [Self.insn(O.ldx | O.imm, 0xffff_fff0), Self.insn(O.ld | O.b | O.ind, 0x20), Self.retA]
        #expect(try Self.run(wrap, p) == 0)
    }

    @Test func lengthIsTheWireLength() throws {
        let p = Self.packet(60)
        #expect(try Self.run([Self.insn(O.ld | O.len), Self.retA], p) == 60)
        #expect(
            try Self.run([Self.insn(O.ldx | O.len), Self.insn(O.misc | O.txa), Self.retA], p, wireLength: 1514) == 1514)
    }

    @Test func arithmeticScratchMemoryAndJumps() throws {
        let p = Self.packet(32)
        // A = P[4] (= 4); M[3] = A; A = (A * 7 + 3) - 1 = 30; X = A; A = M[3] = 4; A = A << 4 = 64; A = A / X = 2;
        // A = A | 0x100 = 258; A = A % 7 = 6; A ^= 0xf = 9; A = -A; A &= 0xff = 0xf7; A >>= 1 = 0x7b.
        let code = [
            Self.insn(O.ld | O.b | O.abs, 4), Self.insn(O.st, 3), Self.insn(O.alu | O.mul | O.k, 7),
            Self.insn(O.alu | O.add | O.k, 3), Self.insn(O.alu | O.sub | O.k, 1), Self.insn(O.misc | O.tax),
            Self.insn(O.ld | O.mem, 3), Self.insn(O.alu | O.lsh | O.k, 4), Self.insn(O.alu | O.div | O.x),
            Self.insn(O.alu | O.or | O.k, 0x100), Self.insn(O.alu | O.mod | O.k, 7),
            Self.insn(O.alu | O.xor | O.k, 0xf),
            Self.insn(O.alu | O.neg), Self.insn(O.alu | O.and | O.k, 0xff), Self.insn(O.alu | O.rsh | O.k, 1),
            Self.retA,
        ]
        #expect(try Self.run(code, p) == 0x7b)
        // Division by X = 0 ends the filter with 0 (as the kernel and libpcap do).
        #expect(try Self.run([Self.insn(O.ld | O.imm, 5), Self.insn(O.alu | O.div | O.x), Self.ret(9)], p) == 0)
        #expect(try Self.run([Self.insn(O.ld | O.imm, 5), Self.insn(O.alu | O.mod | O.x), Self.ret(9)], p) == 0)
        // Unsigned 32-bit compares: 0x80000000 > 1; jset with both targets taken apart; ja; jeq X.
        let jumps: [ClassicInstruction] = [
            Self.insn(O.ld | O.imm, 0x8000_0000), Self.insn(O.jmp | O.jgt | O.k, 1, jt: 1, jf: 0), Self.ret(1),
            Self.insn(O.jmp | O.jset | O.k, 0x0000_0001, jt: 0, jf: 1), Self.ret(2),
            Self.insn(O.jmp | O.ja, 1), Self.ret(3),
            Self.insn(O.ldx | O.imm, 0x8000_0000), Self.insn(O.jmp | O.jeq | O.x, jt: 1, jf: 0), Self.ret(4),
            Self.insn(O.jmp | O.jge | O.k, 0x8000_0001, jt: 0, jf: 1), Self.ret(5), Self.ret(6),
        ]
        #expect(try Self.run(jumps, p) == 6)
    }

    /// Unreachable classic code is skipped (the eBPF verifier would refuse it), and the result still verifies.
    @Test func unreachableCodeIsDropped() throws {
        let code = [Self.insn(O.jmp | O.ja, 1), Self.insn(O.ld | O.b | O.abs, 70_000), Self.ret(5)]
        #expect(try Self.run(code, Self.packet(20)) == 5)
    }

    /// The translation of a libpcap program: starts from xdp_md's data/data_end, bounds-checks each load against
    /// data_end, and passes Sluice's verifier (as PacketFilter loads it).
    @Test func translationOfAnExpressionIsVerifiedDirectPacketAccess() throws {
        let filter = try PacketFilter(expression: "tcp port 80", engine: .interpreter)
        let text = Disassembler.text(of: filter.translated)
        #expect(text.first == "ldxw %r9, [%r1+0]")
        #expect(text.dropFirst().first == "ldxw %r6, [%r1+4]")
        let loads = text.filter { $0.hasPrefix("ldx") }.count - 2
        let checks = text.filter { $0.hasPrefix("jgt %r2, %r6") }.count
        #expect(loads == filter.classic.instructions.filter { $0.code & 0x07 <= 1 && $0.code & 0xe0 != 0 }.count)
        #expect(checks == loads, "one data_end check per packet load:\n\(text.joined(separator: "\n"))")
        _ = try Verifier().verify(ProgramSpec(name: "f", section: "xdp", instructions: filter.translated))
    }

    @Test func badExpressionsGetLibpcapsMessage() {
        #expect(throws: FilterError.self) { try PacketFilter(expression: "tcp port") }
        do {
            _ = try PacketFilter(expression: "host 1.2.3.4.5")
            Issue.record("accepted a bad host")
        } catch { #expect(error.description.contains("bad filter expression 'host 1.2.3.4.5'")) }
    }
}

/// Random valid classic programs, run by the translation and by libpcap's interpreter on random packets: the return
/// values must be equal. Seeded, so a failure names a reproducible program.
@Suite struct ClassicTranslatorDifferentialTests {
    typealias O = ClassicOpcode
    typealias SplitMix = SplitMix64


    /// A program of `length` instructions: M[0…3] stored first, then random loads, ALU operations, register moves
    /// and forward jumps, then a `ret`.
    static func randomProgram(_ r: inout SplitMix, length: Int) -> [ClassicInstruction] {
        var code: [ClassicInstruction] = []
        for k in 0..<4 {
            code.append(ClassicInstruction(code: O.ld | O.imm, k: UInt32(truncatingIfNeeded: r.next())))
            code.append(ClassicInstruction(code: O.st, k: UInt32(k)))
        }
        let aluOps = [O.add, O.sub, O.mul, O.div, O.or, O.and, O.lsh, O.rsh, O.mod, O.xor]
        while code.count < length - 1 {
            let remaining = length - 1 - code.count  // instructions after this one, before the final ret
            let k = UInt32(r.below(3) == 0 ? r.next() & 0xffff_ffff : UInt64(r.below(80)))
            switch r.below(9) {
            case 0:
                let size = [O.w, O.h, O.b][r.below(3)]
                code.append(ClassicInstruction(code: O.ld | size | O.abs, k: UInt32(r.below(90))))
            case 1:
                let size = [O.w, O.h, O.b][r.below(3)]
                code.append(ClassicInstruction(code: O.ld | size | O.ind, k: UInt32(r.below(70))))
            case 2: code.append(ClassicInstruction(code: O.ldx | O.b | O.msh, k: UInt32(r.below(70))))
            case 3:
                let mode = [O.len, O.imm, O.mem][r.below(3)]
                let cls = r.below(2) == 0 ? O.ld : O.ldx
                code.append(ClassicInstruction(code: cls | mode, k: mode == O.mem ? UInt32(r.below(4)) : k))
            case 4, 5:
                let op = aluOps[r.below(aluOps.count)]
                if r.below(3) == 0 && op != O.lsh && op != O.rsh {
                    code.append(ClassicInstruction(code: O.alu | op | O.x))
                } else {
                    var value = k
                    if op == O.div || op == O.mod { value = max(value, 1) }
                    if op == O.lsh || op == O.rsh { value %= 32 }
                    code.append(ClassicInstruction(code: O.alu | op | O.k, k: value))
                }
            case 6:
                code.append(ClassicInstruction(code: [O.misc | O.tax, O.misc | O.txa, O.alu | O.neg][r.below(3)]))
            case 7 where remaining > 1:
                let op = [O.jeq, O.jgt, O.jge, O.jset][r.below(4)]
                let source = r.below(3) == 0 ? O.x : O.k
                let jt = UInt8(r.below(min(remaining, 8)))
                let jf = UInt8(r.below(min(remaining, 8)))
                code.append(ClassicInstruction(code: O.jmp | op | source, jt: jt, jf: jf, k: k))
            case 8 where remaining > 2:
                if r.below(4) == 0 {
                    code.append(ClassicInstruction(code: O.jmp | O.ja, k: UInt32(r.below(min(remaining, 4)))))
                } else {
                    code.append(ClassicInstruction(code: O.ret | O.k, k: k))
                }
            default:
                code.append(ClassicInstruction(code: O.st, k: UInt32(r.below(4))))
            }
        }
        code.append(ClassicInstruction(code: r.below(2) == 0 ? O.ret | O.retA : O.ret | O.k, k: 7))
        return code
    }

    @Test(arguments: [1, 2, 3, 4])
    func randomProgramsReturnWhatLibpcapReturns(seed: UInt64) throws {
        var r = SplitMix(seed: seed &* 0x1234_5678_9abc_def1)
        var packets: [[UInt8]] = []
        for _ in 0..<24 { packets.append((0..<r.below(100)).map { _ in UInt8(truncatingIfNeeded: r.next()) }) }
        var differences = 0
        var outcomes: [UInt32: Int] = [:]
        for programIndex in 0..<60 {
            let code = Self.randomProgram(&r, length: 12 + r.below(30))
            let program = ClassicProgram(instructions: code)
            let filter = try PacketFilter(classic: program, engine: programIndex % 2 == 0 ? .interpreter : .auto)
            for packet in packets {
                let wire = packet.count + (r.below(4) == 0 ? r.below(1000) : 0)
                packet.withUnsafeBytes { bytes in
                    let ours = filter.returnValue(bytes, wireLength: wire)
                    let theirs = program.libpcapResult(bytes, wireLength: wire)
                    outcomes[ours, default: 0] += 1
                    if ours != theirs && differences < 5 {
                        differences += 1
                        let listing = program.listing.joined(separator: "\n")
                        let what = "seed \(seed) program \(programIndex) on \(packet.count) bytes (wire \(wire))"
                        Issue.record("\(what): \(ours) vs libpcap \(theirs)\n\(listing)")
                    }
                }
            }
        }
        // Not trivially all "no match" (out-of-bounds loads) or one constant: the programs compute varied values.
        #expect((outcomes[0] ?? 0) < 60 * 24 * 3 / 4, "\(outcomes.count) distinct results, \(outcomes[0] ?? 0) zero")
        #expect(outcomes.count > 30, "only \(outcomes.count) distinct return values")
    }
}
