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
    /// pcapng: the interface id of the packet's block (0 for classic pcap and simple packet blocks).
    public var interfaceID: UInt32 = 0
    /// pcapng: the packet's first `opt_comment` (UTF-8 bytes, empty when none), valid as long as `bytes`.
    public var comment = UnsafeRawBufferPointer(start: nil, count: 0)

    /// `caplen`.
    @inlinable public var capturedLength: Int { bytes.count }
    /// The capture holds only a prefix of the packet (`caplen < len`).
    @inlinable public var isTruncated: Bool { bytes.count < originalLength }
}

/// The link types a capture may have, and how a non-Ethernet one becomes Ethernet with `synthesizeEthernet`.
public enum CaptureLinkType: Hashable, Sendable {
    /// `LINKTYPE_ETHERNET` (1).
    case ethernet
    /// `LINKTYPE_RAW` (101): an IPv4 or IPv6 packet, told apart by its version nibble.
    case rawIP
    /// `LINKTYPE_IPV4` (228).
    case ipv4
    /// `LINKTYPE_IPV6` (229).
    case ipv6
    /// `LINKTYPE_LINUX_SLL` (113): Linux "cooked" capture, 16-byte header.
    case linuxSLL
    /// `LINKTYPE_LINUX_SLL2` (276): Linux "cooked" capture v2, 20-byte header.
    case linuxSLL2

    /// The type of libpcap's `DLT_` value, or nil for one Sluice cannot turn into Ethernet.
    init?(dlt: Int32) {
        switch dlt {
        case DLT_EN10MB: self = .ethernet
        case 12, 14: self = .rawIP  // DLT_RAW: 12 on Linux, 14 on OpenBSD; libpcap maps LINKTYPE_RAW (101) to it
        case DLT_IPV4: self = .ipv4
        case DLT_IPV6: self = .ipv6
        case DLT_LINUX_SLL: self = .linuxSLL
        case DLT_LINUX_SLL2: self = .linuxSLL2
        default: return nil
        }
    }

    /// The `LINKTYPE_` number a capture file stores (libpcap reports `DLT_RAW` for `LINKTYPE_RAW` 101).
    static func fileLinkType(dlt: Int32) -> Int32 { dlt == 12 || dlt == 14 ? 101 : dlt }

    /// Bytes of the link-layer header that synthesis removes.
    var headerLength: Int {
        switch self {
        case .ethernet, .rawIP, .ipv4, .ipv6: 0
        case .linuxSLL: 16
        case .linuxSLL2: 20
        }
    }
}

/// Reads an Ethernet capture, pcap or pcapng, with libpcap, one record at a time and without allocating per record.
///
/// Timestamps always come out in nanoseconds (microsecond files are scaled up). Errors name the record at fault:
///
/// - a file that is neither pcap nor pcapng, or whose classic header is cut short, is refused before libpcap sees it
///   (for regular files; pipes such as `<(zcat x.pcap.gz)` are left to libpcap, and there the snapshot-length check
///   below is not possible);
/// - a link type other than Ethernet (`DLT_EN10MB`) is refused with its name and number, unless
///   `synthesizeEthernet` is set and it is raw IP (101, 228, 229) or Linux cooked (113, 276): then each record gets an
///   Ethernet header in front (`CaptureLinkType`; see `synthesizeEthernetHeader`);
/// - a record cut short by the end of the file is "capture truncated in record N";
/// - a record longer than the snapshot length is an error (libpcap would silently cut classic-pcap records that are
///   longer than the header's snapshot length, so the reader checks the file position when a record comes back at
///   exactly the snapshot length);
/// - a record with zero captured bytes is delivered with an empty `bytes` (the replay refuses it as the kernel's test run
///   refuses frames shorter than an Ethernet header; skipping it would shift every later record's index);
/// - a timestamp past what a classic pcap can hold (2106-02-07, 32-bit seconds) is refused here, naming the record, so
///   that it is not the output file's writer that fails;
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

    /// The capture's link type (before any synthesis).
    public let linkType: CaptureLinkType
    /// Records get a synthesised Ethernet header (the capture is not Ethernet and `synthesizeEthernet` was set).
    public let synthesizesEthernet: Bool

    private let handle: OpaquePointer
    /// Where synthesised records are assembled (only when `synthesizesEthernet`).
    private let scratch: UnsafeMutableRawPointer?
    private let isClassic: Bool
    /// pcapng: interface ids and comments, which libpcap does not report.
    private var packetOptions: PcapngPacketOptions
    /// Classic pcap: bytes of each record header, and the file offset where the next record starts.
    private let recordHeaderSize: Int
    private var nextRecordOffset: Int

    /// Opens `path` (`-`: standard input). `synthesizeEthernet` accepts raw-IP and Linux cooked captures.
    public init(path: String, synthesizeEthernet: Bool = false) throws(PcapError) {
        let identified = path == "-" ? nil : try Self.identify(path: path)
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        let opened = pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errorBuffer)
        guard let handle = opened else {
            let message = Self.string(errorBuffer)
            let kind: PcapError.Kind =
                message.contains("truncated")
                ? .truncated : message.contains("unknown file format") ? .notCapture(magic: nil) : .malformed(message)
            throw PcapError(path: path, kind: kind)
        }
        let dlt = pcap_datalink(handle)
        let linkType = CaptureLinkType(dlt: dlt)
        guard let linkType, linkType == .ethernet || synthesizeEthernet else {
            let name = pcap_datalink_val_to_name(dlt).map { String(cString: $0) } ?? "DLT \(dlt)"
            let description = pcap_datalink_val_to_description(dlt).map { String(cString: $0) }
            pcap_close(handle)
            throw PcapError(
                path: path,
                kind: .unsupportedLinkType(
                    CaptureLinkType.fileLinkType(dlt: dlt), name: name, description: description,
                    canSynthesize: linkType != nil))
        }
        self.handle = handle
        self.linkType = linkType
        self.synthesizesEthernet = linkType != .ethernet
        self.scratch =
            linkType != .ethernet
            ? .allocate(byteCount: Self.maximumRecordLength + 14, alignment: 16) : nil
        self.path = path
        // libpcap reports pcapng files as version 1.x, classic ones as 2.x (or 543.0).
        let format = identified?.format ?? (pcap_major_version(handle) == 1 ? .pcapng : .pcap)
        self.format = format
        self.snapshotLength = Int(pcap_snapshot(handle))
        self.isClassic = format == .pcap
        self.packetOptions = format == .pcapng && identified != nil ? PcapngPacketOptions(path: path) : .disabled
        self.recordHeaderSize = identified?.recordHeaderSize ?? 16
        self.nextRecordOffset = 24
    }

    deinit {
        pcap_close(handle)
        scratch?.deallocate()
        var options = packetOptions
        options.close()
    }

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
        var bytes = UnsafeRawBufferPointer(start: capturedLength > 0 ? data : nil, count: capturedLength)
        var wireLength = originalLength
        if let scratch {
            (bytes, wireLength) = Self.synthesizeEthernetHeader(
                bytes, originalLength: originalLength, linkType: linkType, into: scratch)
        }
        var record = PcapRecord(index: index, timestampNanos: timestamp, bytes: bytes, originalLength: wireLength)
        if !isClassic { (record.interfaceID, record.comment) = packetOptions.nextPacket() }
        return record
    }

    /// Puts an Ethernet header in front of a non-Ethernet record, in `scratch` (room for `maximumRecordLength + 14`).
    ///
    /// Raw IP: destination and source 00:00:00:00:00:00, EtherType 0x0800 or 0x86dd from the IP version (the link
    /// type for 228/229, the version nibble for 101; neither 4 nor 6 gives 0x0800). Linux cooked (SLL, SLL2): the
    /// cooked header is replaced: destination 00:00:00:00:00:00, source the header's link-layer address when it is
    /// 6 bytes long (else zero), EtherType the header's protocol field. A record shorter than its cooked header has
    /// no packet in it and comes out empty (so it is refused like any runt).
    static func synthesizeEthernetHeader(
        _ bytes: UnsafeRawBufferPointer, originalLength: Int, linkType: CaptureLinkType,
        into scratch: UnsafeMutableRawPointer
    ) -> (bytes: UnsafeRawBufferPointer, originalLength: Int) {
        if bytes.isEmpty || linkType == .ethernet { return (bytes, originalLength) }
        let header = linkType.headerLength
        guard bytes.count >= header else { return (UnsafeRawBufferPointer(start: nil, count: 0), 0) }
        scratch.initializeMemory(as: UInt8.self, repeating: 0, count: 12)
        let etherType: UInt16
        switch linkType {
        case .ethernet: return (bytes, originalLength)
        case .rawIP: etherType = bytes[0] >> 4 == 6 ? 0x86dd : 0x0800
        case .ipv4: etherType = 0x0800
        case .ipv6: etherType = 0x86dd
        case .linuxSLL:
            // pkttype(2) hatype(2) halen(2) addr(8) protocol(2)
            if bytes[4] == 0 && bytes[5] == 6 { (scratch + 6).copyMemory(from: bytes.baseAddress! + 6, byteCount: 6) }
            etherType = UInt16(bytes[14]) << 8 | UInt16(bytes[15])
        case .linuxSLL2:
            // protocol(2) reserved(2) ifindex(4) hatype(2) pkttype(1) halen(1) addr(8)
            if bytes[11] == 6 { (scratch + 6).copyMemory(from: bytes.baseAddress! + 12, byteCount: 6) }
            etherType = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        }
        scratch.storeBytes(of: etherType.bigEndian, toByteOffset: 12, as: UInt16.self)
        let payload = bytes.count - header
        if payload > 0 { (scratch + 14).copyMemory(from: bytes.baseAddress! + header, byteCount: payload) }
        return (UnsafeRawBufferPointer(start: scratch, count: 14 + payload), max(originalLength - header, 0) + 14)
    }

    /// Reads the next record into `frame`: its bytes are copied to `frame.buffer + Frame.kernelHeadroom`, `dataOffset`,
    /// `length`, `metaLength` (0) and `timestampNanos` are set. Returns the record (for its index, original length
    /// and truncation), or `nil` at the end of the capture. A frame buffer of
    /// `Frame.kernelHeadroom + PcapReader.maximumRecordLength` bytes fits any record; a smaller one throws
    /// `.frameTooSmall` for records that do not fit.
    public mutating func next(into frame: inout Frame) throws(PcapError) -> PcapRecord? {
        guard let record = try next() else { return nil }
        let capacity = frame.bufferSize - Frame.kernelHeadroom
        guard record.bytes.count <= capacity else {
            throw PcapError(
                path: path, record: record.index, kind: .frameTooSmall(length: record.bytes.count, capacity: capacity))
        }
        if let source = record.bytes.baseAddress {
            (frame.buffer + Frame.kernelHeadroom).copyMemory(from: source, byteCount: record.bytes.count)
        }
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
        // pcapng's 64-bit timestamps go further than any pcap this replay writes (32-bit seconds).
        guard seconds <= UInt64(UInt32.max) else { return nil }
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
        if status.st_mode & S_IFMT == S_IFDIR {
            throw PcapError(path: path, kind: .system(SystemError(call: "open", errno: EISDIR, context: path)))
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
            if got < 0 && Errno.current == .interrupted { continue }
            if got < 0 {
                throw PcapError(path: path, kind: .system(SystemError(call: "read", errno: Errno.current.rawValue, context: path)))
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
