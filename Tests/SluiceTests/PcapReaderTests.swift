import Foundation
import Testing

@testable import Sluice

/// What a test sees of one record (the reader's own record borrows libpcap's buffer).
struct ReadRecord: Equatable {
    var index: Int
    var timestampNanos: UInt64
    var bytes: [UInt8]
    var originalLength: Int
}

func readAll(_ path: String) throws(PcapError) -> [ReadRecord] {
    var reader = try PcapReader(path: path)
    var records: [ReadRecord] = []
    while let record = try reader.next() {
        records.append(
            ReadRecord(
                index: record.index, timestampNanos: record.timestampNanos, bytes: Array(record.bytes),
                originalLength: record.originalLength))
    }
    return records
}

/// The error reading the whole capture ends with, or `nil` if it reads cleanly.
func readError(_ path: String) -> PcapError? {
    do {
        _ = try readAll(path)
        return nil
    } catch {
        return error
    }
}

@Suite struct PcapReaderTests {
    let first = sampleFrame(length: 60, seed: 1)
    let second = sampleFrame(length: 98, seed: 2)

    @Test func microsecondAndNanosecondFilesGiveTheSameNanoseconds() throws {
        let directory = try TemporaryDirectory()
        var micro = ClassicPcapBytes(nanosecond: false)
        micro.record(seconds: 1_700_000_000, fraction: 123_456, first)
        micro.record(seconds: 1_700_000_001, fraction: 999_999, second)
        var nano = ClassicPcapBytes(nanosecond: true)
        nano.record(seconds: 1_700_000_000, fraction: 123_456_000, first)
        nano.record(seconds: 1_700_000_001, fraction: 999_999_000, second)
        var swapped = ClassicPcapBytes(nanosecond: false, bigEndian: true)
        swapped.record(seconds: 1_700_000_000, fraction: 123_456, first)
        swapped.record(seconds: 1_700_000_001, fraction: 999_999, second)

        let expected = [
            ReadRecord(index: 0, timestampNanos: 1_700_000_000_123_456_000, bytes: first, originalLength: 60),
            ReadRecord(index: 1, timestampNanos: 1_700_000_001_999_999_000, bytes: second, originalLength: 98),
        ]
        #expect(try readAll(directory.file("micro.pcap", micro.bytes)) == expected)
        #expect(try readAll(directory.file("nano.pcap", nano.bytes)) == expected)
        #expect(try readAll(directory.file("swapped.pcap", swapped.bytes)) == expected)

        let microReader = try PcapReader(path: directory.path + "/micro.pcap")
        #expect(microReader.format == .pcap)
        #expect(microReader.snapshotLength == 65_535)
        let nanoReader = try PcapReader(path: directory.path + "/nano.pcap")
        #expect(nanoReader.format == .pcap)
    }

    @Test func nanosecondsSurviveWhereMicrosecondsCannot() throws {
        let directory = try TemporaryDirectory()
        var nano = ClassicPcapBytes(nanosecond: true)
        // Seconds past 2038 (above Int32.max) and a fraction that is not a whole microsecond.
        nano.record(seconds: 3_000_000_000, fraction: 123_456_789, first)
        let records = try readAll(directory.file("late.pcap", nano.bytes))
        #expect(records.map(\.timestampNanos) == [3_000_000_000_123_456_789])
    }

    @Test func readsPcapngAtMicroAndNanosecondResolution() throws {
        let directory = try TemporaryDirectory()
        var capture = PcapngBytes()
        capture.interface(tsresol: nil)  // default resolution: microseconds
        capture.interface(tsresol: 9)
        capture.packet(interface: 0, timestamp: 1_700_000_000_123_456, first)
        capture.block(type: 4, body: [0, 0, 0, 0])  // a name resolution block (empty): not a record
        capture.packet(interface: 1, timestamp: 1_700_000_000_123_456_789, second, originalLength: 1_514)
        let path = try directory.file("two.pcapng", capture.bytes)

        #expect(
            try readAll(path) == [
                ReadRecord(index: 0, timestampNanos: 1_700_000_000_123_456_000, bytes: first, originalLength: 60),
                ReadRecord(index: 1, timestampNanos: 1_700_000_000_123_456_789, bytes: second, originalLength: 1_514),
            ])
        var reader = try PcapReader(path: path)
        #expect(reader.format == .pcapng)
        #expect(reader.snapshotLength == PcapReader.maximumRecordLength)  // snaplen 0 means "no limit"
        while try reader.next() != nil {}
        #expect(reader.recordsRead == 2)
        #expect(reader.truncatedRecordCount == 1)
    }

    @Test func countsRecordsCapturedShorterThanOnTheWire() throws {
        let directory = try TemporaryDirectory()
        var capture = ClassicPcapBytes(nanosecond: true, snapshotLength: 64)
        capture.record(seconds: 1, fraction: 0, first)
        capture.record(seconds: 2, fraction: 0, Array(second.prefix(64)), originalLength: 98)
        capture.record(seconds: 3, fraction: 0, first)
        var reader = try PcapReader(path: directory.file("snap.pcap", capture.bytes))
        var truncated: [Bool] = []
        while let record = try reader.next() { truncated.append(record.isTruncated) }
        #expect(truncated == [false, true, false])
        #expect(reader.truncatedRecordCount == 1)
    }

    @Test func refusesNonEthernetLinkTypesByNameAndNumber() throws {
        let directory = try TemporaryDirectory()
        var cooked = ClassicPcapBytes(nanosecond: false, linkType: 113)  // LINKTYPE_LINUX_SLL
        cooked.record(seconds: 1, fraction: 0, first)
        let error = try #require(readError(directory.file("sll.pcap", cooked.bytes)))
        guard case .unsupportedLinkType(113, "LINUX_SLL", _, canSynthesize: true) = error.kind else {
            Issue.record("expected LINUX_SLL (113), got \(error)")
            return
        }
        #expect(error.record == nil)
        #expect(error.description.contains("link type 113 (LINUX_SLL, Linux cooked v1) is not Ethernet"))
        #expect(error.description.contains("--synthesize-ethernet"))

        var raw = PcapngBytes()
        raw.interface(linkType: 101)  // LINKTYPE_RAW, libpcap's DLT_RAW
        raw.packet(timestamp: 0, first)
        let rawError = try #require(readError(directory.file("raw.pcapng", raw.bytes)))
        guard case .unsupportedLinkType(101, "RAW", _, canSynthesize: true) = rawError.kind else {
            Issue.record("expected RAW (101), got \(rawError)")
            return
        }

        var tokenRing = ClassicPcapBytes(nanosecond: false, linkType: 6)  // LINKTYPE_IEEE802_5
        tokenRing.record(seconds: 1, fraction: 0, first)
        let other = try #require(readError(directory.file("tr.pcap", tokenRing.bytes)))
        #expect(other.description.contains("link type 6 (IEEE802,"))
        #expect(other.description.contains("cannot convert this link type"))
    }

    /// Raw IP and Linux cooked captures, with `synthesizeEthernet`, give the frames an Ethernet capture of the same
    /// traffic would (zero MAC addresses where the capture has none).
    @Test func synthesizesEthernetHeadersForRawIPAndCookedCaptures() throws {
        let directory = try TemporaryDirectory()
        let ip4: [UInt8] = [0x45, 0, 0, 20] + [UInt8](repeating: 7, count: 16)
        let ip6: [UInt8] = [0x60, 0, 0, 0] + [UInt8](repeating: 9, count: 36)
        let mac: [UInt8] = [2, 0, 0, 0, 0, 0x42]
        func read(_ name: String, _ bytes: [UInt8]) throws -> [ReadRecord] {
            var reader = try PcapReader(path: directory.file(name, bytes), synthesizeEthernet: true)
            var records: [ReadRecord] = []
            while let record = try reader.next() {
                records.append(
                    ReadRecord(
                        index: record.index, timestampNanos: record.timestampNanos, bytes: Array(record.bytes),
                        originalLength: record.originalLength))
            }
            return records
        }
        let zeroMACs = [UInt8](repeating: 0, count: 12)
        var raw = ClassicPcapBytes(nanosecond: true, linkType: 101)
        raw.record(seconds: 1, fraction: 0, ip4)
        raw.record(seconds: 2, fraction: 0, ip6)
        #expect(
            try read("raw.pcap", raw.bytes).map(\.bytes) == [
                zeroMACs + [0x08, 0x00] + ip4, zeroMACs + [0x86, 0xdd] + ip6,
            ])
        var v6 = ClassicPcapBytes(nanosecond: true, linkType: 229)
        v6.record(seconds: 1, fraction: 0, ip6)
        #expect(try read("ipv6.pcap", v6.bytes).map(\.bytes) == [zeroMACs + [0x86, 0xdd] + ip6])

        let sll: [UInt8] = [0, 0, 0, 1, 0, 6] + mac + [0, 0] + [0x08, 0x00]
        var cooked = ClassicPcapBytes(nanosecond: true, linkType: 113)
        cooked.record(seconds: 1, fraction: 0, sll + ip4)
        cooked.record(seconds: 2, fraction: 0, Array(sll.prefix(10)))  // shorter than its cooked header
        let cookedRecords = try read("sll.pcap", cooked.bytes)
        #expect(cookedRecords.map(\.bytes) == [[0, 0, 0, 0, 0, 0] + mac + [0x08, 0x00] + ip4, []])
        #expect(cookedRecords[0].originalLength == 14 + ip4.count)

        let sll2: [UInt8] = [0x86, 0xdd, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6] + mac + [0, 0]
        var cooked2 = PcapngBytes()
        cooked2.interface(linkType: 276)
        cooked2.packet(timestamp: 5, sll2 + ip6)
        #expect(try read("sll2.pcapng", cooked2.bytes).map(\.bytes) == [[0, 0, 0, 0, 0, 0] + mac + [0x86, 0xdd] + ip6])
    }

    @Test func refusesFilesThatAreNotCaptures() throws {
        let directory = try TemporaryDirectory()
        let text = try #require(readError(directory.file("text.pcap", Array("hello, world\n".utf8))))
        #expect(text.kind == .notCapture(magic: 0x6c6c_6568))
        #expect(text.description.hasSuffix("text.pcap: not a pcap or pcapng file (magic number 0x6c6c6568)"))

        let empty = try #require(readError(directory.file("empty.pcap", [])))
        #expect(empty.kind == .notCapture(magic: nil))

        let missing = try #require(readError(directory.path + "/missing.pcap"))
        #expect(
            missing.kind == .system(SystemError(call: "stat", errno: ENOENT, context: directory.path + "/missing.pcap"))
        )
    }

    @Test func namesTheRecordWhereTheFileIsTruncated() throws {
        let directory = try TemporaryDirectory()
        var capture = ClassicPcapBytes(nanosecond: true)
        capture.record(seconds: 1, fraction: 0, first)
        capture.record(seconds: 2, fraction: 0, second)
        capture.record(seconds: 3, fraction: 0, first)
        let whole = capture.bytes
        let recordTwoStart = 24 + (16 + 60) + (16 + 98)

        let inData = try #require(readError(directory.file("data.pcap", Array(whole.prefix(recordTwoStart + 16 + 10)))))
        #expect(inData.kind == .truncated)
        #expect(inData.record == 2)
        #expect(inData.description.hasSuffix("data.pcap: capture truncated in record 2"))

        let inHeader = try #require(readError(directory.file("header.pcap", Array(whole.prefix(recordTwoStart + 5)))))
        #expect(inHeader.kind == .truncated)
        #expect(inHeader.record == 2)

        // Cut exactly between records: a shorter but well-formed capture.
        #expect(try readAll(directory.file("short.pcap", Array(whole.prefix(recordTwoStart)))).count == 2)

        let fileHeader = try #require(readError(directory.file("file.pcap", Array(whole.prefix(10)))))
        #expect(fileHeader.kind == .truncated)
        #expect(fileHeader.record == nil)
        #expect(fileHeader.description.hasSuffix("file.pcap: capture truncated in the file header"))

        var next = PcapngBytes()
        next.interface()
        next.packet(timestamp: 1, first)
        next.packet(timestamp: 2, second)
        let ngError = try #require(readError(directory.file("cut.pcapng", Array(next.bytes.dropLast(7)))))
        #expect(ngError.kind == .truncated)
        #expect(ngError.record == 1)

        let ngHeader = try #require(readError(directory.file("head.pcapng", Array(next.bytes.prefix(20)))))
        #expect(ngHeader.kind == .truncated)
        #expect(ngHeader.record == nil)
    }

    @Test func refusesRecordsLongerThanTheSnapshotLength() throws {
        let directory = try TemporaryDirectory()
        var capture = ClassicPcapBytes(nanosecond: true, snapshotLength: 64)
        capture.record(seconds: 1, fraction: 0, first)
        capture.record(seconds: 2, fraction: 0, second)  // 98 bytes captured, snapshot length 64
        let error = try #require(readError(directory.file("long.pcap", capture.bytes)))
        #expect(error.kind == .recordLongerThanSnapshot(length: 98, snapshotLength: 64))
        #expect(error.record == 1)
        #expect(error.description.hasSuffix("record 1: captured length 98 is longer than the snapshot length 64"))

        // A record exactly at the snapshot length is fine.
        var exact = ClassicPcapBytes(nanosecond: true, snapshotLength: 60)
        exact.record(seconds: 1, fraction: 0, first)
        exact.record(seconds: 2, fraction: 0, first)
        #expect(try readAll(directory.file("exact.pcap", exact.bytes)).count == 2)

        // Beyond libpcap's own maximum (header snapshot length 0 means "the maximum").
        var huge = ClassicPcapBytes(nanosecond: true, snapshotLength: 0)
        huge.record(seconds: 1, fraction: 0, first)
        huge.record(seconds: 2, fraction: 0, first, capturedLength: 300_000, originalLength: 300_000)
        let hugeError = try #require(readError(directory.file("huge.pcap", huge.bytes)))
        #expect(hugeError.kind == .recordLongerThanSnapshot(length: 300_000, snapshotLength: 262_144))
        #expect(hugeError.record == 1)

        var next = PcapngBytes()
        next.interface(snapshotLength: 64)
        next.packet(timestamp: 1, first)
        next.packet(timestamp: 2, first)
        next.packet(timestamp: 3, second)
        let ngError = try #require(readError(directory.file("long.pcapng", next.bytes)))
        #expect(ngError.kind == .recordLongerThanSnapshot(length: 98, snapshotLength: 64))
        #expect(ngError.record == 2)
    }

    /// tcpdump reads a record with no captured bytes; so does the reader, and the records after it keep their indices.
    @Test func deliversZeroLengthRecords() throws {
        let directory = try TemporaryDirectory()
        var capture = ClassicPcapBytes(nanosecond: true)
        capture.record(seconds: 1, fraction: 0, first)
        capture.record(seconds: 2, fraction: 0, [])
        capture.record(seconds: 3, fraction: 0, second)
        let records = try readAll(directory.file("zero.pcap", capture.bytes))
        #expect(records.map(\.bytes) == [first, [], second])
        #expect(records.map(\.index) == [0, 1, 2])

        var next = PcapngBytes()
        next.interface()
        next.packet(timestamp: 1, [], originalLength: 60)
        next.packet(timestamp: 2, first)
        let ngRecords = try readAll(directory.file("zero.pcapng", next.bytes))
        #expect(ngRecords.map(\.bytes) == [[], first])
        #expect(ngRecords[0].originalLength == 60)
    }

    /// A pcapng timestamp past 2106 reads in libpcap but no pcap output could hold it: the reader names the record.
    @Test func refusesTimestampsNoPcapCanHoldNamingTheRecord() throws {
        let directory = try TemporaryDirectory()
        var next = PcapngBytes()
        next.interface()
        next.packet(timestamp: 1, first)
        next.packet(timestamp: (UInt64(UInt32.max) + 1) * 1_000_000, first)  // microsecond resolution
        let error = try #require(readError(directory.file("future.pcapng", next.bytes)))
        #expect(error.kind == .timestampOutOfRange)
        #expect(error.record == 1)
        #expect(error.description.contains("future.pcapng: record 1: timestamp out of range"))
    }

    @Test(.timeLimit(.minutes(1))) func readsFromPipes() throws {
        let directory = try TemporaryDirectory()
        var capture = ClassicPcapBytes(nanosecond: false)
        capture.record(seconds: 1, fraction: 2, first)
        capture.record(seconds: 3, fraction: 4, second)
        let source = try directory.file("source.pcap", capture.bytes)
        let cut = try directory.file("cut.pcap", Array(capture.bytes.dropLast(3)))
        let text = try directory.file("text", Array("not a capture at all".utf8))

        /// Reads `file` through a named pipe fed by `cat`, as `<(…)` or `/dev/stdin` would.
        func throughPipe(_ file: String) throws -> Result<[ReadRecord], PcapError> {
            let fifo = directory.path + "/fifo-\(UUID().uuidString)"
            guard mkfifo(fifo, 0o600) == 0 else { throw POSIXError(.init(rawValue: errno)!) }
            let feeder = Process()
            feeder.executableURL = URL(fileURLWithPath: "/bin/sh")
            feeder.arguments = ["-c", "cat \"$0\" > \"$1\" 2>/dev/null", file, fifo]
            try feeder.run()
            defer {
                // A reader that stops early leaves `cat` to die of EPIPE; one that never opened the pipe would leave it
                // blocked in open(2).
                if feeder.isRunning { feeder.terminate() }
                feeder.waitUntilExit()
            }
            do {
                return .success(try readAll(fifo))
            } catch {
                return .failure(error)
            }
        }

        #expect(
            try throughPipe(source).get() == [
                ReadRecord(index: 0, timestampNanos: 1_000_002_000, bytes: first, originalLength: 60),
                ReadRecord(index: 1, timestampNanos: 3_000_004_000, bytes: second, originalLength: 98),
            ])
        guard case .failure(let truncated) = try throughPipe(cut), case .failure(let notCapture) = try throughPipe(text)
        else {
            Issue.record("a cut capture or a text file read through a pipe without error")
            return
        }
        #expect(truncated.kind == .truncated && truncated.record == 1)
        #expect(notCapture.kind == .notCapture(magic: nil))
    }

    @Test func copiesRecordsIntoFramesAfterTheKernelHeadroom() throws {
        let directory = try TemporaryDirectory()
        var capture = ClassicPcapBytes(nanosecond: true)
        capture.record(seconds: 5, fraction: 7, first)
        capture.record(seconds: 6, fraction: 8, second)
        var reader = try PcapReader(path: directory.file("frames.pcap", capture.bytes))

        let bufferSize = Frame.kernelHeadroom + 80
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: bufferSize, alignment: 64)
        defer { buffer.deallocate() }
        var frame = Frame(buffer: buffer, bufferSize: bufferSize, dataOffset: 0, length: 0, metaLength: 4)

        let record = try #require(try reader.next(into: &frame))
        #expect(record.index == 0)
        #expect(frame.dataOffset == Frame.kernelHeadroom)
        #expect(frame.length == 60)
        #expect(frame.metaLength == 0)
        #expect(frame.timestampNanos == 5_000_000_007)
        #expect(Array(frame.bytes) == first)

        // 98 bytes do not fit in the 80 left after the headroom.
        #expect(throws: PcapError(path: reader.path, record: 1, kind: .frameTooSmall(length: 98, capacity: 80))) {
            _ = try reader.next(into: &frame)
        }
    }
}
