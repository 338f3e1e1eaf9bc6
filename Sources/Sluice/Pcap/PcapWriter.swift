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

    /// The path of the finished file.
    public var path: String { file.path }

    /// Creates (truncates) the file and writes the file header. `atomically: false` writes `path` directly, e.g. for
    /// `/dev/stdout`.
    public init(path: String, atomically: Bool = true) throws(PcapError) {
        var file: OutputFile
        do {
            file = try OutputFile(path: path, atomically: atomically)
        } catch {
            throw PcapError(path: path, kind: .system(error))
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
        _ packet: UnsafeRawBufferPointer, timestampNanos: UInt64, originalLength: Int? = nil
    ) throws(PcapError) {
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
