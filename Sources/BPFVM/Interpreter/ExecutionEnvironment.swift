/// Everything a running program and its helpers can see, as plain data in one place (no references, no ARC): the
/// frame (`xdp_buff`), the clock, the random state, the redirect decision, and the tables helpers use.
///
/// One environment exists per worker; the engine points it at each frame before a run. Helpers receive a pointer to
/// it as their first argument.
@frozen
public struct ExecutionEnvironment {
    // MARK: The frame, as the kernel's xdp_buff
    /// `data_hard_start`: the first byte of headroom.
    public var hardStart: UnsafeMutableRawPointer?
    /// `data_meta`; equals `data` when there is no metadata.
    public var dataMeta: UnsafeMutableRawPointer?
    public var data: UnsafeMutableRawPointer?
    public var dataEnd: UnsafeMutableRawPointer?
    /// End of usable tailroom (`data_hard_start + frame_sz - sizeof(skb_shared_info)` in the kernel).
    public var frameEnd: UnsafeMutableRawPointer?
    public var ingressIfindex: UInt32
    public var rxQueueIndex: UInt32

    // MARK: Services
    /// `bpf_ktime_get_ns`: nanoseconds. Replay sets it to the capture timestamp; live reads a clock per batch.
    public var clockNanos: UInt64
    /// State of `bpf_get_prandom_u32` (a seeded xorshift; deterministic for replay).
    public var randomState: UInt64
    /// `bpf_get_smp_processor_id`.
    public var processorID: UInt32
    /// Number of CPUs per-CPU maps have values for.
    public var possibleCPUs: UInt32

    // MARK: Results of the run
    /// Set by `bpf_redirect`/`bpf_redirect_map`: see `RedirectKind`.
    public var redirectKind: RedirectKind
    public var redirectValue: UInt32
    /// Tail calls taken in this run (the kernel's limit is 33).
    public var tailCallCount: UInt32
    /// A run that goes past this many instructions ends with `instructionBudgetExceeded` (XDP_ABORTED): checked and
    /// counting runs count every instruction; unchecked runs charge each back edge taken and each `bpf_loop` pass
    /// with the slots it spans (see `BackEdges`). Verified means terminating, not quick.
    public var instructionBudget: UInt64
    /// What is left of `instructionBudget` in the current unchecked run (set at the start of each run).
    public var budgetRemaining: Int64
    /// The threaded instruction where an unchecked run ran out of budget (nil otherwise); the run ends there.
    public var budgetStoppedAt: UnsafeRawPointer?

    // MARK: Tables
    /// Memory the program may touch besides packet and stack (map storage, global data), for checked mode.
    public var regions: UnsafeMutablePointer<MemoryRegion>?
    public var regionCount: Int
    /// Helper implementations by kernel id (for `callx`), `helperTableCount` entries.
    public var helperTable: UnsafePointer<HelperFunction?>?
    public var helperTableCount: Int
    /// Where `bpf_trace_printk` output goes, drained by the engine once per batch.
    public var trace: UnsafeMutablePointer<TraceBuffer>?
    /// Opaque per-engine data a helper set may need (e.g. the ring buffer consumer); not used by the interpreter.
    public var userData: UnsafeMutableRawPointer?

    public init() {
        hardStart = nil
        dataMeta = nil
        data = nil
        dataEnd = nil
        frameEnd = nil
        ingressIfindex = 0
        rxQueueIndex = 0
        clockNanos = 0
        randomState = 0x5eed_5eed_5eed_5eed
        processorID = 0
        possibleCPUs = 1
        redirectKind = .none
        redirectValue = 0
        tailCallCount = 0
        instructionBudget = RunBudget.defaultInstructions
        budgetRemaining = 0
        budgetStoppedAt = nil
        regions = nil
        regionCount = 0
        helperTable = nil
        helperTableCount = 0
        trace = nil
        userData = nil
    }

    /// Points the environment at a frame before a run and clears the per-run results.
    @inlinable
    public mutating func setFrame(
        hardStart: UnsafeMutableRawPointer, dataOffset: Int, length: Int, metaLength: Int, frameSize: Int
    ) {
        self.hardStart = hardStart
        data = hardStart + dataOffset
        dataMeta = hardStart + (dataOffset - metaLength)
        dataEnd = hardStart + (dataOffset + length)
        frameEnd = hardStart + frameSize
        redirectKind = .none
        redirectValue = 0
        tailCallCount = 0
    }
}

/// What `XDP_REDIRECT` was aimed at.
public enum RedirectKind: UInt8, Sendable {
    case none, interface, socket, cpu
}

/// A function implementing a helper: `(environment, r1, r2, r3, r4, r5) -> r0`.
public typealias HelperFunction =
    @convention(c) (UnsafeMutableRawPointer?, UInt64, UInt64, UInt64, UInt64, UInt64) -> UInt64

/// A span of memory a checked-mode access may touch.
@frozen
public struct MemoryRegion: Sendable {
    public var start: UInt
    public var end: UInt
    public var writable: Bool
    public init(start: UInt, end: UInt, writable: Bool) {
        self.start = start
        self.end = end
        self.writable = writable
    }
}

/// A fixed-size byte buffer for `bpf_trace_printk` lines (no allocation per call; overflow is counted).
public struct TraceBuffer {
    public var bytes: UnsafeMutablePointer<UInt8>
    public var capacity: Int
    public var count: Int
    public var dropped: Int

    public init(capacity: Int) {
        bytes = .allocate(capacity: capacity)
        self.capacity = capacity
        count = 0
        dropped = 0
    }
}

/// The per-packet instruction budget's limits, shared by the CLI and the engine.
public enum RunBudget {
    /// The default: about 67 M instructions, far above every example program (loop_sum's longest packet runs ≈25 k)
    /// and a fraction of a second of interpreter time, so a runaway packet ends quickly.
    public static let defaultInstructions: UInt64 = 1 << 26
    /// Accepted `--budget` values. Below the minimum no real program finishes; above the maximum one packet could
    /// keep the engine for hours.
    public static let accepted: ClosedRange<UInt64> = 100...(1 << 40)
}
