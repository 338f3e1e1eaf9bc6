import Testing

@testable import BPFVM

@Suite("bpf_csum_diff")
struct HelperChecksumTests {
    /// Calls `bpf_csum_diff(from, fromSize, to, toSize, seed)` on two byte arrays.
    static func csumDiff(from: [UInt8], to: [UInt8], seed: UInt32 = 0) -> UInt64 {
        from.withUnsafeBytes { f in
            to.withUnsafeBytes { t in
                ChecksumHelpers.csumDiff(
                    nil, UInt64(UInt(bitPattern: f.baseAddress)), UInt64(from.count),
                    UInt64(UInt(bitPattern: t.baseAddress)), UInt64(to.count), UInt64(seed))
            }
        }
    }

    /// The bytes a little-endian host stores for a 16-bit value (how a program writes the checksum field).
    static func stored(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xff), UInt8(value >> 8)] }

    @Test("RFC 1071 §3 example: the sum of 00 01 f2 03 f4 f5 f6 f7 is dd f2, its checksum 22 0d")
    func rfc1071Example() {
        let sum = Self.csumDiff(from: [], to: [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7])
        #expect(Self.stored(UInt16(sum)) == [0xdd, 0xf2])
        #expect(Self.stored(~UInt16(sum)) == [0x22, 0x0d])
    }

    @Test("an IPv4 header checksum computed from scratch matches the well-known b8 61")
    func ipv4Header() {
        let header: [UInt8] = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01,
            0xc0, 0xa8, 0x00, 0xc7,
        ]
        #expect(Self.stored(~UInt16(Self.csumDiff(from: [], to: header))) == [0xb8, 0x61])
    }

    @Test("incremental update (old word out, new word in, seeded with the old checksum) equals a full recompute")
    func incrementalUpdate() {
        var header: [UInt8] = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01,
            0xc0, 0xa8, 0x00, 0xc7,
        ]
        let oldWord = Array(header[8..<12])
        header[8] = 0x3f  // TTL 64 → 63
        var newWord = Array(header[8..<12])
        newWord[2] = 0
        newWord[3] = 0  // the checksum field itself counts as zero in both
        var oldWordZeroed = oldWord
        oldWordZeroed[2] = 0
        oldWordZeroed[3] = 0
        let oldChecksum = UInt16(oldWord[2]) | UInt16(oldWord[3]) << 8
        let updated = ~UInt16(Self.csumDiff(from: oldWordZeroed, to: newWord, seed: UInt32(~oldChecksum)))
        header[10] = 0
        header[11] = 0
        let recomputed = ~UInt16(Self.csumDiff(from: [], to: header))
        #expect(updated == recomputed)
        #expect(Self.stored(recomputed) == [0xb9, 0x61])
    }

    @Test("zero inputs: 0 when nothing is summed, 0xffff when equal data is subtracted (end-around carry)")
    func zeroRepresentations() {
        #expect(Self.csumDiff(from: [], to: []) == 0)
        #expect(Self.csumDiff(from: [], to: [], seed: 5) == 5)
        #expect(Self.csumDiff(from: [0, 0, 0, 0], to: [0, 0, 0, 0]) == 0xffff)
        #expect(Self.csumDiff(from: [0, 0, 0, 0, 0, 0, 0, 0], to: []) == 0)
        #expect(Self.csumDiff(from: [], to: [0, 0, 0, 0], seed: 0xffff_ffff) == 0xffff)
    }

    @Test("odd sizes are accepted (Linux ≥ 6.12) and a trailing byte is the low byte of a word")
    func oddSizes() {
        #expect(Self.csumDiff(from: [], to: [0x12]) == 0x0012)
        #expect(Self.csumDiff(from: [], to: [0x12, 0x34, 0x56]) == 0x3412 + 0x0056)
        #expect(Self.csumDiff(from: [0x01], to: []) == UInt64(~UInt16(0x0001)))
    }

    /// The byte generator of the kernel comparison program: an LCG seeded with `fill`.
    static func kernelProbeBuffer(fill: UInt32) -> [UInt8] {
        var x = fill
        return (0..<256).map { _ in
            x = x &* 1_103_515_245 &+ 12345
            return UInt8((x >> 16) & 0xff)
        }
    }

    /// Rows observed on Linux 6.18 x86-64: `bpf_csum_diff(buf, fs, buf + 128, ts, seed)` over `kernelProbeBuffer`.
    static let kernelVectors: [(fromSize: Int, toSize: Int, seed: UInt32, fill: UInt32, result: UInt64)] = [
        (3, 0, 0, 2, 56692), (0, 3, 0, 2, 32699), (1, 1, 0, 2, 65474), (7, 5, 305_419_896, 2, 63169),
        (0, 0, 4_294_967_295, 2, 65535), (5, 2, 0, 76, 13105), (13, 1, 1_570_621_944, 61, 33851),
        (3, 100, 2_694_805_173, 972, 45290), (0, 40, 4_294_967_295, 52, 34619), (16, 40, 1, 383, 63318),
        (127, 2, 1, 85, 12138), (1, 1, 4_294_967_295, 170, 65495), (127, 6, 65535, 610, 948),
        (64, 127, 1_329_753_547, 699, 23516), (7, 16, 4_294_967_295, 369, 60862), (3, 0, 2_082_899_071, 188, 47786),
    ]

    @Test("matches the kernel's results bit for bit", arguments: kernelVectors.indices)
    func kernelVector(_ index: Int) {
        let v = Self.kernelVectors[index]
        let buffer = Self.kernelProbeBuffer(fill: v.fill)
        let result = buffer.withUnsafeBytes { b in
            let base = UInt64(UInt(bitPattern: b.baseAddress))
            return ChecksumHelpers.csumDiff(nil, base, UInt64(v.fromSize), base + 128, UInt64(v.toSize), UInt64(v.seed))
        }
        #expect(result == v.result)
    }
}
