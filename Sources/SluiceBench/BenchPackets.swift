import Sluice
import BPFVM

#if canImport(Glibc)
    import Glibc
#endif

/// Synthetic traffic for `sluice bench --synthetic`: Ethernet/IPv4 frames with valid IPv4 header checksums, varied
/// addresses and ports, generated deterministically from a seed (the same seed gives the same frames).
public enum SyntheticTraffic: String, CaseIterable, Sendable {
    /// IPv4/UDP, 10 % to the discard port (9), the rest to ports 1000+: parse_bench's main path.
    case udp
    /// IPv4/TCP (SYN to port 80).
    case tcp
    /// 85 % UDP, 8 % TCP, 5 % IPv6/UDP, 2 % ARP (the shape of `scripts/make-pcaps.py --bench`).
    case mixed

    /// `count` frames of `size` bytes on the wire, without FCS (at least 60; IPv6 and ARP frames keep their natural
    /// size when `size` is smaller than it).
    public func frames(count: Int, size: Int = 64, seed: UInt64 = 0x5eed) -> [[UInt8]] {
        var random = SplitMix64(seed: seed)
        var frames: [[UInt8]] = []
        frames.reserveCapacity(count)
        let size = min(max(size, 60), XDPFrameGeometry.maxLinearData)
        for _ in 0..<count {
            let kind = Int(random.next() % 100)
            switch self {
            case .udp: frames.append(Self.udp4(&random, discard: kind < 10, size: size))
            case .tcp: frames.append(Self.tcp4(&random, size: size))
            case .mixed:
                if kind < 85 {
                    frames.append(Self.udp4(&random, discard: kind < 10, size: size))
                } else if kind < 93 {
                    frames.append(Self.tcp4(&random, size: size))
                } else if kind < 98 {
                    frames.append(Self.udp6(&random, size: size))
                } else {
                    frames.append(Self.arp(size: size))
                }
            }
        }
        return frames
    }

    static let serverMAC: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01]
    static let clientMAC: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02]

    /// An IPv4/UDP frame of `size` bytes from 10.0.x.y to 10.0.0.1.
    public static func udp4(sourcePort: UInt16, destinationPort: UInt16, source: UInt32 = 0x0A00_0002, size: Int)
        -> [UInt8]
    {
        var frame = ethernet(type: 0x0800, size: max(size, 42))
        ipv4(&frame, protocol: 17, source: source)
        put16(&frame, 34, sourcePort)
        put16(&frame, 36, destinationPort)
        put16(&frame, 38, UInt16(frame.count - 34))
        return frame
    }

    static func udp4(_ random: inout SplitMix64, discard: Bool, size: Int) -> [UInt8] {
        let r = random.next()
        return udp4(
            sourcePort: 1024 + UInt16(r & 0xfff), destinationPort: discard ? 9 : 1000 + UInt16((r >> 12) % 100),
            source: 0x0A00_0000 | UInt32((r >> 32) & 0xffff), size: size)
    }

    static func tcp4(_ random: inout SplitMix64, size: Int) -> [UInt8] {
        let r = random.next()
        var frame = ethernet(type: 0x0800, size: max(size, 54))
        ipv4(&frame, protocol: 6, source: 0x0A00_0000 | UInt32(r & 0xffff))
        put16(&frame, 34, 1024 + UInt16((r >> 16) & 0xfff))
        put16(&frame, 36, 80)
        frame[46] = 5 << 4  // data offset
        frame[47] = 0x02  // SYN
        put16(&frame, 48, 65535)
        return frame
    }

    static func udp6(_ random: inout SplitMix64, size: Int) -> [UInt8] {
        var frame = ethernet(type: 0x86DD, size: max(size, 62))
        frame[14] = 0x60
        put16(&frame, 18, UInt16(frame.count - 54))
        frame[20] = 17
        frame[21] = 64
        frame[22] = 0xfd
        frame[37] = UInt8(truncatingIfNeeded: random.next())
        frame[38] = 0xfd
        frame[53] = 1
        put16(&frame, 54, 5353)
        put16(&frame, 56, 53)
        put16(&frame, 58, UInt16(frame.count - 54))
        return frame
    }

    static func arp(size: Int) -> [UInt8] {
        var frame = ethernet(type: 0x0806, size: max(size, 42))
        for i in 0..<6 { frame[i] = 0xff }
        put16(&frame, 14, 1)
        put16(&frame, 16, 0x0800)
        frame[18] = 6
        frame[19] = 4
        put16(&frame, 20, 1)
        for i in 0..<6 { frame[22 + i] = clientMAC[i] }
        put32(&frame, 28, 0x0A00_0002)
        put32(&frame, 38, 0x0A00_0001)
        return frame
    }

    static func ethernet(type: UInt16, size: Int) -> [UInt8] {
        var frame = [UInt8](repeating: 0, count: size)
        for i in 0..<6 {
            frame[i] = serverMAC[i]
            frame[6 + i] = clientMAC[i]
        }
        put16(&frame, 12, type)
        return frame
    }

    /// A 20-byte IPv4 header at offset 14 covering the rest of the frame, with its checksum.
    static func ipv4(_ frame: inout [UInt8], protocol: UInt8, source: UInt32) {
        frame[14] = 0x45
        put16(&frame, 16, UInt16(frame.count - 14))
        frame[22] = 64
        frame[23] = `protocol`
        put32(&frame, 26, source)
        put32(&frame, 30, 0x0A00_0001)
        var sum: UInt32 = 0
        for i in stride(from: 14, to: 34, by: 2) { sum += UInt32(frame[i]) << 8 | UInt32(frame[i + 1]) }
        while sum > 0xffff { sum = (sum & 0xffff) + (sum >> 16) }
        put16(&frame, 24, ~UInt16(sum))
    }

    static func put16(_ frame: inout [UInt8], _ offset: Int, _ value: UInt16) {
        frame[offset] = UInt8(value >> 8)
        frame[offset + 1] = UInt8(value & 0xff)
    }

    static func put32(_ frame: inout [UInt8], _ offset: Int, _ value: UInt32) {
        put16(&frame, offset, UInt16(value >> 16))
        put16(&frame, offset + 2, UInt16(value & 0xffff))
    }
}


/// Packets held in memory for the timed loops: one contiguous byte area plus (offset, length) per packet, so the
/// loop touches no array and no file.
public final class BenchPackets {
    public let count: Int
    let bytes: UnsafeMutableRawPointer
    let offsets: UnsafeMutablePointer<Int>
    let lengths: UnsafeMutablePointer<Int>
    /// The packets as arrays (for the kernel runner, which takes `[UInt8]`).
    public let frames: [[UInt8]]
    /// Packets the kernel's test run refuses (shorter than an Ethernet header) were left out; how many.
    public let skippedShort: Int
    /// Packets longer than the linear XDP buffer were cut to it (as the kernel's test run shows the program only the
    /// linear part); how many.
    public let truncatedToLinear: Int

    public init(frames input: [[UInt8]]) {
        var frames: [[UInt8]] = []
        var short = 0
        var long = 0
        for frame in input {
            if frame.count < 14 {
                short += 1
                continue
            }
            if frame.count > XDPFrameGeometry.maxLinearData {
                long += 1
                frames.append(Array(frame.prefix(XDPFrameGeometry.maxLinearData)))
            } else {
                frames.append(frame)
            }
        }
        self.frames = frames
        skippedShort = short
        truncatedToLinear = long
        count = frames.count
        let total = frames.reduce(0) { $0 + $1.count }
        bytes = .allocate(byteCount: max(total, 1), alignment: 64)
        offsets = .allocate(capacity: max(count, 1))
        lengths = .allocate(capacity: max(count, 1))
        var offset = 0
        for (i, frame) in frames.enumerated() {
            frame.withUnsafeBytes { (bytes + offset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            offsets[i] = offset
            lengths[i] = frame.count
            offset += frame.count
        }
    }

    deinit {
        bytes.deallocate()
        offsets.deallocate()
        lengths.deallocate()
    }

    /// Reads every record of a capture.
    public convenience init(capturePath: String, limit: Int? = nil) throws(PcapError) {
        var reader = try PcapReader(path: capturePath)
        var frames: [[UInt8]] = []
        while limit.map({ frames.count < $0 }) ?? true, let record = try reader.next() {
            frames.append(Array(record.bytes))
        }
        self.init(frames: frames)
    }

    /// Writes the packets as a pcap (for the replay measurements), timestamps 1 µs apart.
    public func writeCapture(path: String) throws(PcapError) {
        var writer = try PcapWriter(path: path)
        for i in 0..<count {
            try writer.write(
                UnsafeRawBufferPointer(start: bytes + offsets[i], count: lengths[i]),
                timestampNanos: 1_700_000_000_000_000_000 + UInt64(i) * 1000)
        }
        try writer.close()
    }

    public var meanLength: Double { count == 0 ? 0 : Double(frames.reduce(0) { $0 + $1.count }) / Double(count) }
}
