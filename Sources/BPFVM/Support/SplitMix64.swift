/// splitmix64: the small, fast, seeded generator Sluice uses wherever a run must be reproducible from a number
/// (`bpf_get_prandom_u32`'s seed, synthetic traffic, the fuzzers and randomised tests).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    @inlinable
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A value in `0..<n` (`n` > 0; the small modulo bias does not matter where it is used).
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
