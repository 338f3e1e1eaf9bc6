import BPFObject
import BPFVM
import Foundation
import Testing

@testable import Sluice

/// Sluice's verifier does about the kernel's work, not exponentially more: on every example program and every XDP
/// program of the xdp-tools objects installed here, the instructions it processes and the states it stores are at
/// most 1.5 times the kernel verifier's figures for the same program (read from the kernel's log, `BPF_LOG_STATS`).
/// Figures far below the kernel's are reported, not failed (Sluice verifies `bpf_loop` callbacks once, the kernel
/// iterates them to a fixed point).
@Suite(.serialized) struct VerifierStatisticsParityTests {
    struct Subject: Sendable {
        var object: String
        var program: String
        var label: String
    }

    /// `programs/build/*.o` (runaway_loop excepted: it exists to run forever, its nested `bpf_loop` calls are the
    /// budget's test) and `/usr/lib/<multiarch>/bpf/*.o`, every XDP program of each.
    static func subjects() throws -> [Subject] {
        let fm = FileManager.default
        var objects: [String] = []
        let build = Repository.path("programs/build")
        let built = try fm.contentsOfDirectory(atPath: build).filter { $0.hasSuffix(".o") }.sorted()
        objects += built.filter { $0 != "runaway_loop.o" }.map { build + "/" + $0 }
        let system = "/usr/lib/" + BPFCompiler.multiarch + "/bpf"
        objects += ((try? fm.contentsOfDirectory(atPath: system)) ?? []).filter { $0.hasSuffix(".o") }.sorted().map {
            system + "/" + $0
        }
        var subjects: [Subject] = []
        for path in objects {
            let file = try BPFObjectFile(path: path)
            // The entry of a tail-call chain only (the kernel's figure is per program too).
            var seenSections: Set<String> = []
            for program in file.programs where program.isXDP {
                if path.hasPrefix(build) && !seenSections.insert(program.section).inserted { continue }
                let name = (path as NSString).lastPathComponent
                subjects.append(Subject(object: path, program: program.name, label: "\(name) \(program.name)"))
            }
        }
        return subjects
    }

    @Test func theKernelsSummaryLineIsParsed() throws {
        let log = """
            verification time 9443 usec
            stack depth 8
            processed 6600 insns (limit 1000000) max_states_per_insn 30 total_states 292 peak_states 111 mark_read 0
            """
        let figures = try #require(KernelVerifierStatistics(log: log))
        #expect(figures.instructionsProcessed == 6600)
        #expect(figures.maxStatesPerInstruction == 30)
        #expect(figures.totalStates == 292)
        #expect(figures.peakStates == 111)
        #expect(KernelVerifierStatistics(log: "stack depth 8\n") == nil)
        #expect(KernelVerifierStatistics(log: "processed many insns (limit 1000000)") == nil)
    }

    @Test func everyExampleAndSystemObjectIsASubject() throws {
        let subjects = try Self.subjects()
        #expect(subjects.contains { $0.program == "alu_switch_loop" })
        #expect(subjects.contains { $0.program == "xdpfilt_alw_all" }, "xdp-tools objects (scripts/setup.sh)")
        #expect(subjects.count >= 30)
    }

    /// The v3 ALU program with a `switch` in a loop: each round has eight paths, so without precision tracking the
    /// states never match and the verifier runs out of its 1M-instruction budget.
    @Test func aluSwitchLoopVerifies() throws {
        let (_, _, spec) = try ProgramSource.open(objectPath: try Repository.object("alu_switch_loop"))
        let report = try Verifier().verify(spec).report
        #expect(report.instructionsProcessed < 20_000)
        #expect(report.statesStored > 0)
    }

    @Test(.enabled(if: Repository.isRoot, "the kernel's figures need root (it loads each program through libbpf)"))
    func processedInstructionsAndStatesWithinHalfAgainTheKernels() throws {
        struct Row {
            var label: String
            var kernel: KernelVerifierStatistics
            var sluice: VerificationReport
        }
        var rows: [Row] = []
        for subject in try Self.subjects() {
            let (_, _, spec) = try ProgramSource.open(objectPath: subject.object, program: subject.program)
            let sluice = try Verifier().verify(spec).report
            let kernel = try KernelRunner.verifierStatistics(
                objectPath: subject.object, program: .function(subject.program))
            rows.append(Row(label: subject.label, kernel: kernel, sluice: sluice))
        }
        func ratio(_ a: Int, _ b: Int) -> Double { b == 0 ? (a == 0 ? 1 : .infinity) : Double(a) / Double(b) }
        func cell(_ r: Double) -> String { r.isFinite ? String(format: "%.2f", r) : "inf" }
        var table = [
            "program | kernel insns | kernel states | Sluice insns | Sluice states | insns ratio | states ratio"
        ]
        var far: [String] = []
        for row in rows {
            let insns = ratio(row.sluice.instructionsProcessed, row.kernel.instructionsProcessed)
            let states = ratio(row.sluice.statesStored, row.kernel.totalStates)
            table.append(
                "\(row.label) | \(row.kernel.instructionsProcessed) | \(row.kernel.totalStates) | "
                    + "\(row.sluice.instructionsProcessed) | \(row.sluice.statesStored) | \(cell(insns)) | \(cell(states))"
            )
            // Most programs now match the kernel exactly (the same prune points, liveness, list order and spill
            // rules); 1.5 leaves room for the few that do not (encap, xdp-filter's eth programs: 1.2–1.4).
            #expect(
                insns <= 1.5,
                "\(row.label): \(row.sluice.instructionsProcessed) instructions processed, kernel \(row.kernel.instructionsProcessed)"
            )
            // A state or two over a kernel figure of a handful is no trend: the bound applies from 4 states on.
            #expect(
                states <= 1.5 || row.sluice.statesStored <= 4,
                "\(row.label): \(row.sluice.statesStored) states stored, kernel \(row.kernel.totalStates)")
            if insns < 0.5 || (states < 0.5 && row.kernel.totalStates > 4) { far.append(row.label) }
        }
        print(table.joined(separator: "\n"))
        if !far.isEmpty {
            print("far below the kernel's figures (reported, not failed): " + far.joined(separator: ", "))
        }
        #expect(rows.count >= 30)
    }

    @Test(.enabled(if: Repository.isRoot, "loading into the kernel needs root"))
    func theKernelVerifiesAluSwitchLoop() throws {
        let path = try Repository.object("alu_switch_loop")
        let kernel = try KernelRunner.verifierStatistics(objectPath: path, program: .function("alu_switch_loop"))
        #expect(kernel.instructionsProcessed > 0 && kernel.instructionsProcessed < 1_000_000)
    }
}
