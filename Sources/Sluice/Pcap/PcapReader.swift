import CLibPcap

#if canImport(Glibc)
import Glibc
#endif

/// One packet record, borrowed from the reader: `bytes` point into libpcap's buffer and stay valid until the next
/// call to `next` or until the reader goes away.
public struct PcapRecord {
    /// 0-based index of the record among the capture's packet records.
    public var index: Int
    /// Capture time in nanoseconds since the epoch, whatever the file's resolution.
    public var timestampNanos: UInt64
    /// The captured bytes (`caplen` of them).
    public var bytes: UnsafeRawBufferPointer
    /// The packet's length on the wire (`len`).
    public var originalLength: Int

    /// `caplen`.
    @inlinable public var capturedLength: Int { bytes.count }
    /// The capture holds only a prefix of the packet (`caplen < len`).
    @inlinable public var isTruncated: Bool { bytes.count < originalLength }
}

/// Reads an Ethernet capture, pcap or pcapng, with libpcap, one record at a time and without allocating per record.
///
/// Timestamps always come out in nanoseconds (microsecond files are scaled up). Errors name the record at fault:
///
/// - a file that is neither pcap nor pcapng, or whose classic header is cut short, is refused before libpcap sees it
///   (for regular files; pipes such as `<(zcat x.pcap.gz)` are left to libpcap, and there the snapshot-length check
///   below is not possible);
/// - a link type other than Ethernet (`DLT_EN10MB`) is refused with its name;
/// - a record cut short by the end of the file is "capture truncated in record N";
/// - a record longer than the snapshot length is an error (libpcap would silently cut classic-pcap records that are
///   longer than the header's snapshot length, so the reader checks the file position when a record comes back at
///   exactly the snapshot length);
/// - a record with zero captured bytes is an error: there is no frame to run a program on, and skipping it would shift
///   every later record's index relative to the capture;
/// - a record with fewer captured than original bytes (`caplen < len`, taken with a snapshot length) is delivered as it
///   is and counted in `truncatedRecordCount`.
public struct PcapReader: ~Copyable {
    public enum Format: Hashable, Sendable {
        /// Classic pcap, microsecond or nanosecond resolution.
        case pcap
        case pcapng
    }

    /// The largest captured length libpcap accepts for Ethernet; a frame buffer with this much room after
    /// `Frame.kernelHeadroom` can hold any record.
    public static let maximumRecordLength = 262_144

    public let path: String
    public let format: Format
    /// The capture's snapshot length as libpcap applies it (0 or oversized values in the file become 262144).
    public let snapshotLength: Int
    /// Records delivered so far: the index of the next record.
    public private(set) var recordsRead = 0
    /// Records delivered with `caplen < len`.
    public private(set) var truncatedRecordCount = 0

    private let handle: OpaquePointer
    private let isClassic: Bool
    /// Classic pcap: bytes of each record header, and the file offset where the next record starts.
    private let recordHeaderSize: Int
    private var nextRecordOffset: Int

    public init(path: String) throws(PcapError) {
        let identified = try Self.identify(path: path)
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        let opened = pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errorBuffer)
        guard let handle = opened else {
            let message = Self.string(errorBuffer)
            let kind: PcapError.Kind =
                message.contains("truncated")
                ? .truncated : message.contains("unknown file format") ? .notCapture(magic: nil) : .malformed(message)
            throw PcapError(path: path, kind: kind)
        }
        let linkType = pcap_datalink(handle)
        guard linkType == DLT_EN10MB else {
            let name = pcap_datalink_val_to_name(linkType).map { String(cString: $0) } ?? "DLT \(linkType)"
            pcap_close(handle)
            throw PcapError(path: path, kind: .unsupportedLinkType(linkType, name: name))
        }
        self.handle = handle
        self.path = path
        // libpcap reports pcapng files as version 1.x, classic ones as 2.x (or 543.0).
        let format = identified?.format ?? (pcap_major_version(handle) == 1 ? .pcapng : .pcap)
        self.format = format
        self.snapshotLength = Int(pcap_snapshot(handle))
        self.isClassic = format == .pcap
        self.recordHeaderSize = identified?.recordHeaderSize ?? 16
        self.nextRecordOffset = 24
    }

    deinit { pcap_close(handle) }

    /// How far into the file reading has got, in bytes (for progress and ETA); nil for pipes.
    public var bytePosition: Int? {
        guard let file = pcap_file(handle) else { return nil }
        let position = ftell(file)
        return position >= 0 ? position : nil
    }

    /// The file's size in bytes; nil for pipes and devices.
    public var fileSize: Int? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int(info.st_size)
    }

    /// The next record, or `nil` at the end of the capture.
    public mutating func next() throws(PcapError) -> PcapRecord? {
        var header: UnsafeMutablePointer<pcap_pkthdr>? = nil
        var data: UnsafePointer<UInt8>? = nil
        let status = pcap_next_ex(handle, &header, &data)
        if status == PCAP_ERROR_BREAK { return nil }
        guard status == 1, let header else { throw libpcapFailure() }

        let index = recordsRead
        let capturedLength = Int(header.pointee.caplen)
        let originalLength = Int(header.pointee.len)
        guard capturedLength > 0, let data else { throw PcapError(path: path, record: index, kind: .emptyRecord) }
        if isClassic {
            let expectedEnd = nextRecordOffset + recordHeaderSize + capturedLength
            // libpcap cuts a record longer than the snapshot length down to it and skips the rest; only then does the
            // file position run ahead of the record as reported.
            if capturedLength == snapshotLength, let file = pcap_file(handle) {
                let position = ftell(file)
                if position > expectedEnd {
                    throw PcapError(
                        path: path, record: index,
                        kind: .recordLongerThanSnapshot(
                            length: position - nextRecordOffset - recordHeaderSize, snapshotLength: snapshotLength))
                }
            }
            nextRecordOffset = expectedEnd
        }
        guard let timestamp = timestampNanos(header.pointee.ts) else {
            throw PcapError(path: path, record: index, kind: .timestampOutOfRange)
        }
        if capturedLength < originalLength { truncatedRecordCount += 1 }
        recordsRead = index + 1
        return PcapRecord(
            index: index, timestampNanos: timestamp,
            bytes: UnsafeRawBufferPointer(start: data, count: capturedLength), originalLength: originalLength)
    }

    /// Reads the next record into `frame`: its bytes are copied to `frame.buffer + Frame.kernelHeadroom`, `dataOffset`,
    /// `length`, `metaLength` (0) and `timestampNanos` are set. Returns the record (for its index, original length
    /// and truncation), or `nil` at the end of the capture. A frame buffer of
    /// `Frame.kernelHeadroom + PcapReader.maximumRecordLength` bytes fits any record; a smaller one throws
    /// `.frameTooSmall` for records that do not fit.
    public mutating func next(into frame: inout Frame) throws(PcapError) -> PcapRecord? {
        guard let record = try next() else { return nil }
        let capacity = frame.bufferSize - Frame.kernelHeadroom
        guard record.bytes.count <= capacity, let source = record.bytes.baseAddress else {
            throw PcapError(
                path: path, record: record.index, kind: .frameTooSmall(length: record.bytes.count, capacity: capacity))
        }
        (frame.buffer + Frame.kernelHeadroom).copyMemory(from: source, byteCount: record.bytes.count)
        frame.dataOffset = Frame.kernelHeadroom
        frame.length = record.bytes.count
        frame.metaLength = 0
        frame.timestampNanos = record.timestampNanos
        return record
    }

    // MARK: - Private

    /// With nanosecond precision requested, libpcap puts nanoseconds in `tv_usec`. Classic pcap stores 32-bit
    /// unsigned seconds that libpcap reads as signed, so they are taken back modulo 2³².
    @inline(__always)
    private func timestampNanos(_ time: timeval) -> UInt64? {
        guard time.tv_usec >= 0 else { return nil }
        let seconds: UInt64
        if isClassic {
            seconds = UInt64(UInt32(truncatingIfNeeded: time.tv_sec))
        } else {
            guard time.tv_sec >= 0 else { return nil }
            seconds = UInt64(time.tv_sec)
        }
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (total, carry) = whole.addingReportingOverflow(UInt64(time.tv_usec))
        return overflow || carry ? nil : total
    }

    private func libpcapFailure() -> PcapError {
        let message = String(cString: pcap_geterr(handle))
        let record = recordsRead
        if message.contains("truncated") { return PcapError(path: path, record: record, kind: .truncated) }
        // "invalid packet capture length N, bigger than snaplen of S" (or "… maximum of M").
        let prefix = "invalid packet capture length "
        if message.hasPrefix(prefix) {
            let length = Int(message.dropFirst(prefix.count).prefix(while: { $0.isNumber }))
            return PcapError(
                path: path, record: record,
                kind: .recordLongerThanSnapshot(length: length, snapshotLength: snapshotLength))
        }
        return PcapError(path: path, record: record, kind: .malformed(message))
    }

    private static func string(_ buffer: [CChar]) -> String {
        let bytes = buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Reads the first bytes of a regular file to tell pcap from pcapng from anything else, and a truncated classic
    /// header from a bad one (libpcap reports both less clearly). Returns the format and the classic record header
    /// size, or `nil` for a pipe or device, whose first bytes only libpcap may consume.
    private static func identify(path: String) throws(PcapError) -> (format: Format, recordHeaderSize: Int)? {
        var status = stat()
        do {
            try SystemError.check("stat", context: path) { stat(path, &status) }
        } catch {
            throw PcapError(path: path, kind: .system(error))
        }
        guard status.st_mode & S_IFMT == S_IFREG else { return nil }
        let fd: Int32
        do {
            fd = try SystemError.check("open", context: path) { open(path, O_RDONLY | O_CLOEXEC) }
        } catch {
            throw PcapError(path: path, kind: .system(error))
        }
        defer { _ = close(fd) }
        var header = (UInt64(0), UInt64(0), UInt64(0))  // 24 bytes
        var filled = 0
        while filled < 24 {
            let got = withUnsafeMutableBytes(of: &header) { bytes in
                read(fd, bytes.baseAddress! + filled, 24 - filled)
            }
            if got < 0 && errno == EINTR { continue }
            if got < 0 {
                throw PcapError(path: path, kind: .system(SystemError(call: "read", errno: errno, context: path)))
            }
            if got == 0 { break }
            filled += got
        }
        guard filled >= 4 else { throw PcapError(path: path, kind: .notCapture(magic: nil)) }
        let magic = withUnsafeBytes(of: &header) { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
        let recordHeaderSize: Int
        switch magic {
        case 0x0a0d_0d0a:
            return (.pcapng, 0)
        case 0xa1b2_c3d4, 0xd4c3_b2a1, 0xa1b2_3c4d, 0x4d3c_b2a1:  // microseconds, nanoseconds; either byte order
            recordHeaderSize = 16
        case 0xa1b2_cd34, 0x34cd_b2a1:  // Alexey Kuznetzov's patched format: 8 more bytes per record header
            recordHeaderSize = 24
        default:
            throw PcapError(path: path, kind: .notCapture(magic: magic))
        }
        guard filled == 24 else { throw PcapError(path: path, kind: .truncated) }
        return (.pcap, recordHeaderSize)
    }
}
