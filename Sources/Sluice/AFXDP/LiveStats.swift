/// Packets and bytes.
public struct PacketCount: Hashable, Sendable, Codable {
    public var packets: UInt64 = 0
    public var bytes: UInt64 = 0
    public init(packets: UInt64 = 0, bytes: UInt64 = 0) {
        self.packets = packets
        self.bytes = bytes
    }
    @inline(__always) mutating func add(_ length: Int) {
        packets &+= 1
        bytes &+= UInt64(truncatingIfNeeded: length)
    }
    public static func + (a: Self, b: Self) -> Self { Self(packets: a.packets &+ b.packets, bytes: a.bytes &+ b.bytes) }
}

/// The engine's own counters for one socket (queue). Plain integers, kept by the worker in a local copy and
/// published once per batch.
public struct QueueCounters: Hashable, Sendable, Codable {
    /// Frames taken from the RX ring.
    public var rx = PacketCount()
    /// Verdicts the program returned (unknown return values and frames the program left out of bounds count as
    /// aborted, as the kernel does).
    public var aborted = PacketCount()
    public var drop = PacketCount()
    public var pass = PacketCount()
    public var tx = PacketCount()
    public var redirect = PacketCount()
    /// PASS frames written into the TAP device (reinjected into the stack).
    public var passReinjected: UInt64 = 0
    /// PASS frames that could not be written to the TAP device (or were only counted, without one).
    public var passDropped: UInt64 = 0
    /// Frames the kernel reported as sent (completion ring), from XDP_TX and redirects into this socket.
    public var txCompleted: UInt64 = 0
    /// TX or redirect frames dropped because the TX ring was full or the target had no free frame.
    public var txDropped: UInt64 = 0
    /// REDIRECT frames whose target is not a socket this worker owns.
    public var redirectUnknownTarget: UInt64 = 0
    /// Loop iterations that found nothing and polled.
    public var emptyPolls: UInt64 = 0
    /// Wakeup system calls (sendto for TX, recvfrom/poll for RX).
    public var wakeups: UInt64 = 0
    /// Batches processed (iterations with at least one frame).
    public var batches: UInt64 = 0
    /// Frames whose run went past the instruction budget (`--budget`); counted as aborted too.
    public var budgetExceeded: UInt64 = 0
    /// Frames `run --filter` did not match: not run, handled as XDP_PASS (and counted in `pass` too).
    public var filtered: UInt64 = 0
    public init() {}

    public static func + (a: Self, b: Self) -> Self {
        var r = a
        r.rx = a.rx + b.rx
        r.aborted = a.aborted + b.aborted
        r.drop = a.drop + b.drop
        r.pass = a.pass + b.pass
        r.tx = a.tx + b.tx
        r.redirect = a.redirect + b.redirect
        r.passReinjected &+= b.passReinjected
        r.passDropped &+= b.passDropped
        r.txCompleted &+= b.txCompleted
        r.txDropped &+= b.txDropped
        r.redirectUnknownTarget &+= b.redirectUnknownTarget
        r.emptyPolls &+= b.emptyPolls
        r.wakeups &+= b.wakeups
        r.batches &+= b.batches
        r.budgetExceeded &+= b.budgetExceeded
        r.filtered &+= b.filtered
        return r
    }

    /// Packets and bytes for one verdict.
    public subscript(action: XDPAction) -> PacketCount {
        switch action {
        case .aborted: aborted
        case .drop: drop
        case .pass: pass
        case .tx: tx
        case .redirect: redirect
        }
    }
}

/// Statistics of one socket.
public struct QueueStats: Hashable, Sendable, Codable {
    public var interface: String
    public var queue: UInt32
    public var bindMode: XSKBindMode
    public var counters: QueueCounters
    /// The socket's `XDP_STATISTICS` (nil when they could not be read, e.g. after the interface vanished).
    public var socket: XDPSocketStatistics?
}

/// Statistics of a live run: per queue and in total. `Codable` for `--json`; rates come from two snapshots'
/// counters divided by the difference of their `monotonicNanos`.
public struct LiveStats: Hashable, Sendable, Codable {
    /// CLOCK_MONOTONIC when the snapshot was taken.
    public var monotonicNanos: UInt64 = 0
    public var queues: [QueueStats]
    /// Why workers ended before being asked to (interface vanished, socket error), one line each.
    public var endReasons: [String]
    /// Per interface: frames the kernel program passed to the stack without user space ("PASS in kernel").
    public var kernelPass: [KernelPassCounters] = []
    public var total: QueueCounters { queues.reduce(QueueCounters()) { $0 + $1.counters } }
    public var socketTotal: XDPSocketStatistics {
        queues.reduce(XDPSocketStatistics()) { $0 + ($1.socket ?? XDPSocketStatistics()) }
    }
}
