/// Sluice's own stable ABI: kfuncs a program declares as weak `__ksym` externs and calls by name. See docs/ABI.md.
///
/// Versioning: a released name never changes meaning. New behaviour gets a new name with the next `_vN` suffix, and
/// the old one stays. A weak extern Sluice does not provide resolves to 0, so a program tests `bpf_ksym_exists(f)` and
/// falls back from `_v2` to `_v1`.
public enum SluiceKfuncs {
    /// The ABI version `sluice_abi_version()` reports: the newest table revision this build provides.
    public static let abiVersion: UInt64 = 1

    /// Flag of `sluice_frame_timestamp_ns_v2`: round the timestamp down to whole microseconds (what a
    /// microsecond-resolution pcap records).
    public static let timestampMicroseconds: UInt64 = 1

    /// `__u64 sluice_abi_version(void)`.
    public static let abiVersionFunction: HelperFunction = { _, _, _, _, _, _ in SluiceKfuncs.abiVersion }

    /// `__u64 sluice_frame_timestamp_ns_v1(struct xdp_md *ctx)`: when the frame was received (live) or captured
    /// (replay), in nanoseconds; the same value `bpf_ktime_get_ns` returns during this run.
    public static let frameTimestampV1: HelperFunction = { env, _, _, _, _, _ in
        env.unsafelyUnwrapped.assumingMemoryBound(to: ExecutionEnvironment.self).pointee.clockNanos
    }

    /// `__u64 sluice_frame_timestamp_ns_v2(struct xdp_md *ctx, __u64 flags)`: as `_v1` with `flags` 0; with
    /// `SLUICE_TIMESTAMP_MICROSECONDS` (1) rounded down to whole microseconds; any other flag bit → 0.
    public static let frameTimestampV2: HelperFunction = { env, _, flags, _, _, _ in
        let nanos = env.unsafelyUnwrapped.assumingMemoryBound(to: ExecutionEnvironment.self).pointee.clockNanos
        switch flags {
        case 0: return nanos
        case SluiceKfuncs.timestampMicroseconds: return nanos - nanos % 1000
        default: return 0
        }
    }

    /// `__u64 sluice_random_u64_v1(void)`: the next 64-bit value of the seeded generator `bpf_get_prandom_u32` uses
    /// (`PseudoRandom`).
    public static let randomU64V1: HelperFunction = { env, _, _, _, _, _ in
        PseudoRandom.next(&env.unsafelyUnwrapped.assumingMemoryBound(to: ExecutionEnvironment.self).pointee.randomState)
    }
}
