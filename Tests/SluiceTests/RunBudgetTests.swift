import BPFNative
import BPFVM
import Foundation
import Sluice
import Testing

/// Verified means terminating, not quick: programs/runaway_loop.c nests two bpf_loop calls at the kernel's limit
/// (2^46 callback runs per packet), which the kernel's verifier and Sluice's accept. Every packet must end as
/// XDP_ABORTED at the instruction budget, with a note naming it, and the replay must go on to the next packet.
@Suite struct RunBudgetTests {
    /// A capture of `count` 60-byte frames (Ethernet-sized; the program does not look at them).
    static func capture(frames count: Int) throws -> String {
        var bytes: [UInt8] = []
        func le32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        func le16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        le32(0xa1b2_c3d4); le16(2); le16(4); le32(0); le32(0); le32(65535); le32(1)
        for i in 0..<count {
            le32(UInt32(i)); le32(0); le32(60); le32(60)
            bytes += (0..<60).map { UInt8(truncatingIfNeeded: $0 &+ i) }
        }
        // Unique per call: the parameterised tests run in parallel and each removes its own capture.
        let path = NSTemporaryDirectory() + "budget-runaway-\(getpid())-\(count)-\(UUID().uuidString).pcap"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func replay(
        frames: Int, verify: Bool, budget: UInt64, engine: EngineChoice? = nil
    ) throws -> (Replay.Summary, [String], Duration) {
        let (source, _, spec) = try ProgramSource.open(objectPath: try Repository.object("runaway_loop"))
        let capture = try capture(frames: frames)
        let results = capture + ".jsonl"
        defer {
            unlink(capture)
            unlink(results)
        }
        var options = Replay.Options()
        options.resultsPath = results
        let start = ContinuousClock.now
        let summary = try Replay.run(
            source: source, spec: spec, capture: capture, options: options, verify: verify, budget: budget,
            engine: engine)
        let elapsed = ContinuousClock.now - start
        let lines = try String(contentsOfFile: results, encoding: .utf8).split(separator: "\n").map(String.init)
        return (summary, lines, elapsed)
    }

    /// One aborted packet per frame, each with the budget's note, and quickly.
    static func expectEveryPacketAborted(
        _ summary: Replay.Summary, _ lines: [String], frames: Int, budget: UInt64, elapsed: Duration
    ) {
        #expect(summary.packets == frames)
        #expect(summary.counts[.aborted] == frames)
        #expect(summary.budgetExceeded == frames)
        let packetLines = lines.filter { $0.hasPrefix("{\"i\":") }
        #expect(packetLines.count == frames)
        for line in packetLines {
            #expect(line.contains("\"verdict\":\"aborted\""), "\(line)")
            #expect(line.contains("instruction budget of \(budget) exceeded"), "\(line)")
        }
        #expect(elapsed < .seconds(60), "\(frames) runaway packets took \(elapsed)")
    }

    @Test("nested bpf_loop at 1<<23 each: one aborted packet per frame, with the budget's note, quickly",
        arguments: [true, false])
    func runawayReplayEndsAtTheBudget(verified: Bool) throws {
        let (summary, lines, elapsed) = try Self.replay(frames: 4, verify: verified, budget: 1_000_000)
        #expect(summary.budget == 1_000_000)
        Self.expectEveryPacketAborted(summary, lines, frames: 4, budget: 1_000_000, elapsed: elapsed)
    }

    /// Native code charges the budget at the same places as the interpreter (taken back edges, bpf_loop passes), so
    /// the default engine (auto: native where LLVM is) ends the runaway too, on the same packets, with the same note.
    @Test("every engine ends the runaway at the budget", arguments: [EngineChoice.auto, .native, .interpreter])
    func everyEngineEndsTheRunaway(engine: EngineChoice) throws {
        if engine == .native {
            try #require(NativeCompiler.isAvailable, "LLVM 19 is required: \(NativeCompiler.unavailableReason ?? "")")
        }
        let (summary, lines, elapsed) = try Self.replay(frames: 3, verify: true, budget: 5_000_000, engine: engine)
        Self.expectEveryPacketAborted(summary, lines, frames: 3, budget: 5_000_000, elapsed: elapsed)
    }

    @Test("the default budget stops the runaway too")
    func defaultBudgetStopsTheRunaway() throws {
        let (summary, lines, _) = try Self.replay(frames: 1, verify: true, budget: RunBudget.defaultInstructions)
        #expect(summary.budgetExceeded == 1)
        #expect(lines.first?.contains("instruction budget of \(RunBudget.defaultInstructions) exceeded") == true)
    }

    @Test("loop_sum, the example that loops most, runs unchanged under a budget of 200 000")
    func examplesStayFarBelowTheDefault() throws {
        // loop_sum (bpf_loop over the payload) is the example that loops most; it must not come near the default.
        let (source, _, spec) = try ProgramSource.open(
            objectPath: try Repository.object("loop_sum"),
            mapsJSON: nil)
        let capture = Repository.path("pcaps/loop_sum.pcap")
        let small = try Replay.run(
            source: source, spec: spec, capture: capture, options: Replay.Options(), budget: 200_000)
        let byDefault = try Replay.run(source: source, spec: spec, capture: capture, options: Replay.Options())
        #expect(small.budgetExceeded == 0 && byDefault.budgetExceeded == 0)
        #expect(small.counts == byDefault.counts)
    }

    @Test(
        "the kernel's verifier accepts the runaway program too",
        .enabled(if: KernelPrivileges.sufficient, "loading into the kernel needs CAP_BPF and CAP_NET_ADMIN (run as root)"))
    func kernelAcceptsTheRunaway() throws {
        let (source, _, _) = try ProgramSource.open(objectPath: try Repository.object("runaway_loop"))
        let runner = try source.kernelRunner()
        runner.close()
    }
}
