/// Helpers that read the engine's services instead of the kernel's: one injectable clock, a seeded pseudo-random
/// generator and the worker's processor number, all in the `ExecutionEnvironment`. Replay is deterministic because
/// every one of them is.
public enum ServiceHelpers {
    /// `u64 bpf_ktime_get_ns(void)` (5): `clockNanos` (the capture timestamp in replay, a per-batch clock live).
    public static let ktimeGetNs: HelperFunction = { env, _, _, _, _, _ in
        env.unsafelyUnwrapped.assumingMemoryBound(to: ExecutionEnvironment.self).pointee.clockNanos
    }

    /// `u64 bpf_ktime_get_boot_ns(void)` (125): the same clock (Sluice has one clock; suspend time does not exist).
    public static let ktimeGetBootNs: HelperFunction = ktimeGetNs

    /// `u64 bpf_ktime_get_coarse_ns(void)` (160): the same clock.
    public static let ktimeGetCoarseNs: HelperFunction = ktimeGetNs

    /// `u64 bpf_jiffies64(void)` (118): the clock in ticks of 1 ms (`HZ` = 1000).
    public static let jiffies64: HelperFunction = { env, _, _, _, _, _ in
        env.unsafelyUnwrapped.assumingMemoryBound(to: ExecutionEnvironment.self).pointee.clockNanos / 1_000_000
    }

    /// `u32 bpf_get_prandom_u32(void)` (7): the high 32 bits of the next `PseudoRandom` value.
    public static let getPrandomU32: HelperFunction = { env, _, _, _, _, _ in
        let e = env.unsafelyUnwrapped.assumingMemoryBound(to: ExecutionEnvironment.self)
        return PseudoRandom.next(&e.pointee.randomState) >> 32
    }

    /// `u32 bpf_get_smp_processor_id(void)` (8): `processorID`.
    public static let getSmpProcessorID: HelperFunction = { env, _, _, _, _, _ in
        UInt64(env.unsafelyUnwrapped.assumingMemoryBound(to: ExecutionEnvironment.self).pointee.processorID)
    }
}

/// Sluice's pseudo-random generator: SplitMix64 (Steele, Lea, Flood 2014) over the 64-bit state in
/// `ExecutionEnvironment.randomState`. Every seed, including 0, gives a full-period sequence; the same seed gives the
/// same sequence, which is what makes replay deterministic. Not cryptographic, and not the kernel's generator.
public enum PseudoRandom {
    /// Advances `state` and returns the next value.
    @inline(__always)
    public static func next(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
