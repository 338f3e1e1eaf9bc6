import Testing

@testable import BPFVM

/// Soundness: mutate safe programs at random; whenever the verifier accepts a mutant, run it in checked mode (every
/// access bounds-checked) over random packets. A fault means the verifier accepted an unsafe program — a verifier
/// bug. `scripts/fuzz-verifier.sh` runs this for longer: `SLUICE_FUZZ_MUTANTS` mutants (CI: 2000), or for
/// `SLUICE_FUZZ_SECONDS`.
@Suite("Verifier soundness fuzzing")
struct VerifierFuzzTests {
    /// Seeds: the accepted corpus plus parsers that walk headers near the packet's end.
    static var seeds: [String] {
        VerifierAcceptanceTests.cases.map(\.source) + [
            VerifierRejectionTests.packet + """

                mov %r4, %r2
                add %r4, 34
                jgt %r4, %r3, out
                ldxh %r5, [%r2+12]
                jne %r5, 8, out
                ldxb %r6, [%r2+14]
                and %r6, 15
                lsh %r6, 2
                mov %r7, %r2
                add %r7, 14
                add %r7, %r6
                mov %r8, %r7
                add %r8, 8
                jgt %r8, %r3, out
                ldxh %r0, [%r7+2]
                stb [%r7+7], 1
                and %r0, 3
                exit
                out:
                mov %r0, 1
                exit
                """,
            VerifierRejectionTests.packet + """

                mov %r6, 0
                mov %r0, 0
                l:
                mov %r4, %r2
                add %r4, %r6
                mov %r5, %r4
                add %r5, 2
                jgt %r5, %r3, done
                ldxh %r7, [%r4+0]
                add %r0, %r7
                add %r6, 2
                jlt %r6, 40, l
                done:
                and %r0, 3
                exit
                """,
            VerifierRejectionTests.packet + """

                mov %r4, %r3
                sub %r4, %r2
                jlt %r4, 20, out
                jgt %r4, 1500, out
                mov %r5, %r2
                add %r5, %r4
                add %r5, -4
                mov %r6, %r5
                add %r6, 4
                jgt %r6, %r3, out
                ldxw %r0, [%r5+0]
                and %r0, 3
                exit
                out:
                mov %r0, 2
                exit
                """,
        ]
    }

    static func mutate(_ program: [Instruction], _ rng: inout SplitMix) -> [Instruction] {
        var p = program
        let mutations = Int(rng.next() % 3) + 1
        for _ in 0..<mutations {
            let i = Int(rng.next() % UInt64(p.count))
            if p[i].opcode == 0x18 || (i > 0 && p[i - 1].opcode == 0x18) { continue }
            var insn = p[i]
            let small = Int(rng.next() % 9) - 4
            switch rng.next() % 9 {
            case 0: insn.offset = insn.offset &+ Int16(small)
            case 1: insn.imm = insn.imm &+ Int32(small)
            case 2:
                // Another condition or width for jumps, another operation for ALU.
                let cls = insn.opcode & 0x07
                if cls == 0x05 || cls == 0x06 {
                    let ops: [UInt8] = [0x10, 0x20, 0x30, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0, 0x40]
                    if insn.opcode & 0xf0 != 0x80 && insn.opcode & 0xf0 != 0x90 && insn.opcode & 0xf0 != 0x00 {
                        insn.opcode = ops[Int(rng.next() % UInt64(ops.count))] | (insn.opcode & 0x0f)
                        if rng.next() % 4 == 0 { insn.opcode ^= 0x03 }  // JMP <-> JMP32
                    }
                } else if cls == 0x04 || cls == 0x07 {
                    let ops: [UInt8] = [0x00, 0x10, 0x20, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0]
                    insn.opcode = ops[Int(rng.next() % UInt64(ops.count))] | (insn.opcode & 0x0f)
                }
            case 3: insn.dst = UInt8(rng.next() % 11)
            case 4: insn.src = UInt8(rng.next() % 11)
            case 5:
                // Another access size for loads and stores.
                let cls = insn.opcode & 0x07
                if cls >= 0x01 && cls <= 0x03 && insn.opcode & 0xe0 == 0x60 {
                    insn.opcode = (insn.opcode & ~0x18) | UInt8(rng.next() % 4) << 3
                }
            case 6: insn.imm = Int32(truncatingIfNeeded: Int64(rng.next() % 64) - 16)
            case 7: insn.offset = Int16(truncatingIfNeeded: Int64(rng.next() % 80) - 40)
            default:
                if insn.opcode & 0x07 == 0x04 || insn.opcode & 0x07 == 0x07 || insn.opcode & 0x07 == 0x05 {
                    insn.opcode ^= 0x08  // immediate <-> register source
                }
            }
            p[i] = insn
        }
        return p
    }

    struct Outcome {
        var programs = 0
        var accepted = 0
        var runs = 0
        var failures: [String] = []
    }

    /// Runs an accepted program in checked mode over random packets; returns a description of the first fault.
    static func runChecked(_ verified: VerifiedProgram, _ rng: inout SplitMix) -> (String?, Int) {
        let spec = verified.spec
        let report = verified.report
        // The maps and helpers of the verified program; the run below is checked all the same. (Loading it as an
        // unverified program would ask the loader's own context analysis, which cannot see that a back edge is
        // dead, e.g. after an array lookup with a constant key that cannot fail.)
        let loaded: LoadedProgram
        do { loaded = try LoadedProgram(verified: verified, options: .init(loadSiblings: false)) } catch {
            return ("accepted by the verifier but refused by the loader: \(error)", 0)
        }
        let maps = loaded.maps
        let context = TranslationContext(
            helper: { id in HelperTable.function(id: id) },
            kfunc: { name in HelperTable.kfuncFunction(named: name) },
            mapPointer: { maps.indices.contains($0) ? UInt64(UInt(bitPattern: maps[$0].core)) : nil },
            mapValueAddress: { maps.indices.contains($0) ? maps[$0].valueAddress(offset: $1) : nil },
            contextLoads: report.contextLoads)
        let executable: ExecutableProgram
        do {
            executable = try ExecutableProgram(instructions: spec.instructions, context: context, analyseContext: false)
        } catch { return ("accepted by the verifier but refused by the translator: \(error)", 0) }
        let machine = Machine()
        loaded.bind(to: machine)
        machine.environment.pointee.instructionBudget = 2_000_000
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 64)
        defer { buffer.deallocate() }
        var runs = 0
        for _ in 0..<12 {
            let length = rng.next() % 4 == 0 ? Int(rng.next() % 14) : Int(rng.next() % 1501)
            let meta = rng.next() % 3 == 0 ? 8 : 0
            for i in 0..<4096 {
                buffer.storeBytes(of: UInt8(truncatingIfNeeded: rng.next()), toByteOffset: i, as: UInt8.self)
            }
            // Make EtherType/IHL-driven paths likely.
            if length >= 15 && rng.next() % 2 == 0 {
                buffer.storeBytes(of: 8, toByteOffset: 256 + 12, as: UInt8.self)
                buffer.storeBytes(of: 0, toByteOffset: 256 + 13, as: UInt8.self)
            }
            let result = machine.runXDP(
                executable, buffer: buffer, dataOffset: 256, length: length, metaLength: meta, frameEnd: 4096 - 320)
            runs += 1
            if let fault = result.fault {
                if fault.isBudgetExceeded
                    && spec.instructions.contains(where: { $0.opcode == 0x85 && $0.imm == 181 })
                {
                    continue  // bpf_loop may legitimately run 2^23 iterations
                }
                return ("packet of \(length) bytes (meta \(meta)): \(fault)", runs)
            }
        }
        return (nil, runs)
    }

    static func fuzz(seconds: Double?, programs: Int, seed: UInt64) throws -> Outcome {
        var rng = SplitMix(seed: seed)
        let seeds = try Self.seeds.map { try Assembler.assemble($0) }
        var outcome = Outcome()
        let clock = ContinuousClock()
        let start = clock.now
        let verifier = Verifier(options: .init(instructionLimit: 100_000))
        while true {
            if let seconds {
                if clock.now - start > .milliseconds(Int64(seconds * 1000)) { break }
            } else if outcome.programs >= programs {
                break
            }
            let base = seeds[Int(rng.next() % UInt64(seeds.count))]
            let mutant = mutate(base, &rng)
            outcome.programs += 1
            let spec = ProgramSpec(name: "fuzz", instructions: mutant, maps: VerifierFixture.maps)
            guard let verified = try? verifier.verify(spec) else { continue }
            outcome.accepted += 1
            let (failure, runs) = runChecked(verified, &rng)
            outcome.runs += runs
            if let failure {
                outcome.failures.append(failure + "\n" + Disassembler.listing(of: mutant).joined(separator: "\n"))
                if outcome.failures.count >= 5 { break }
            }
        }
        return outcome
    }

    @Test("accepted mutants never fault in checked mode")
    func acceptedMutantsNeverFault() throws {
        let seconds = Environment.value("SLUICE_FUZZ_SECONDS").flatMap(Double.init)
        let seed = Environment.value("SLUICE_FUZZ_SEED").flatMap(UInt64.init) ?? 0x5eed_f022
        let mutants = Environment.value("SLUICE_FUZZ_MUTANTS").flatMap(Int.init) ?? 2000
        let clock = ContinuousClock()
        let start = clock.now
        let outcome = try Self.fuzz(seconds: seconds, programs: mutants, seed: seed)
        print(
            "verifier fuzz: \(outcome.programs) mutants, \(outcome.accepted) accepted, \(outcome.runs) checked runs, "
                + "\(outcome.failures.count) faults, seed \(seed), \(clock.now - start)")
        #expect(outcome.accepted >= outcome.programs / 20, "too few mutants accepted to say anything")
        for failure in outcome.failures { Issue.record("verifier accepted an unsafe program: \(failure)") }
    }

    /// Precision tracking only lets more paths prune; it must never let one through that a verifier comparing every
    /// scalar and stack slot refuses (other than for its budget).
    @Test("precision tracking changes no decision on mutants")
    func precisionTrackingChangesNoDecision() throws {
        var rng = SplitMix(seed: Environment.value("SLUICE_FUZZ_SEED").flatMap(UInt64.init) ?? 0x9ec1_5e)
        // Safe programs where two paths meet with different ranges (`VerifierRejectionTests.twoRanges`): a mutated
        // constant easily makes only the second path unsafe, which only precision tracking notices.
        let r = VerifierRejectionTests.self
        let joins = [
            r.twoRanges(before: r.valueOfCounters, after: "and %r6, 15\nadd %r0, %r6\nldxb %r0, [%r0+0]\nexit"),
            r.twoRanges(after: "jgt %r6, 300, bad\nmov %r0, 2\nexit\nbad:\nldxb %r0, [%r2+20]\nexit"),
            r.twoRanges(
                before: r.valueOfCounters, arms: "stxdw [%r10-16], %r6",
                after: "ldxdw %r5, [%r10-16]\nand %r5, 15\nadd %r0, %r5\nldxb %r0, [%r0+0]\nexit"),
        ]
        let seeds = try (Self.seeds + joins + joins + joins).map { try Assembler.assemble($0) }
        let kernelLike = Verifier(options: .init(instructionLimit: 100_000))
        var everyPointOptions = Verifier.Options(instructionLimit: 100_000)
        everyPointOptions.storeStateAtEveryPrunePoint = true
        let everyPoint = Verifier(options: everyPointOptions)
        var exactOptions = Verifier.Options(instructionLimit: 100_000)
        exactOptions.precisionTracking = false
        let exact = Verifier(options: exactOptions)
        var accepted = 0
        for _ in 0..<1500 {
            let mutant = Self.mutate(seeds[Int(rng.next() % UInt64(seeds.count))], &rng)
            let spec = ProgramSpec(name: "fuzz", instructions: mutant, maps: VerifierFixture.maps)
            // With states at every prune point (BPF_F_TEST_STATE_FREQ) pruning has the most chances to go wrong.
            let acceptedBy = [kernelLike, everyPoint].filter { (try? $0.verify(spec)) != nil }
            guard !acceptedBy.isEmpty else { continue }
            accepted += 1
            do { _ = try exact.verify(spec) } catch {
                if error.reason.contains("program too complex") { continue }
                let listing = Disassembler.listing(of: mutant).joined(separator: "\n")
                Issue.record("accepted with precision tracking, refused without: \(error.reason)\n\(listing)")
            }
        }
        #expect(accepted >= 75, "too few mutants accepted to say anything")
    }

    @Test("random words are verified or refused, never a crash")
    func randomWordsNeverCrash() {
        var rng = SplitMix(seed: 0xbad_c0de)
        var refused = 0
        for _ in 0..<3000 {
            var words = (0..<Int(rng.next() % 16 + 1)).map { _ in Instruction(raw: rng.next()) }
            // Bias towards valid opcodes so that the checks after decoding are reached too.
            for i in words.indices where rng.next() % 2 == 0 {
                let opcodes: [UInt8] = [0x07, 0xb7, 0x61, 0x71, 0x63, 0x7b, 0x15, 0x25, 0x2d, 0x85, 0x05, 0xbf, 0x0f]
                words[i].opcode = opcodes[Int(rng.next() % UInt64(opcodes.count))]
                words[i].dst = UInt8(rng.next() % 11)
                words[i].src = UInt8(rng.next() % 11)
                words[i].offset = Int16(truncatingIfNeeded: Int64(rng.next() % 32) - 16)
            }
            words.append(Instruction(opcode: 0x95))
            let spec = ProgramSpec(name: "random", instructions: words, maps: VerifierFixture.maps)
            if VerifierFixture.rejection(spec, limit: 20_000) != nil { refused += 1 }
        }
        #expect(refused > 2000)
    }
}
