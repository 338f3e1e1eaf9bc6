/// An XDP program's verdict: the kernel's `enum xdp_action` values.
public enum XDPAction: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    /// `XDP_ABORTED`: program error; counted and traced, frame dropped.
    case aborted = 0
    /// `XDP_DROP`: recycle the frame.
    case drop = 1
    /// `XDP_PASS`: hand the frame to the kernel stack (TAP device) or count it.
    case pass = 2
    /// `XDP_TX`: send the frame back out of the interface it came in on.
    case tx = 3
    /// `XDP_REDIRECT`: forward to the target chosen by `bpf_redirect`/`bpf_redirect_map`.
    case redirect = 4

    /// The name used in file names and JSON (`pass`, `tx`, `redirect`, `drop`, `aborted`).
    public var description: String {
        switch self {
        case .aborted: "aborted"
        case .drop: "drop"
        case .pass: "pass"
        case .tx: "tx"
        case .redirect: "redirect"
        }
    }

    /// The verdict the kernel derives from r0: it truncates r0 to 32 bits (`u32 act = bpf_prog_run_xdp(…)`) and
    /// treats any value it does not know as `XDP_ABORTED` (after warning once).
    public init(returnValue: UInt64) {
        self = XDPAction(rawValue: UInt32(truncatingIfNeeded: returnValue)) ?? .aborted
    }
}
