#if canImport(Glibc)
import Glibc
#endif

/// What libpcap does not report of a pcapng packet: its interface id and its comment (`opt_comment`).
///
/// A second, independent reading of the same file walks its blocks alongside libpcap, one packet block (enhanced,
/// simple or obsolete packet block) per record libpcap delivers. Only for regular files (a pipe can be read once).
/// If the walk ever fails (a block libpcap accepted but this reader cannot follow), it stops and later records have
/// interface 0 and no comment; the packets themselves always come from libpcap.
///
/// A plain struct of pointers: its owner (`PcapReader`) calls `close()` once. No allocation per packet: blocks are
/// read into one buffer that grows to the largest block seen.
struct PcapngPacketOptions {
    private var file: UnsafeMutablePointer<FILE>?
    private var buffer: UnsafeMutableRawPointer?
    private var capacity = 0
    private var swapped = false

    /// Blocks longer than this stop the walk (libpcap itself refuses blocks past 16 MiB).
    static let maximumBlockLength = 16 << 20

    init(path: String) {
        file = fopen(path, "rb")
    }

    static var disabled: PcapngPacketOptions {
        var options = PcapngPacketOptions(path: "")
        options.close()
        return options
    }

    mutating func close() {
        if let file { fclose(file) }
        file = nil
        buffer?.deallocate()
        buffer = nil
        capacity = 0
    }

    /// The interface id and comment of the next packet block (0 and empty once the walk has stopped).
    mutating func nextPacket() -> (interfaceID: UInt32, comment: UnsafeRawBufferPointer) {
        let none = (UInt32(0), UnsafeRawBufferPointer(start: nil, count: 0))
        while let file {
            var header = (UInt32(0), UInt32(0))
            guard fread(&header, 8, 1, file) == 1 else { return stop(none) }
            var type = header.0
            if type == 0x0a0d_0d0a {  // section header block: its byte-order magic sets the order from here on
                var magic = UInt32(0)
                guard fread(&magic, 4, 1, file) == 1 else { return stop(none) }
                if magic == 0x1a2b_3c4d { swapped = false } else if magic == 0x4d3c_2b1a { swapped = true } else {
                    return stop(none)
                }
                let length = Int(order(header.1))
                guard length >= 28, length % 4 == 0, length <= Self.maximumBlockLength,
                    fseek(file, length - 12, SEEK_CUR) == 0
                else { return stop(none) }
                continue
            }
            type = order(type)
            let length = Int(order(header.1))
            guard length >= 12, length % 4 == 0, length <= Self.maximumBlockLength else { return stop(none) }
            let body = length - 8
            guard type == 6 || type == 2 || type == 3 else {
                guard fseek(file, body, SEEK_CUR) == 0 else { return stop(none) }
                continue
            }
            guard reserve(body), let buffer, fread(buffer, body, 1, file) == 1 else { return stop(none) }
            switch type {
            case 3: return none  // simple packet block: interface 0, no options
            case 6:  // enhanced: interface(4) timestamp(8) caplen(4) len(4) data options
                guard body >= 24 else { return stop(none) }
                let interface = order(buffer.loadUnaligned(as: UInt32.self))
                let captured = Int(order(buffer.loadUnaligned(fromByteOffset: 12, as: UInt32.self)))
                return (interface, comment(in: buffer, from: 20 + ((captured + 3) & ~3), to: body - 4))
            default:  // obsolete packet block: interface(2) drops(2) timestamp(8) caplen(4) len(4) data options
                guard body >= 24 else { return stop(none) }
                let interface = UInt32(order16(buffer.loadUnaligned(as: UInt16.self)))
                let captured = Int(order(buffer.loadUnaligned(fromByteOffset: 12, as: UInt32.self)))
                return (interface, comment(in: buffer, from: 20 + ((captured + 3) & ~3), to: body - 4))
            }
        }
        return none
    }

    /// The first `opt_comment` among the options in `buffer[start..<end]`.
    private func comment(in buffer: UnsafeMutableRawPointer, from start: Int, to end: Int) -> UnsafeRawBufferPointer {
        var offset = start
        while offset + 4 <= end {
            let code = order16(buffer.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
            let length = Int(order16(buffer.loadUnaligned(fromByteOffset: offset + 2, as: UInt16.self)))
            if code == 0 || offset + 4 + length > end { break }
            if code == 1 { return UnsafeRawBufferPointer(start: buffer + offset + 4, count: length) }
            offset += 4 + ((length + 3) & ~3)
        }
        return UnsafeRawBufferPointer(start: nil, count: 0)
    }

    private mutating func reserve(_ byteCount: Int) -> Bool {
        if byteCount <= capacity { return true }
        buffer?.deallocate()
        capacity = max(byteCount, 4096)
        buffer = .allocate(byteCount: capacity, alignment: 8)
        return true
    }

    private mutating func stop<T>(_ value: T) -> T {
        close()
        return value
    }

    private func order(_ value: UInt32) -> UInt32 { swapped ? value.byteSwapped : value }
    private func order16(_ value: UInt16) -> UInt16 { swapped ? value.byteSwapped : value }
}
