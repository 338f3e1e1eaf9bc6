/// The container a capture output is written in (`--format`).
public enum CaptureFormat: String, Hashable, Sendable, CaseIterable {
    /// Classic pcap, nanosecond magic.
    case pcap
    /// pcapng: one section, interfaces as the input had them (Ethernet, nanosecond `if_tsresol`), one enhanced
    /// packet block per packet with comments (`opt_comment`).
    case pcapng

    /// The file name extension.
    public var fileExtension: String { rawValue }
}

/// What a pcapng output records about a packet besides its bytes (classic pcap has no room for it).
public struct PacketAnnotation {
    /// The packet's 0-based index in the input capture.
    public var index: Int
    public var action: XDPAction
    /// The program's return value.
    public var returnValue: UInt64
    /// The input's interface id (pcapng), kept in the output.
    public var interfaceID: UInt32
    /// The input packet's own comment (UTF-8, possibly empty), kept as a second comment.
    public var inputComment: UnsafeRawBufferPointer

    public init(
        index: Int, action: XDPAction, returnValue: UInt64, interfaceID: UInt32 = 0,
        inputComment: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
    ) {
        self.index = index
        self.action = action
        self.returnValue = returnValue
        self.interfaceID = interfaceID
        self.inputComment = inputComment
    }
}

/// Writes a classic pcap file: nanosecond magic (`0xa1b23c4d`), version 2.4, Ethernet link type, snapshot length
/// 262144, every field little-endian, records with the timestamps they are given.
///
/// Written by hand through one buffer, so the output is a pure function of the records (byte-identical across runs and
/// machines) and costs one `write(2)` per 64 KiB. By default the file is written as `PATH.tmp` and renamed to `PATH`
/// by `close()`; a writer dropped without `close()` removes its temporary file.
public struct PcapWriter: ~Copyable {
    /// `LINKTYPE_ETHERNET`.
    public static let linkType: UInt32 = 1
    /// The snapshot length in the file header (libpcap's maximum for Ethernet).
    public static let snapshotLength = 262_144
    /// The nanosecond-resolution pcap magic number.
    public static let magic: UInt32 = 0xa1b2_3c4d

    private var file: OutputFile
    /// Records written so far.
    public private(set) var recordCount = 0
    public let format: CaptureFormat
    /// pcapng: interface description blocks written so far (interface ids below this are declared).
    private var interfacesDeclared: UInt32 = 0
    /// The largest interface id a pcapng output declares on demand (inputs with more are refused).
    public static let maximumInterfaceID: UInt32 = 65_535

    /// The path of the finished file.
    public var path: String { file.path }

    /// Creates (truncates) the file and writes the file header. `atomically: false` writes `path` directly, e.g. for
    /// `/dev/stdout`.
    public init(path: String, atomically: Bool = true, format: CaptureFormat = .pcap) throws(PcapError) {
        var file: OutputFile
        do {
            file = try OutputFile(path: path, atomically: atomically)
        } catch {
            throw PcapError(path: path, kind: .system(error))
        }
        self.format = format
        if format == .pcapng {
            // Section header block: byte-order magic, version 1.0, section length unknown (-1), shb_userappl.
            let application: StaticString = "Sluice"
            let optionLength = 4 + 8 + 4  // shb_userappl (6 bytes, padded to 8), opt_endofopt
            let total = 28 + optionLength
            let block = try! file.reserve(total)
            block.storeBytes(of: UInt32(0x0a0d_0d0a).littleEndian, toByteOffset: 0, as: UInt32.self)
            block.storeBytes(of: UInt32(total).littleEndian, toByteOffset: 4, as: UInt32.self)
            block.storeBytes(of: UInt32(0x1a2b_3c4d).littleEndian, toByteOffset: 8, as: UInt32.self)
            block.storeBytes(of: UInt16(1).littleEndian, toByteOffset: 12, as: UInt16.self)
            block.storeBytes(of: UInt16(0).littleEndian, toByteOffset: 14, as: UInt16.self)
            block.storeBytes(of: UInt64.max, toByteOffset: 16, as: UInt64.self)
            block.storeBytes(of: UInt16(4).littleEndian, toByteOffset: 24, as: UInt16.self)  // shb_userappl
            block.storeBytes(of: UInt16(application.utf8CodeUnitCount).littleEndian, toByteOffset: 26, as: UInt16.self)
            (block + 28).initializeMemory(as: UInt8.self, repeating: 0, count: 8)
            (block + 28).copyMemory(from: application.utf8Start, byteCount: application.utf8CodeUnitCount)
            block.storeBytes(of: UInt32(0), toByteOffset: 36, as: UInt32.self)  // opt_endofopt
            block.storeBytes(of: UInt32(total).littleEndian, toByteOffset: 40, as: UInt32.self)
            file.commit(total)
            self.file = file
            // libpcap refuses a pcapng file without an interface: declare interface 0 even if no packet comes.
            try! declareInterfaces(through: 0)
            return
        }
        // The header fits in an empty buffer, so this reserve never writes (and never throws).
        let header = try! file.reserve(24)
        header.storeBytes(of: Self.magic.littleEndian, toByteOffset: 0, as: UInt32.self)
        header.storeBytes(of: UInt16(2).littleEndian, toByteOffset: 4, as: UInt16.self)
        header.storeBytes(of: UInt16(4).littleEndian, toByteOffset: 6, as: UInt16.self)
        header.storeBytes(of: UInt32(0), toByteOffset: 8, as: UInt32.self)  // thiszone
        header.storeBytes(of: UInt32(0), toByteOffset: 12, as: UInt32.self)  // sigfigs
        header.storeBytes(of: UInt32(Self.snapshotLength).littleEndian, toByteOffset: 16, as: UInt32.self)
        header.storeBytes(of: Self.linkType.littleEndian, toByteOffset: 20, as: UInt32.self)
        file.commit(24)
        self.file = file
    }

    /// Appends one record. `originalLength` is the length on the wire (defaults to, and is never less than,
    /// `packet.count`). Packets longer than the snapshot length and timestamps past 2106 (32-bit seconds) are refused.
    public mutating func write(
        _ packet: UnsafeRawBufferPointer, timestampNanos: UInt64, originalLength: Int? = nil,
        annotation: PacketAnnotation? = nil
    ) throws(PcapError) {
        if format == .pcapng {
            try writeEnhancedPacket(
                packet, timestampNanos: timestampNanos, originalLength: originalLength, annotation: annotation)
            return
        }
        let seconds = timestampNanos / 1_000_000_000
        guard seconds <= UInt64(UInt32.max) else {
            throw PcapError(path: file.path, record: recordCount, kind: .timestampOutOfRange)
        }
        guard packet.count <= Self.snapshotLength else {
            throw PcapError(
                path: file.path, record: recordCount,
                kind: .recordLongerThanSnapshot(length: packet.count, snapshotLength: Self.snapshotLength))
        }
        let wireLength = UInt32(clamping: max(originalLength ?? packet.count, packet.count))
        do {
            let header = try file.reserve(16)
            header.storeBytes(of: UInt32(truncatingIfNeeded: seconds).littleEndian, toByteOffset: 0, as: UInt32.self)
            header.storeBytes(
                of: UInt32(truncatingIfNeeded: timestampNanos % 1_000_000_000).littleEndian, toByteOffset: 4,
                as: UInt32.self)
            header.storeBytes(of: UInt32(packet.count).littleEndian, toByteOffset: 8, as: UInt32.self)
            header.storeBytes(of: wireLength.littleEndian, toByteOffset: 12, as: UInt32.self)
            file.commit(16)
            try file.write(packet)
        } catch {
            throw PcapError(path: file.path, record: recordCount, kind: .system(error))
        }
        recordCount += 1
    }

    /// pcapng: an enhanced packet block, with interface description blocks first for any interface id not yet
    /// declared. Comments: "input N: VERDICT (ret R)" when annotated, then the input's own comment.
    private mutating func writeEnhancedPacket(
        _ packet: UnsafeRawBufferPointer, timestampNanos: UInt64, originalLength: Int?, annotation: PacketAnnotation?
    ) throws(PcapError) {
        guard packet.count <= Self.snapshotLength else {
            throw PcapError(
                path: file.path, record: recordCount,
                kind: .recordLongerThanSnapshot(length: packet.count, snapshotLength: Self.snapshotLength))
        }
        let interface = annotation?.interfaceID ?? 0
        guard interface <= Self.maximumInterfaceID else {
            throw PcapError(
                path: file.path, record: recordCount,
                kind: .malformed("interface id \(interface) is above \(Self.maximumInterfaceID)"))
        }
        let wireLength = UInt32(clamping: max(originalLength ?? packet.count, packet.count))
        do {
            try declareInterfaces(through: interface)
            let padding = (4 - packet.count % 4) % 4
            var optionsLength = 0
            var commentLength = 0
            if let annotation {
                commentLength = Self.commentLength(annotation)
                optionsLength += 4 + (commentLength + 3) & ~3
                let input = min(annotation.inputComment.count, 65_535)
                if input > 0 { optionsLength += 4 + (input + 3) & ~3 }
                optionsLength += 4  // opt_endofopt
            }
            let total = 28 + packet.count + padding + optionsLength + 4
            let header = try file.reserve(28)
            header.storeBytes(of: UInt32(6).littleEndian, toByteOffset: 0, as: UInt32.self)
            header.storeBytes(of: UInt32(total).littleEndian, toByteOffset: 4, as: UInt32.self)
            header.storeBytes(of: interface.littleEndian, toByteOffset: 8, as: UInt32.self)
            header.storeBytes(of: UInt32(truncatingIfNeeded: timestampNanos >> 32).littleEndian, toByteOffset: 12, as: UInt32.self)
            header.storeBytes(of: UInt32(truncatingIfNeeded: timestampNanos).littleEndian, toByteOffset: 16, as: UInt32.self)
            header.storeBytes(of: UInt32(packet.count).littleEndian, toByteOffset: 20, as: UInt32.self)
            header.storeBytes(of: wireLength.littleEndian, toByteOffset: 24, as: UInt32.self)
            file.commit(28)
            try file.write(packet)
            try file.writeZeros(padding)
            if let annotation {
                try file.writeOptionHeader(code: 1, length: commentLength)  // opt_comment
                let before = file.writtenCount
                try file.write("input ")
                try file.writeDecimal(annotation.index)
                try file.write(": ")
                try file.writeVerdict(annotation.action)
                try file.write(" (ret ")
                try file.writeDecimal(annotation.returnValue)
                try file.write(byte: UInt8(ascii: ")"))
                assert(file.writtenCount - before == commentLength)
                try file.writeZeros((4 - commentLength % 4) % 4)
                let input = min(annotation.inputComment.count, 65_535)
                if input > 0 {
                    try file.writeOptionHeader(code: 1, length: input)
                    try file.write(UnsafeRawBufferPointer(rebasing: annotation.inputComment[0..<input]))
                    try file.writeZeros((4 - input % 4) % 4)
                }
                try file.writeOptionHeader(code: 0, length: 0)
            }
            let trailer = try file.reserve(4)
            trailer.storeBytes(of: UInt32(total).littleEndian, as: UInt32.self)
            file.commit(4)
        } catch {
            throw PcapError(path: file.path, record: recordCount, kind: .system(error))
        }
        recordCount += 1
    }

    /// Interface description blocks up to `interface`: Ethernet, snapshot length, if_tsresol = 9 (nanoseconds).
    private mutating func declareInterfaces(through interface: UInt32) throws(SystemError) {
        while interfacesDeclared <= interface {
            let block = try file.reserve(32)
            block.storeBytes(of: UInt32(1).littleEndian, toByteOffset: 0, as: UInt32.self)
            block.storeBytes(of: UInt32(32).littleEndian, toByteOffset: 4, as: UInt32.self)
            block.storeBytes(of: UInt16(Self.linkType).littleEndian, toByteOffset: 8, as: UInt16.self)
            block.storeBytes(of: UInt16(0), toByteOffset: 10, as: UInt16.self)
            block.storeBytes(of: UInt32(Self.snapshotLength).littleEndian, toByteOffset: 12, as: UInt32.self)
            block.storeBytes(of: UInt16(9).littleEndian, toByteOffset: 16, as: UInt16.self)  // if_tsresol
            block.storeBytes(of: UInt16(1).littleEndian, toByteOffset: 18, as: UInt16.self)
            block.storeBytes(of: UInt32(9).littleEndian, toByteOffset: 20, as: UInt32.self)  // 10^-9, padded
            block.storeBytes(of: UInt32(0), toByteOffset: 24, as: UInt32.self)  // opt_endofopt
            block.storeBytes(of: UInt32(32).littleEndian, toByteOffset: 28, as: UInt32.self)
            file.commit(32)
            interfacesDeclared += 1
        }
    }

    /// Bytes of "input N: VERDICT (ret R)".
    static func commentLength(_ annotation: PacketAnnotation) -> Int {
        func digits(_ value: UInt64) -> Int {
            var count = 1
            var rest = value
            while rest >= 10 {
                rest /= 10
                count += 1
            }
            return count
        }
        let verdict =
            switch annotation.action {
            case .aborted: 7
            case .drop: 4
            case .pass: 4
            case .tx: 2
            case .redirect: 8
            }
        let index = annotation.index < 0 ? 1 + digits(UInt64(annotation.index.magnitude)) : digits(UInt64(annotation.index))
        return 6 + index + 2 + verdict + 6 + digits(annotation.returnValue) + 1
    }

    /// Appends the frame's packet bytes (`data ..< data + length`, without metadata) at its timestamp.
    public mutating func write(_ frame: Frame) throws(PcapError) {
        try write(UnsafeRawBufferPointer(frame.bytes), timestampNanos: frame.timestampNanos)
    }

    /// Flushes, closes and renames the file into place; reports any failure (a full disk shows up here or in
    /// `write`, as `.system(SystemError)` with `ENOSPC`).
    public consuming func close() throws(PcapError) {
        let path = file.path
        do {
            try file.close()
        } catch {
            throw PcapError(path: path, kind: .system(error))
        }
    }
}
