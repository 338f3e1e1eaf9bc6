import BPFVM
import Foundation
import Sluice
import SluiceBench
import Testing

/// `sluice bench`'s library side: synthetic traffic, the offline benchmark's report. No timing assertions: figures
/// are checked for shape and consistency only.
@Suite struct BenchTests {
    @Test func syntheticIPv4FramesCarryValidHeaderChecksumsAndTheRequestedSize() {
        for kind in SyntheticTraffic.allCases {
            let frames = kind.frames(count: 200, size: 64)
            #expect(frames.count == 200)
            for frame in frames where frame[12] == 0x08 && frame[13] == 0x00 {
                #expect(frame.count == 64)
                var sum: UInt32 = 0
                for i in stride(from: 14, to: 34, by: 2) { sum += UInt32(frame[i]) << 8 | UInt32(frame[i + 1]) }
                while sum > 0xffff { sum = (sum & 0xffff) + (sum >> 16) }
                #expect(sum == 0xffff, "IPv4 header checksum of a \(kind) frame")
                #expect(Int(frame[16]) << 8 | Int(frame[17]) == frame.count - 14, "IPv4 total length")
            }
        }
    }

    @Test func syntheticTrafficIsDeterministicPerSeed() {
        #expect(SyntheticTraffic.mixed.frames(count: 50) == SyntheticTraffic.mixed.frames(count: 50))
        #expect(SyntheticTraffic.mixed.frames(count: 50, seed: 1) != SyntheticTraffic.mixed.frames(count: 50, seed: 2))
    }

    @Test func mixedTrafficHoldsUDPTCPIPv6AndARP() {
        let types = Set(SyntheticTraffic.mixed.frames(count: 2000).map { UInt16($0[12]) << 8 | UInt16($0[13]) })
        #expect(types == [0x0800, 0x86DD, 0x0806])
    }

    @Test func benchPacketsLeaveOutRuntFramesAndCutOversizedOnes() {
        let packets = BenchPackets(frames: [
            [UInt8](repeating: 0, count: 10), [UInt8](repeating: 1, count: 60),
            [UInt8](repeating: 2, count: 5000),
        ])
        #expect(packets.count == 2)
        #expect(packets.skippedShort == 1)
        #expect(packets.truncatedToLinear == 1)
        #expect(packets.frames[1].count == XDPFrameGeometry.maxLinearData)
    }

    @Test func offlineBenchmarkReportsEveryFigureForParseBench() throws {
        let object = try Repository.object("parse_bench")
        let opened = try ProgramSource.open(objectPath: object)
        let frames = SyntheticTraffic.udp.frames(count: 200)
        var options = OfflineBenchmark.Options()
        options.rounds = 2
        options.againstKernel = Repository.isRoot
        options.kernelRepeat = 10
        options.temporaryDirectory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: options.temporaryDirectory) }
        let report = try OfflineBenchmark(
            source: opened.source, spec: opened.spec, packets: BenchPackets(frames: frames), options: options
        ).run()

        #expect(report.packets == 200)
        #expect(report.verdicts.values.reduce(0, +) == 200)
        // parse_bench drops UDP to port 9 (10 % of the synthetic frames) and passes the rest.
        let discard = frames.filter { $0[36] == 0 && $0[37] == 9 }.count
        #expect(report.verdicts["drop"] == discard)
        #expect(report.verdicts["pass"] == 200 - discard)
        #expect(report.faults == 0)
        // ~95 instructions on the UDP path (programs/parse_bench.c); a broken counter gives 0 or nonsense.
        #expect(report.instructionsPerPacket > 50 && report.instructionsPerPacket < 200)
        #expect(report.nanosecondsPerPacket.min > 0)
        #expect(report.nanosecondsPerPacket.min <= report.nanosecondsPerPacket.median)
        #expect(report.latency.p50 <= report.latency.p99 && report.latency.p99 <= report.latency.p999)
        #expect((report.replayPacketsPerSecond?.median ?? 0) > 0)
        #expect((report.replayWithOutputsPacketsPerSecond?.median ?? 0) > 0)
        if Repository.isRoot {
            #expect((report.kernelNanosecondsPerPacket?.median ?? 0) > 0)
            #expect(report.ratioToKernel != nil)
            #expect(report.replayRatio != nil)
        } else {
            #expect(report.kernelNanosecondsPerPacket == nil)
        }
        // Temporary capture and replay outputs are gone.
        #expect(try FileManager.default.contentsOfDirectory(atPath: options.temporaryDirectory).isEmpty)
    }

    @Test func offlineBenchmarkRefusesAnEmptyPacketSet() throws {
        let opened = try ProgramSource.open(objectPath: try Repository.object("parse_bench"))
        let benchmark = OfflineBenchmark(
            source: opened.source, spec: opened.spec, packets: BenchPackets(frames: [[1, 2, 3]]), options: .init())
        #expect(throws: OfflineBenchmark.Error.self) { try benchmark.run() }
    }
}
