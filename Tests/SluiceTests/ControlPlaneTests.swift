import BPFVM
import Foundation
import Synchronization
import Testing

@testable import Sluice

/// The control plane without a network: the reload protocol between a control thread and workers, map reuse by
/// definition, and the byte syntax of `sluice ctl map`.
struct ControlPlaneTests {
    /// A worker thread that runs the processor on one UDP frame per call, `betweenBatches` after every `batch`
    /// frames, until told to stop, as the AF_XDP worker loop does.
    final class SimulatedWorker: @unchecked Sendable {
        var processor: ReloadableProcessor
        let batch: Int
        let stop = Atomic<Bool>(false)
        let finished = Atomic<Bool>(false)
        let framesRun = Atomic<UInt64>(0)
        let udpFrame: [UInt8]

        init(processor: ReloadableProcessor, batch: Int) {
            self.processor = processor
            self.batch = batch
            // Ethernet + IPv4 (protocol 17) + UDP: counters.o counts it in proto_stats[17].
            var frame = [UInt8](repeating: 0, count: 60)
            frame[12] = 0x08
            frame[14] = 0x45
            frame[23] = 17
            udpFrame = frame
        }

        func run() {
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 64)
            defer { buffer.deallocate() }
            var local = processor
            var count: UInt64 = 0
            while !stop.load(ordering: .relaxed) {
                for _ in 0..<batch {
                    udpFrame.withUnsafeBytes { (buffer + 256).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                    var frame = Frame(
                        buffer: buffer, bufferSize: 4096, dataOffset: 256, length: udpFrame.count, timestampNanos: 0,
                        ingressIfindex: 1, rxQueueIndex: 0)
                    _ = local.process(&frame)
                    count += 1
                }
                framesRun.store(count, ordering: .relaxed)
                local.betweenBatches()
            }
            processor = local
            finished.store(true, ordering: .releasing)
        }
    }

    /// The example program `name` as a live program on the interpreter, as `sluice run` makes it.
    private func liveProgram(_ name: String, switchTimeoutNanos: UInt64 = 5_000_000_000) throws -> LiveProgram {
        let path = try Repository.object(name)
        let (_, _, spec) = try ProgramSource.open(objectPath: path)
        return LiveProgram(
            loaded: try ProgramLoader.load(spec, possibleCPUs: 1, engine: .interpreter), objectPath: path,
            budget: RunBudget.defaultInstructions, engineChoice: .interpreter, switchTimeoutNanos: switchTimeoutNanos)
    }

    @Test func everyFrameIsRunByExactlyOneGenerationAcrossTenReloads() throws {
        let path = try Repository.object("counters")
        let live = try liveProgram("counters")
        let workers = (0..<2).map { SimulatedWorker(processor: live.processor(worker: $0), batch: 16) }
        live.workerFinished = { workers[$0].finished.load(ordering: .acquiring) }
        let threads = workers.map { worker in Thread { worker.run() } }
        for thread in threads { thread.start() }
        var reports: [LiveProgram.ReloadReport] = []
        for _ in 0..<10 {
            usleep(20_000)
            reports.append(try live.reload(LiveProgram.ReloadRequest(objectPath: path)))
        }
        usleep(20_000)
        for worker in workers { worker.stop.store(true, ordering: .relaxed) }
        while !workers.allSatisfy({ $0.finished.load(ordering: .acquiring) }) { usleep(1000) }

        let run = workers.reduce(UInt64(0)) { $0 + $1.framesRun.load(ordering: .relaxed) }
        let generations = live.generations()
        #expect(generations.count == 11)
        #expect(live.reloads == 10)
        #expect(generations.map(\.processed).reduce(0, +) == run, "\(generations)")
        #expect(generations.filter(\.active).count == 1)
        // The workers ran through the reloads: every generation saw frames.
        #expect(generations.allSatisfy { $0.processed > 0 }, "\(generations)")
        for report in reports {
            #expect(report.keptMaps == ["proto_stats", "source_stats", "totals", "frames"])
            #expect(report.newMaps.isEmpty)
        }
        // The kept counter counted every frame, whichever generation ran it.
        let proto = try #require(live.program.map(named: "proto_stats"))
        let udp = try #require(proto.lookup(key: [17, 0, 0, 0]))
        #expect(udp.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } == run)
    }

    @Test func freshMapsStartFromZeroAndIncompatibleMapsAreNew() throws {
        let counters = try Repository.object("counters")
        let live = try liveProgram("counters")
        _ = live.processor(worker: 0)
        live.workerFinished = { _ in true }
        try live.program.map(named: "totals")!.update(key: [0, 0, 0, 0], value: [9, 0, 0, 0, 0, 0, 0, 0])
        let fresh = try live.reload(LiveProgram.ReloadRequest(objectPath: counters, keepMaps: false))
        #expect(fresh.keptMaps.isEmpty)
        #expect(live.program.map(named: "totals")!.lookup(key: [0, 0, 0, 0]) == [0, 0, 0, 0, 0, 0, 0, 0])
        let firewall = try live.reload(LiveProgram.ReloadRequest(objectPath: try Repository.object("firewall")))
        #expect(firewall.keptMaps.isEmpty)
        #expect(Set(firewall.newMaps) == ["blocked_ports", "verdicts", "parse_stats"])
    }

    @Test func aRefusedReloadLeavesTheRunningProgram() throws {
        let live = try liveProgram("counters")
        _ = live.processor(worker: 0)
        let missing = "/nonexistent-\(UUID().uuidString).o"
        #expect(throws: LiveProgram.ReloadError.self) {
            try live.reload(LiveProgram.ReloadRequest(objectPath: missing))
        }
        #expect(live.generation == 1)
        #expect(live.reloads == 0)
        #expect(live.programName == "xdp_counters")
    }

    @Test func mapReuseNeedsTheSameDefinition() throws {
        let spec = MapSpec(name: "m", type: .hash, keySize: 4, valueSize: 8, maxEntries: 16)
        let map = try BPFMap(spec: spec)
        #expect(map.canBeReused(for: spec, possibleCPUs: 1))
        var other = spec
        other.maxEntries = 32
        #expect(!map.canBeReused(for: other, possibleCPUs: 1))
        other = spec
        other.type = .lruHash
        #expect(!map.canBeReused(for: other, possibleCPUs: 1))
        other = spec
        other.flags = 1
        #expect(!map.canBeReused(for: other, possibleCPUs: 1))
        let data = try BPFMap(
            spec: MapSpec(name: ".data", type: .array, keySize: 4, valueSize: 8, maxEntries: 1))
        #expect(!data.canBeReused(for: data.spec, possibleCPUs: 1))
    }

    @Test func mapBytesTakeBpftoolsForms() throws {
        #expect(try MapBytes.parse(["hex", "01", "02"], what: "key") == [1, 2])
        #expect(try MapBytes.parse(["hex", "0102", "ff"], what: "key") == [1, 2, 255])
        #expect(try MapBytes.parse(["0x0102"], what: "key") == [1, 2])
        #expect(try MapBytes.parse(["1", "2", "255"], what: "key") == [1, 2, 255])
        #expect(throws: MapBytes.Error.self) { try MapBytes.parse(["0x012"], what: "key") }
        #expect(throws: MapBytes.Error.self) { try MapBytes.parse(["hex"], what: "key") }
        #expect(throws: MapBytes.Error.self) { try MapBytes.parse(["256"], what: "key") }
        #expect(throws: MapBytes.Error.self) { try MapBytes.parse(["hex", "zz"], what: "key") }
        #expect(MapBytes.format([0, 1, 0xab]) == "00 01 ab")
        #expect(MapBytes.jsonArray([0x0a]) == ["0x0a"])
    }

    @Test func theOldProgramIsFreedOnlyAfterEveryWorkerLeftIt() throws {
        let path = try Repository.object("counters")
        let live = try liveProgram("counters", switchTimeoutNanos: 200_000_000)
        let running = SimulatedWorker(processor: live.processor(worker: 0), batch: 4)
        // Worker 1 never reaches a batch boundary: it stands for a worker stuck inside a round.
        var stalled = live.processor(worker: 1)
        live.workerFinished = { $0 == 0 ? running.finished.load(ordering: .acquiring) : false }
        weak var first = live.program
        let thread = Thread { running.run() }
        thread.start()
        defer {
            running.stop.store(true, ordering: .relaxed)
            while !running.finished.load(ordering: .acquiring) { usleep(1000) }
        }

        #expect(throws: LiveProgram.ReloadError.self) { try live.reload(LiveProgram.ReloadRequest(objectPath: path)) }
        #expect(first != nil, "a worker may still run the first program: it must stay alive")

        // The stalled worker switches at its next boundary, late but to the published program.
        stalled.betweenBatches()
        #expect(stalled.generation == 2)
        #expect(live.generation == 2)
    }

    @Test func aRetiredProgramIsFreedOnceAllWorkersAcknowledged() throws {
        let path = try Repository.object("counters")
        let live = try liveProgram("counters")
        let workers = (0..<2).map { SimulatedWorker(processor: live.processor(worker: $0), batch: 4) }
        live.workerFinished = { workers[$0].finished.load(ordering: .acquiring) }
        weak var first = live.program
        for worker in workers { Thread { worker.run() }.start() }
        defer {
            for worker in workers { worker.stop.store(true, ordering: .relaxed) }
            while !workers.allSatisfy({ $0.finished.load(ordering: .acquiring) }) { usleep(1000) }
        }
        #expect(first != nil)
        _ = try live.reload(LiveProgram.ReloadRequest(objectPath: path, keepMaps: false))
        #expect(first == nil, "every worker moved on: nothing holds the first program any more")
    }

    @Test func tailCallProgramsGetAFreshProgArrayAndKeepTheirCounters() throws {
        let path = try Repository.object("tail_chain")
        let live = try liveProgram("tail_chain")
        let worker = SimulatedWorker(processor: live.processor(worker: 0), batch: 8)
        live.workerFinished = { _ in worker.finished.load(ordering: .acquiring) }
        let thread = Thread { worker.run() }
        thread.start()
        var reports: [LiveProgram.ReloadReport] = []
        for _ in 0..<5 {
            usleep(10_000)
            reports.append(try live.reload(LiveProgram.ReloadRequest(objectPath: path)))
        }
        usleep(10_000)
        worker.stop.store(true, ordering: .relaxed)
        while !worker.finished.load(ordering: .acquiring) { usleep(1000) }
        for report in reports {
            // The slots of a PROG_ARRAY point at the old program's code: never carried over.
            #expect(report.newMaps == ["chain"])
            #expect(report.keptMaps == ["chain_stats"])
        }
        let run = worker.framesRun.load(ordering: .relaxed)
        #expect(live.generations().map(\.processed).reduce(0, +) == run)
    }
}
