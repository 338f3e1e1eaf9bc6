/// `bpf_csum_diff` and the Internet-checksum arithmetic it is built from, as Linux 6.18 on x86-64 computes it.
///
/// Sums are 32-bit ones'-complement values (`__wsum`) of the bytes taken as little-endian words, like the host's
/// `csum_partial`: the residue is what RFC 1071 defines, and the exact 32-bit representation matches x86-64's
/// `csum_partial` (a trailing 1–3 bytes count as one zero-padded little-endian 32-bit word; zero only when every
/// input is zero), so the final 16-bit fold equals the kernel's bit for bit, including 0 versus 0xffff.
public enum ChecksumHelpers {
    /// `s64 bpf_csum_diff(__be32 *from, u32 from_size, __be32 *to, u32 to_size, __wsum seed)` (28).
    ///
    /// Since Linux 6.12 the kernel accepts any sizes (no multiple-of-4 or 512-byte limit any more) and returns the
    /// result folded to 16 bits (`csum_from32to16`): `to` is added to `seed`, `from` subtracted.
    public static let csumDiff: HelperFunction = { _, from, fromSize, to, toSize, seed in
        let fromCount = Int(UInt32(truncatingIfNeeded: fromSize))
        let toCount = Int(UInt32(truncatingIfNeeded: toSize))
        let fromBytes = UnsafeRawPointer(bitPattern: UInt(from))
        let toBytes = UnsafeRawPointer(bitPattern: UInt(to))
        var sum = UInt32(truncatingIfNeeded: seed)
        if fromCount > 0 && toCount > 0 {
            sum = ChecksumHelpers.subtract(
                ChecksumHelpers.partial(toBytes, toCount, sum), ChecksumHelpers.partial(fromBytes, fromCount, 0))
        } else if toCount > 0 {
            sum = ChecksumHelpers.partial(toBytes, toCount, sum)
        } else if fromCount > 0 {
            sum = ~ChecksumHelpers.partial(fromBytes, fromCount, ~sum)
        }
        return UInt64(ChecksumHelpers.fold32To16(sum))
    }

    /// `csum_partial(buff, len, sum)`: the ones'-complement sum of `count` bytes added to `seed`.
    @inline(__always)
    public static func partial(_ bytes: UnsafeRawPointer?, _ count: Int, _ seed: UInt32) -> UInt32 {
        var accumulator = UInt64(seed)
        if let bytes, count > 0 {
            var i = 0
            while i + 4 <= count {
                accumulator &+= UInt64(bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self))
                i += 4
            }
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < count {
                tail |= UInt64(bytes.load(fromByteOffset: i, as: UInt8.self)) << shift
                shift += 8
                i += 1
            }
            accumulator &+= tail
        }
        // 64 → 32 bits with end-around carry (twice: the first fold can carry once more).
        accumulator = (accumulator & 0xffff_ffff) + (accumulator >> 32)
        accumulator = (accumulator & 0xffff_ffff) + (accumulator >> 32)
        return UInt32(truncatingIfNeeded: accumulator)
    }

    /// `csum_add`: 32-bit ones'-complement addition.
    @inline(__always)
    public static func add(_ a: UInt32, _ b: UInt32) -> UInt32 {
        let (sum, carry) = a.addingReportingOverflow(b)
        return sum &+ (carry ? 1 : 0)
    }

    /// `csum_sub(a, b)` = `csum_add(a, ~b)`.
    @inline(__always)
    public static func subtract(_ a: UInt32, _ b: UInt32) -> UInt32 { add(a, ~b) }

    /// `csum_from32to16`: folds a 32-bit sum to 16 bits with end-around carry.
    @inline(__always)
    public static func fold32To16(_ sum: UInt32) -> UInt16 {
        let rotated = (sum >> 16) | (sum << 16)
        return UInt16(truncatingIfNeeded: (sum &+ rotated) >> 16)
    }
}
