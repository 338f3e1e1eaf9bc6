import BPFVM
import Foundation
import Testing

@testable import Sluice

/// Observed runs (trace, coverage) do what the checked counting interpreter does: same instruction count, same final
/// registers, same verdict; coverage reports the branches a capture never takes as untaken, in a file genhtml reads.
@Suite struct ExecutionTraceTests {
    static func runner(_ name: String) throws -> ProgramRunner {
        let mapsPath = Repository.path("pcaps/\(name).maps.json")
        let maps =
            FileManager.default.fileExists(atPath: mapsPath)
            ? try Array(Data(contentsOf: URL(fileURLWithPath: mapsPath))) : nil
        let (source, _, spec) = try ProgramSource.open(objectPath: try Repository.object(name), mapsJSON: maps)
        let loaded = try ProgramLoader.load(spec, possibleCPUs: 1, verify: true)
        try source.state.apply(to: loaded.program)
        return ProgramRunner(program: loaded.program, execution: .checked)
    }

    @Test(arguments: Repository.replayedPrograms)
    func traceMatchesTheCountingInterpreter(program: String) throws {
        let observed = try Self.runner(program)
        let counted = try Self.runner(program)
        let recorder = ExecutionRecorder(program: observed.program, contextPointer: observed.contextPointer)
        recorder.recordsSteps = true
        var reader = try PcapReader(path: Repository.path("pcaps/\(program).pcap"))
        let size = XDPFrameGeometry.frameSize
        let end = size - XDPFrameGeometry.tailroom
        let a = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        let b = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        defer {
            a.deallocate()
            b.deallocate()
        }
        var compared = 0
        while compared < 40, let record = try reader.next() {
            guard record.bytes.count >= 14 else { continue }
            let length = min(record.bytes.count, XDPFrameGeometry.maxLinearData)
            for buffer in [a, b] {
                buffer.initializeMemory(as: UInt8.self, repeating: 0, count: XDPFrameGeometry.headroom)
                buffer.advanced(by: XDPFrameGeometry.headroom).copyMemory(
                    from: record.bytes.baseAddress!, byteCount: length)
            }
            var frameA = Frame(
                buffer: a, bufferSize: end, dataOffset: XDPFrameGeometry.headroom, length: length,
                timestampNanos: record.timestampNanos, ingressIfindex: 1)
            var frameB = Frame(
                buffer: b, bufferSize: end, dataOffset: XDPFrameGeometry.headroom, length: length,
                timestampNanos: record.timestampNanos, ingressIfindex: 1)
            recorder.begin()
            let traced = observed.runObserved(&frameA, frameEnd: end, observer: recorder.observer)
            recorder.end(registers: observed.finalRegisters, faulted: traced.fault != nil)
            let reference = counted.runCountingChecked(&frameB, frameEnd: end)
            #expect(traced.fault == nil && reference.fault == nil)
            #expect(traced.instructionCount == reference.instructionCount, "packet \(record.index)")
            #expect(UInt64(recorder.steps.count) == reference.instructionCount, "packet \(record.index)")
            #expect(traced.returnValue == reference.returnValue, "packet \(record.index)")
            // r0..r10. The two runners have their own maps, stacks and frame buffers, so a pointer is compared by
            // what it points into: frame pointers by offset, other addresses (maps, stack, context) as "an address";
            // every scalar exactly.
            func normalized(_ registers: [UInt64], _ buffer: UnsafeMutableRawPointer) -> [UInt64] {
                let base = UInt64(UInt(bitPattern: buffer))
                return registers.map { v in
                    v >= base && v <= base + UInt64(size) ? v - base : (v >= 1 << 44 ? UInt64.max : v)
                }
            }
            #expect(
                normalized(observed.finalRegisters, a) == normalized(counted.finalRegisters, b),
                "packet \(record.index)")
            #expect(traced.length == reference.length && traced.dataOffset == reference.dataOffset)
            compared += 1
        }
        #expect(compared > 0)
    }

    @Test func coverageShowsTheUntakenBoundsCheckAndGenhtmlAcceptsIt() throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (source, _, spec) = try ProgramSource.open(objectPath: try Repository.object("firewall"),
            mapsJSON: try Array(Data(contentsOf: URL(fileURLWithPath: Repository.path("pcaps/firewall.maps.json")))))
        var options = Replay.Options()
        options.coveragePath = directory + "/firewall.info"
        _ = try Replay.run(source: source, spec: spec, capture: Repository.path("pcaps/firewall.pcap"), options: options)
        let info = try String(contentsOfFile: directory + "/firewall.info", encoding: .utf8)
        let lines = info.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("SF:") && $0.hasSuffix("programs/firewall.c") })
        #expect(lines.contains("FNDA:\(lines.filter { $0.hasPrefix("FNDA:") }.first!.dropFirst(5).split(separator: ",")[0]),xdp_firewall"))
        // `if ((void *)(eth + 1) > data_end)` (firewall.c:157): frames shorter than an Ethernet header are refused
        // before the program runs, so the jump is never taken and always falls through.
        let bounds = lines.filter { $0.hasPrefix("BRDA:157,") }
        #expect(bounds.count == 2)
        #expect(bounds.first { $0.contains(",0,") }.map { $0.hasSuffix(",0") } == true, "\(bounds)")
        #expect(bounds.first { $0.contains(",1,") }.map { !$0.hasSuffix(",0") && !$0.hasSuffix(",-") } == true)
        #expect(lines.contains { $0.hasPrefix("DA:157,") && !$0.hasSuffix(",0") })
        guard access("/usr/bin/genhtml", X_OK) == 0 else {
            Issue.record("genhtml is missing: install Debian's lcov (scripts/setup.sh does)")
            return
        }
        try CoverageReport.genhtml(tracefile: directory + "/firewall.info", outputDirectory: directory + "/html")
        #expect(FileManager.default.fileExists(atPath: directory + "/html/index.html"))
    }

    @Test func printkLinesAreFormattedAsTracePipe() {
        let line = TracePipeFormat.line(
            task: "packet", pid: 13, cpu: 0, timestampNanos: 1_700_000_000_123_456_789, message: "n=3")
        #expect(line == "          packet-13      [000] ..... 1700000000.123456: bpf_trace_printk: n=3")
        #expect(TracePipeFormat.message(ofLine: line) == "n=3")
    }
}
