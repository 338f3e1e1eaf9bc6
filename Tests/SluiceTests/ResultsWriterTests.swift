import BPFVM
import Foundation
import Testing

@testable import Sluice

/// Writes through a fresh `ResultsWriter` and returns the file's text.
private func results(
    includeBytes: Bool = true, _ body: (inout ResultsWriter) throws(SystemError) -> Void
) throws -> String {
    let directory = try TemporaryDirectory()
    var writer = try ResultsWriter(path: directory.path + "/results.jsonl", includeBytes: includeBytes)
    try body(&writer)
    try writer.close()
    return String(decoding: try directory.contents("results.jsonl"), as: UTF8.self)
}

private func packet(
    _ writer: inout ResultsWriter, _ index: Int, ret: UInt64, lengthIn: Int, meta: [UInt8] = [], _ bytes: [UInt8],
    note: String? = nil
) throws(SystemError) {
    let result = meta.withUnsafeBytes { metadata in
        bytes.withUnsafeBytes { packet in
            Result { () throws(SystemError) in
                try writer.writePacket(
                    index: index, returnValue: ret, lengthIn: lengthIn, metadata: metadata, packet: packet, note: note)
            }
        }
    }
    try result.get()
}

private let maps = [
    MapSnapshot(
        name: "counters", type: MapType.array.rawValue, keySize: 4, valueSize: 8,
        entries: [
            .init(key: [1, 0, 0, 0], values: [[5, 0, 0, 0, 0, 0, 0, 0]]),
            .init(key: [0, 0, 0, 0], values: [[0, 0, 0, 0, 0, 0, 0, 0]]),
        ]),
    MapSnapshot(
        name: "flows", type: MapType.hash.rawValue, keySize: 2, valueSize: 1,
        entries: [.init(key: [0x0b, 0x00], values: [[0]]), .init(key: [0x0a, 0xff], values: [[1]])]),
    MapSnapshot(
        name: "stats", type: MapType.percpuArray.rawValue, keySize: 4, valueSize: 2,
        entries: [
            .init(key: [0, 0, 0, 0], values: [[1, 0], [0, 0]]),
            .init(key: [1, 0, 0, 0], values: [[0, 0], [0, 0]]),
        ]),
    MapSnapshot(
        name: "seen", type: MapType.percpuHash.rawValue, keySize: 2, valueSize: 1,
        entries: [.init(key: [1, 2], values: [[0xff]])]),
    MapSnapshot(name: "we\"ird", type: MapType.hash.rawValue, keySize: 4, valueSize: 4, entries: []),
]

@Suite struct ResultsWriterTests {
    @Test func writesPacketLinesWithKeysInOrder() throws {
        let text = try results { (writer) throws(SystemError) in
            try packet(&writer, 0, ret: 2, lengthIn: 60, [0xde, 0xad, 0xbe, 0xef])
            try packet(&writer, 1, ret: 1, lengthIn: 14, meta: [0x01, 0x02], [0x0a])
            try packet(&writer, 2, ret: 7, lengthIn: 3, [0, 1, 2], note: "unknown return value")
            try packet(&writer, 3, ret: 3, lengthIn: 5, [0xab])
            try packet(&writer, 4, ret: 4, lengthIn: 1_000_000, [])
            try writer.writeMaps([])
        }
        #expect(
            text == """
                {"i":0,"ret":2,"verdict":"pass","len_in":60,"len_out":4,"meta_len":0,"out":"deadbeef"}
                {"i":1,"ret":1,"verdict":"drop","len_in":14,"len_out":1,"meta_len":2,"out":"01020a"}
                {"i":2,"ret":7,"verdict":"aborted","len_in":3,"len_out":3,"meta_len":0,"out":"000102","note":"unknown return value"}
                {"i":3,"ret":3,"verdict":"tx","len_in":5,"len_out":1,"meta_len":0,"out":"ab"}
                {"i":4,"ret":4,"verdict":"redirect","len_in":1000000,"len_out":0,"meta_len":0,"out":""}
                {"maps":{}}

                """)
    }

    @Test func leavesOutBytesUnlessAsked() throws {
        let text = try results(includeBytes: false) { (writer) throws(SystemError) in
            try packet(&writer, 12, ret: 0, lengthIn: 2, meta: [9], [1, 2], note: "refused")
        }
        #expect(
            text == #"{"i":12,"ret":0,"verdict":"aborted","len_in":2,"len_out":2,"meta_len":1,"note":"refused"}"# + "\n"
        )
    }

    @Test func writesRefusedPacketsWithANullReturnValue() throws {
        let text = try results { (writer) throws(SystemError) in
            try writer.writeRefused(index: 3, lengthIn: 13, note: "shorter than an Ethernet header")
        }
        #expect(
            text == #"{"i":3,"ret":null,"verdict":"refused","len_in":13,"len_out":0,"meta_len":0,"#
                + #""note":"shorter than an Ethernet header"}"# + "\n")
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        #expect(object?["ret"] is NSNull)
    }

    @Test func framesAndOutcomesGiveTheSameLine() throws {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 16)
        defer { buffer.deallocate() }
        let bytes: [UInt8] = [0xc0, 0xff, 0xee, 0x11, 0x22, 0x33]  // 2 bytes of metadata, then 4 of packet
        bytes.withUnsafeBytes { (buffer + 30).copyMemory(from: $0.baseAddress!, byteCount: 6) }
        let frame = Frame(buffer: buffer, bufferSize: 64, dataOffset: 32, length: 4, metaLength: 2)
        let outcome = RunOutcome(returnValue: 3, packet: [0xee, 0x11, 0x22, 0x33], metadata: [0xc0, 0xff])

        let fromFrame = try results { (writer) throws(SystemError) in
            try writer.writePacket(index: 5, returnValue: 3, lengthIn: 9, frame: frame, note: "n")
        }
        let fromOutcome = try results { (writer) throws(SystemError) in
            try writer.writePacket(index: 5, lengthIn: 9, outcome: outcome, note: "n")
        }
        let expected =
            #"{"i":5,"ret":3,"verdict":"tx","len_in":9,"len_out":4,"meta_len":2,"out":"c0ffee112233","note":"n"}"#
        #expect(fromFrame == expected + "\n")
        #expect(fromOutcome == fromFrame)
    }

    @Test func escapesStrings() throws {
        let text = try results { (writer) throws(SystemError) in
            try packet(&writer, 0, ret: 2, lengthIn: 1, [0], note: "a\"b\\c\nd\te\u{01}f\u{1f}é€\r\u{08}\u{0c}/")
        }
        #expect(text.hasSuffix(#","note":"a\"b\\c\nd\te\u0001f\u001fé€\r\b\f/"}"# + "\n"))
        // What we wrote is JSON that a real parser reads back to the same note.
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        #expect(object?["note"] as? String == "a\"b\\c\nd\te\u{01}f\u{1f}é€\r\u{08}\u{0c}/")
    }

    @Test func writesEveryMapSortedByKeyWithPerCPUArrays() throws {
        let text = try results { (writer) throws(SystemError) in try writer.writeMaps(maps) }
        #expect(
            text == """
                {"maps":{"counters":{"00000000":"0000000000000000","01000000":"0500000000000000"},\
                "flows":{"0aff":"01","0b00":"00"},\
                "stats":{"00000000":["0100","0000"],"01000000":["0000","0000"]},\
                "seen":{"0102":["ff"]},\
                "we\\"ird":{}}}

                """)
    }

    @Test func canOmitAllZeroValuesOfArrayMapsOnly() throws {
        let text = try results { (writer) throws(SystemError) in
            try writer.writeMaps(maps, omitZeroArrayValues: true)
        }
        // counters (array) loses key 0, stats (per-CPU array) loses key 1 (zero on every CPU) but keeps key 0 (non-zero
        // on one CPU), flows (hash) keeps its zero value.
        #expect(
            text == """
                {"maps":{"counters":{"01000000":"0500000000000000"},\
                "flows":{"0aff":"01","0b00":"00"},\
                "stats":{"00000000":["0100","0000"]},\
                "seen":{"0102":["ff"]},\
                "we\\"ird":{}}}

                """)
    }

    @Test func writesPacketsLargerThanTheBuffer() throws {
        let big = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let text = try results { (writer) throws(SystemError) in
            try packet(&writer, 0, ret: 2, lengthIn: big.count, meta: [0xaa], big)
        }
        let hex = big.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        #expect(
            text == #"{"i":0,"ret":2,"verdict":"pass","len_in":100000,"len_out":100000,"meta_len":1,"out":"aa"#
                + hex + "\"}\n")
    }

    @Test func appearsOnlyWhenClosedAndReportsAFullDisk() throws {
        let directory = try TemporaryDirectory()
        do {
            var writer = try ResultsWriter(path: directory.path + "/r.jsonl")
            try writer.writeMaps([])
            #expect(directory.exists("r.jsonl.tmp"))
        }
        #expect(!directory.exists("r.jsonl") && !directory.exists("r.jsonl.tmp"))

        var full = try ResultsWriter(path: "/dev/full", atomically: false)
        try full.writeMaps(maps)
        do {
            try full.close()
            Issue.record("closing a results writer on /dev/full succeeded")
        } catch {
            #expect(error == SystemError(call: "write", errno: ENOSPC, context: "/dev/full"))
        }
    }
}
