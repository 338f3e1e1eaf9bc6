import Foundation

/// Classic pcap bytes, written field by field so tests can also write what no sane writer would (wrong lengths,
/// missing bytes, odd link types).
struct ClassicPcapBytes {
    private(set) var bytes: [UInt8] = []
    let bigEndian: Bool

    init(nanosecond: Bool, snapshotLength: UInt32 = 65_535, linkType: UInt32 = 1, bigEndian: Bool = false) {
        self.bigEndian = bigEndian
        append32(nanosecond ? 0xa1b2_3c4d : 0xa1b2_c3d4)
        append16(2)
        append16(4)
        append32(0)
        append32(0)
        append32(snapshotLength)
        append32(linkType)
    }

    /// A record; `capturedLength`/`originalLength` default to `data.count` and may lie about it.
    mutating func record(
        seconds: UInt32, fraction: UInt32, _ data: [UInt8], capturedLength: UInt32? = nil, originalLength: UInt32? = nil
    ) {
        append32(seconds)
        append32(fraction)
        append32(capturedLength ?? UInt32(data.count))
        append32(originalLength ?? UInt32(data.count))
        bytes += data
    }

    mutating func append(raw: [UInt8]) { bytes += raw }

    private mutating func append16(_ value: UInt16) {
        bytes += bigEndian ? [UInt8(value >> 8), UInt8(value & 0xff)] : [UInt8(value & 0xff), UInt8(value >> 8)]
    }

    private mutating func append32(_ value: UInt32) {
        let little = (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
        bytes += bigEndian ? little.reversed() : little
    }
}

/// A minimal little-endian pcapng writer: one section header, interface description blocks (with an optional
/// `if_tsresol` option) and enhanced packet blocks.
struct PcapngBytes {
    private(set) var bytes: [UInt8] = []

    init() {
        block(type: 0x0a0d_0d0a, body: le32(0x1a2b_3c4d) + le16(1) + le16(0) + le64(UInt64.max))
    }

    /// `tsresol`: the raw `if_tsresol` byte (6 = microseconds, the default when absent; 9 = nanoseconds).
    mutating func interface(linkType: UInt16 = 1, snapshotLength: UInt32 = 0, tsresol: UInt8? = nil) {
        var body = le16(linkType) + le16(0) + le32(snapshotLength)
        if let tsresol { body += le16(9) + le16(1) + [tsresol, 0, 0, 0] + le16(0) + le16(0) }
        block(type: 1, body: body)
    }

    /// An enhanced packet block; `timestamp` in units of the interface's resolution.
    mutating func packet(
        interface: UInt32 = 0, timestamp: UInt64, _ data: [UInt8], capturedLength: UInt32? = nil,
        originalLength: UInt32? = nil, comments: [String] = []
    ) {
        var body = le32(interface) + le32(UInt32(timestamp >> 32)) + le32(UInt32(timestamp & 0xffff_ffff))
        body += le32(capturedLength ?? UInt32(data.count)) + le32(originalLength ?? UInt32(data.count))
        body += data + [UInt8](repeating: 0, count: (4 - data.count % 4) % 4)
        for comment in comments {
            let text = Array(comment.utf8)
            body += le16(1) + le16(UInt16(text.count)) + text + [UInt8](repeating: 0, count: (4 - text.count % 4) % 4)
        }
        if !comments.isEmpty { body += le16(0) + le16(0) }
        block(type: 6, body: body)
    }

    /// Any block; non-packet blocks do not count as records.
    mutating func block(type: UInt32, body: [UInt8]) {
        let total = UInt32(12 + body.count)
        bytes += le32(type) + le32(total) + body + le32(total)
    }

    private func le16(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xff), UInt8(value >> 8)] }
    private func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
    private func le64(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
}

/// A fresh directory under the system temporary directory, removed when the value goes away.
final class TemporaryDirectory {
    let path: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.path + "/sluice-test-\(getpid())-XXXXXX"
        var template = Array(base.utf8CString)
        guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        path = String(cString: made)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `bytes` to `name` inside the directory and returns the full path.
    func file(_ name: String, _ bytes: [UInt8]) throws -> String {
        let full = path + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: full))
        return full
    }

    func contents(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path + "/" + name)))
    }

    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: path + "/" + name) }
}

/// A recognisable Ethernet frame: broadcast destination, a fixed source, EtherType 0x0800, then `seed`-derived bytes.
func sampleFrame(length: Int, seed: UInt8) -> [UInt8] {
    var frame: [UInt8] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, seed, 0x08, 0x00]
    while frame.count < length { frame.append(UInt8(truncatingIfNeeded: frame.count &* 7 &+ Int(seed))) }
    return Array(frame.prefix(length))
}
