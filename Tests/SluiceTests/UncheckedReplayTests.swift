import BPFVM
import Foundation
import Sluice
import Testing

/// Unchecked runs (direct-threaded code, superinstructions, `switch` fallback) must give what checked runs give, for
/// every replayed program and packet. Replay itself runs checked until the verifier lands, so this is what covers the
/// fast path on real clang output (tail calls, atomics, helpers, context loads) meanwhile.
@Suite struct UncheckedReplayTests {
    @Test(arguments: Repository.replayedPrograms)
    func uncheckedRunsMatchCheckedRuns(program name: String) throws {
        let mapsPath = Repository.path("pcaps/\(name).maps.json")
        let maps =
            FileManager.default.fileExists(atPath: mapsPath)
            ? try Array(Data(contentsOf: URL(fileURLWithPath: mapsPath))) : nil
        let (source, _, spec) = try ProgramSource.open(objectPath: try Repository.object(name), mapsJSON: maps)
        // Two independent copies (own maps), fed the same packets in the same order.
        let checkedProgram = try LoadedProgram(spec)
        let uncheckedProgram = try LoadedProgram(verified: try Verifier().verifyWithSiblings(spec))
        try source.state.apply(to: checkedProgram)
        try source.state.apply(to: uncheckedProgram)
        let checked = ProgramRunner(program: checkedProgram, execution: .checked)
        let unchecked = ProgramRunner(program: uncheckedProgram)
        #expect(checked.checked && !unchecked.checked)

        let bufferSize = 4096
        let a = UnsafeMutableRawPointer.allocate(byteCount: bufferSize, alignment: 64)
        let b = UnsafeMutableRawPointer.allocate(byteCount: bufferSize, alignment: 64)
        defer {
            a.deallocate()
            b.deallocate()
        }
        var reader = try PcapReader(path: Repository.path("pcaps/\(name).pcap"))
        var packets = 0
        while let record = try reader.next() {
            let length = min(record.capturedLength, bufferSize - Frame.kernelHeadroom - 512)
            for buffer in [a, b] {
                buffer.initializeMemory(as: UInt8.self, repeating: 0, count: bufferSize)
                (buffer + Frame.kernelHeadroom).copyMemory(from: record.bytes.baseAddress!, byteCount: length)
            }
            var frameA = Frame(
                buffer: a, bufferSize: bufferSize, dataOffset: Frame.kernelHeadroom, length: length,
                timestampNanos: record.timestampNanos)
            var frameB = Frame(
                buffer: b, bufferSize: bufferSize, dataOffset: Frame.kernelHeadroom, length: length,
                timestampNanos: record.timestampNanos)
            let expected = checked.run(&frameA, frameEnd: bufferSize - 320)
            let got = unchecked.run(&frameB, frameEnd: bufferSize - 320)
            try #require(expected.fault == nil, "\(name) packet \(record.index): checked run faulted: \(expected.fault!)")
            #expect(got.fault == nil)
            #expect(got.returnValue == expected.returnValue, "\(name) packet \(record.index)")
            #expect(got.redirectKind == expected.redirectKind && got.redirectValue == expected.redirectValue)
            #expect(frameB.dataOffset == frameA.dataOffset && frameB.length == frameA.length)
            #expect(memcmp(a, b, bufferSize) == 0, "\(name) packet \(record.index): frame bytes differ")
            packets += 1
        }
        #expect(packets > 0)
        // The maps end up the same too (counters, flow tables, …).
        // PROG_ARRAY slots hold each copy's own code addresses, and ring buffer storage differs between two checked
        // copies as well; every other map must match byte for byte.
        for (mapA, mapB) in zip(checkedProgram.maps, uncheckedProgram.maps)
        where mapA.spec.type != .progArray && mapA.spec.type != .ringbuf {
            let size = mapA.core.pointee.storageSize
            #expect(size == mapB.core.pointee.storageSize)
            #expect(memcmp(mapA.core.pointee.storage, mapB.core.pointee.storage, size) == 0, "map \(mapA.spec.name)")
        }
    }
}
