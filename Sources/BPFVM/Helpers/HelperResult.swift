/// Values helpers return in r0, named once: the kernel returns `-errno` as a 64-bit two's-complement value, and
/// XDP verdicts as small integers.
public enum HelperResult {
    /// `-EACCES` (13).
    public static let permissionDenied = errno(13)
    /// `-EFAULT` (14).
    public static let badAddress = errno(14)
    /// `-EINVAL` (22).
    public static let invalidArgument = errno(22)
    /// `-ENOTSUPP` (524, kernel-internal; `bpf_xdp_adjust_meta` on a buffer without metadata support).
    public static let notSupported = errno(524)

    /// `-e` as the kernel puts it in r0.
    @inlinable public static func errno(_ e: Int64) -> UInt64 { UInt64(bitPattern: -e) }
}

/// `enum xdp_action`.
public enum XDPVerdict {
    public static let aborted: UInt64 = 0
    public static let drop: UInt64 = 1
    public static let pass: UInt64 = 2
    public static let tx: UInt64 = 3
    public static let redirect: UInt64 = 4
}

/// The kernel's constants that shape an XDP frame (see `docs/ABI.md`, "The frame").
public enum XDPFrameLimits {
    /// `XDP_PACKET_HEADROOM`: headroom drivers and `BPF_PROG_TEST_RUN` reserve before `data`.
    public static let headroom = 256
    /// `sizeof(struct xdp_frame)` on 64-bit kernels: the head of the headroom the kernel keeps for itself, so neither
    /// `data_meta` nor `data` may move below `data_hard_start + 40` (`bpf_xdp_adjust_head/meta`).
    public static let xdpFrameSize = 40
    /// `ETH_HLEN`: `adjust_head` and `adjust_tail` keep at least this many bytes between `data` and `data_end`.
    public static let minimumLength = 14
    /// Largest metadata area: `type_max(skb_shared_info.meta_len)` = 255, and the length must be a multiple of 4.
    public static let maxMetadataLength = 252
    /// `bpf_xdp_load_bytes/store_bytes` refuse offsets or lengths above this with `-EFAULT`.
    public static let maxAccessOffset = 0xffff
}
