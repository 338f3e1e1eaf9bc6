import Foundation
import Testing

@testable import Sluice

/// The records the writer tests write: odd lengths, a timestamp past 2038, a wire length above the captured one.
private typealias Sample = (bytes: [UInt8], timestampNanos: UInt64, originalLength: Int?)

private let samples: [Sample] = [
    (sampleFrame(length: 60, seed: 1), 1_700_000_000_000_000_001, nil),
    (sampleFrame(length: 61, seed: 2), 1_700_000_000_999_999_999, 1_514),
    (sampleFrame(length: 1_514, seed: 3), 3_000_000_000_123_456_789, nil),
]

private func writeSamples(to path: String, _ samples: [Sample] = samples) throws {
    var writer = try PcapWriter(path: path)
    for sample in samples {
        try sample.bytes.withUnsafeBytes {
            try writer.write($0, timestampNanos: sample.timestampNanos, originalLength: sample.originalLength)
        }
    }
    #expect(writer.recordCount == samples.count)
    try writer.close()
}

private let tcpdumpPath = ["/usr/bin/tcpdump", "/usr/sbin/tcpdump"].first(where: FileManager.default.isExecutableFile)

@Suite struct PcapWriterTests {
    @Test func libpcapReadsBackBytesTimestampsAndLengths() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/out.pcap"
        try writeSamples(to: path)

        let reader = try PcapReader(path: path)
        #expect(reader.format == .pcap)
        #expect(reader.snapshotLength == 262_144)
        #expect(
            try readAll(path)
                == samples.enumerated().map { index, sample in
                    ReadRecord(
                        index: index, timestampNanos: sample.timestampNanos, bytes: sample.bytes,
                        originalLength: sample.originalLength ?? sample.bytes.count)
                })
    }

    @Test func outputIsByteIdenticalAndLaidOutAsSpecified() throws {
        let directory = try TemporaryDirectory()
        try writeSamples(to: directory.path + "/a.pcap")
        try writeSamples(to: directory.path + "/b.pcap")
        let bytes = try directory.contents("a.pcap")
        #expect(bytes == (try directory.contents("b.pcap")))

        let fileHeader: [UInt8] = [
            0x4d, 0x3c, 0xb2, 0xa1, 0x02, 0x00, 0x04, 0x00,  // magic (nanoseconds), version 2.4
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // thiszone, sigfigs
            0x00, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00,  // snaplen 262144, LINKTYPE_ETHERNET
        ]
        #expect(Array(bytes.prefix(24)) == fileHeader)
        // Second record: 1700000000 s = 0x6553f100, 999999999 ns = 0x3b9ac9ff, caplen 61, len 1514 = 0x5ea.
        let secondRecord = 24 + 16 + 60
        #expect(
            Array(bytes[secondRecord..<secondRecord + 16]) == [
                0x00, 0xf1, 0x53, 0x65, 0xff, 0xc9, 0x9a, 0x3b, 0x3d, 0x00, 0x00, 0x00, 0xea, 0x05, 0x00, 0x00,
            ])
        #expect(bytes.count == 24 + samples.map { 16 + $0.bytes.count }.reduce(0, +))
    }

    @Test func writesFramesWithoutTheirMetadata() throws {
        let directory = try TemporaryDirectory()
        let packet = sampleFrame(length: 64, seed: 9)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 512, alignment: 64)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0xee, count: 512)
        packet.withUnsafeBytes { (buffer + 256).copyMemory(from: $0.baseAddress!, byteCount: 64) }
        let frame = Frame(
            buffer: buffer, bufferSize: 512, dataOffset: 256, length: 64, metaLength: 8, timestampNanos: 42)

        var writer = try PcapWriter(path: directory.path + "/frame.pcap")
        try writer.write(frame)
        try writer.close()
        #expect(
            try readAll(directory.path + "/frame.pcap") == [
                ReadRecord(index: 0, timestampNanos: 42, bytes: packet, originalLength: 64)
            ])
    }

    @Test func appearsUnderItsNameOnlyWhenClosed() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/verdict.pcap"
        do {
            var writer = try PcapWriter(path: path)
            try samples[0].bytes.withUnsafeBytes { try writer.write($0, timestampNanos: 1) }
            #expect(!directory.exists("verdict.pcap"))
            #expect(directory.exists("verdict.pcap.tmp"))
            // Dropped without close(): an interrupted run.
        }
        #expect(!directory.exists("verdict.pcap"))
        #expect(!directory.exists("verdict.pcap.tmp"))

        var writer = try PcapWriter(path: path)
        try samples[0].bytes.withUnsafeBytes { try writer.write($0, timestampNanos: 1) }
        try writer.close()
        #expect(directory.exists("verdict.pcap"))
        #expect(!directory.exists("verdict.pcap.tmp"))
        #expect(try readAll(path).count == 1)
    }

    @Test func splitsFramesIntoOnePcapPerVerdict() throws {
        let directory = try TemporaryDirectory()
        let out = directory.path + "/out"
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 512, alignment: 64)
        defer { buffer.deallocate() }
        var frame = Frame(buffer: buffer, bufferSize: 512, dataOffset: 256, length: 0)
        let actions: [XDPAction] = [.pass, .drop, .pass, .tx, .aborted]

        var writers = try VerdictPcapWriters(directory: out)
        for (index, action) in actions.enumerated() {
            let packet = sampleFrame(length: 60 + index, seed: UInt8(index))
            packet.withUnsafeBytes { frame.data.copyMemory(from: $0.baseAddress!, byteCount: packet.count) }
            frame.length = packet.count
            frame.timestampNanos = UInt64(index) * 1_000
            try writers.write(frame, action: action)
        }
        // Raw bytes (a frame plus what lay beyond the linear buffer) go to the same files.
        let oversized = sampleFrame(length: 5_000, seed: 7)
        try oversized.withUnsafeBytes { try writers.write($0, timestampNanos: 5_000, action: .redirect) }
        #expect(writers.recordCount(.redirect) == 1)
        #expect(writers.recordCount(.pass) == 2)
        #expect(!FileManager.default.fileExists(atPath: out + "/pass.pcap"))
        try writers.close()

        func stamps(_ action: XDPAction) throws -> [UInt64] {
            try readAll(out + "/" + VerdictPcapWriters.fileName(for: action)).map(\.timestampNanos)
        }
        #expect(try stamps(.pass) == [0, 2_000])
        #expect(try stamps(.drop) == [1_000])
        #expect(try stamps(.tx) == [3_000])
        #expect(try stamps(.aborted) == [4_000])
        #expect(try stamps(.redirect) == [5_000])
        #expect(try readAll(out + "/redirect.pcap").map(\.bytes) == [oversized])
        #expect(
            try readAll(out + "/pass.pcap").map(\.bytes) == [
                sampleFrame(length: 60, seed: 0), sampleFrame(length: 62, seed: 2),
            ])
        let names = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        #expect(names == ["aborted.pcap", "drop.pcap", "pass.pcap", "redirect.pcap", "tx.pcap"])
    }

    @Test func reportsAFullDisk() throws {
        // /dev/full accepts open(2) and fails every write(2) with ENOSPC.
        var small = try PcapWriter(path: "/dev/full", atomically: false)
        try samples[0].bytes.withUnsafeBytes { try small.write($0, timestampNanos: 1) }
        let full = PcapError(
            path: "/dev/full", kind: .system(SystemError(call: "write", errno: ENOSPC, context: "/dev/full")))
        do {
            try small.close()
            Issue.record("closing a writer on /dev/full succeeded")
        } catch {
            #expect(error == full)
        }

        // More than one buffer's worth: the failure surfaces in write(), naming the record.
        var large = try PcapWriter(path: "/dev/full", atomically: false)
        let big = [UInt8](repeating: 0xab, count: 40_000)
        let error = #expect(throws: PcapError.self) {
            for _ in 0..<4 { try big.withUnsafeBytes { try large.write($0, timestampNanos: 1) } }
        }
        #expect(error?.kind == .system(SystemError(call: "write", errno: ENOSPC, context: "/dev/full")))
        #expect(error?.record == 1)
    }

    @Test func refusesWhatClassicPcapCannotHold() throws {
        let directory = try TemporaryDirectory()
        var writer = try PcapWriter(path: directory.path + "/limits.pcap")
        let packet = sampleFrame(length: 60, seed: 4)
        #expect(throws: PcapError(path: writer.path, record: 0, kind: .timestampOutOfRange)) {
            try packet.withUnsafeBytes {
                try writer.write($0, timestampNanos: (UInt64(UInt32.max) + 1) * 1_000_000_000)
            }
        }
        let tooLong = [UInt8](repeating: 0, count: PcapWriter.snapshotLength + 1)
        #expect(throws: PcapError.self) {
            try tooLong.withUnsafeBytes { try writer.write($0, timestampNanos: 0) }
        }
        // The last representable second is fine.
        try packet.withUnsafeBytes {
            try writer.write($0, timestampNanos: UInt64(UInt32.max) * 1_000_000_000 + 999_999_999)
        }
        try writer.close()
        #expect(try readAll(directory.path + "/limits.pcap").map(\.timestampNanos) == [4_294_967_295_999_999_999])
    }

    @Test(.enabled(if: tcpdumpPath != nil, "skipped: tcpdump is not installed (apt-get install tcpdump)"))
    func tcpdumpReadsTheOutput() throws {
        let tcpdump = try #require(tcpdumpPath)
        let directory = try TemporaryDirectory()
        let path = directory.path + "/out.pcap"
        // tcpdump 4.99 (libpcap 1.10) reads classic-pcap seconds as signed 32-bit and prints "[Error converting
        // time]" from 2038 on, so the last record here stays before that.
        var early = samples
        early[2].timestampNanos = 2_000_000_000_123_456_789
        try writeSamples(to: path, early)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: tcpdump)
        process.arguments = ["-nn", "-tt", "--time-stamp-precision=nano", "-r", path]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let complaints = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()

        #expect(process.terminationStatus == 0, "tcpdump failed: \(complaints)")
        #expect(complaints.contains("link-type EN10MB"))
        #expect(complaints.contains("snapshot length 262144"))
        let stamps = printed.split(separator: "\n").map { $0.prefix(while: { $0 != " " }) }
        #expect(stamps == ["1700000000.000000001", "1700000000.999999999", "2000000000.123456789"])
    }
}

/// `--format pcapng`: each packet carries "input N: VERDICT (ret R)", and the input's interface ids and comments
/// survive a replay.
@Suite struct PcapngOutputTests {
    struct Annotated: Equatable {
        var bytes: [UInt8]
        var timestampNanos: UInt64
        var interfaceID: UInt32
        var comment: String
    }

    static func readAnnotated(_ path: String) throws -> [Annotated] {
        var reader = try PcapReader(path: path)
        var records: [Annotated] = []
        while let record = try reader.next() {
            records.append(
                Annotated(
                    bytes: Array(record.bytes), timestampNanos: record.timestampNanos, interfaceID: record.interfaceID,
                    comment: String(decoding: record.comment, as: UTF8.self)))
        }
        return records
    }

    @Test func readerReportsInterfaceIdsAndComments() throws {
        let directory = try TemporaryDirectory()
        let a = sampleFrame(length: 60, seed: 1)
        let b = sampleFrame(length: 61, seed: 2)
        var capture = PcapngBytes()
        capture.interface()
        capture.interface()
        capture.packet(interface: 1, timestamp: 5, a, comments: ["from eth1", "second comment"])
        capture.block(type: 5, body: [UInt8](repeating: 0, count: 8))  // an interface statistics block
        capture.packet(interface: 0, timestamp: 6, b)
        let records = try Self.readAnnotated(directory.file("in.pcapng", capture.bytes))
        #expect(records == [
            Annotated(bytes: a, timestampNanos: 5000, interfaceID: 1, comment: "from eth1"),
            Annotated(bytes: b, timestampNanos: 6000, interfaceID: 0, comment: ""),
        ])
    }

    @Test func writerAnnotatesEveryPacketAndLibpcapReadsIt() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/out.pcapng"
        var writer = try PcapWriter(path: path, format: .pcapng)
        let frame = sampleFrame(length: 63, seed: 9)  // not a multiple of 4: padding
        let note = Array("kept".utf8)
        try frame.withUnsafeBytes { packet in
            try note.withUnsafeBytes { comment in
                try writer.write(
                    packet, timestampNanos: 1_700_000_000_123_456_789,
                    annotation: PacketAnnotation(index: 41, action: .drop, returnValue: 1, interfaceID: 2, inputComment: comment))
            }
            try writer.write(packet, timestampNanos: 7, annotation: PacketAnnotation(index: 1234567, action: .redirect, returnValue: 4))
        }
        try writer.close()
        let records = try Self.readAnnotated(path)
        #expect(records == [
            Annotated(bytes: frame, timestampNanos: 1_700_000_000_123_456_789, interfaceID: 2, comment: "input 41: drop (ret 1)"),
            Annotated(bytes: frame, timestampNanos: 7, interfaceID: 0, comment: "input 1234567: redirect (ret 4)"),
        ])
        // The input's comment is the second opt_comment of the first packet.
        let bytes = try directory.contents("out.pcapng")
        #expect(bytes.count % 4 == 0)
        #expect(String(decoding: bytes, as: UTF8.self).contains("kept"))
    }

    @Test func replayKeepsInterfacesAndCommentsAndAnnotatesVerdicts() throws {
        let directory = try TemporaryDirectory()
        let frame = sampleFrame(length: 60, seed: 5)
        var capture = PcapngBytes()
        capture.interface()
        capture.interface()
        capture.packet(interface: 1, timestamp: 10, frame, comments: ["hello"])
        capture.packet(interface: 0, timestamp: 11, [1, 2, 3])  // a runt: refused, written nowhere
        capture.packet(interface: 1, timestamp: 12, frame)
        let input = try directory.file("in.pcapng", capture.bytes)
        let (source, _, spec) = try ProgramSource.open(objectPath: try Repository.object("firewall"))
        var options = Replay.Options()
        options.outputDirectory = directory.path + "/out"
        options.outputFormat = .pcapng
        _ = try Replay.run(source: source, spec: spec, capture: input, options: options)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/out").sorted()
        #expect(files == XDPAction.allCases.map { VerdictPcapWriters.fileName(for: $0, format: .pcapng) }.sorted())
        let all = try XDPAction.allCases.flatMap {
            try Self.readAnnotated(directory.path + "/out/" + VerdictPcapWriters.fileName(for: $0, format: .pcapng))
        }
        #expect(all.count == 2)
        #expect(all.allSatisfy { $0.interfaceID == 1 })
        #expect(all.map(\.comment).sorted() == ["input 0: pass (ret 2)", "input 2: pass (ret 2)"])
        #expect(String(decoding: try directory.contents("out/pass.pcapng"), as: UTF8.self).contains("hello"))
    }
}
