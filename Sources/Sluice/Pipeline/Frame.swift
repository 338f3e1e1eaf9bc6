import BPFVM

/// One frame in a buffer with room around it, as the kernel's `xdp_buff` sees it:
///
///     buffer ── headroom ── [meta] ── data … data+length ── tailroom ── buffer+bufferSize
///
/// Live frames live in UMEM chunks, replayed frames in a reusable buffer; either way the program may move `data`
/// into the headroom (`bpf_xdp_adjust_head`), grow or shrink the tail, and put metadata just before `data`. A `Frame`
/// owns nothing: it is a view the source hands to the processor and the sink, valid until the sink has applied the
/// verdict.
public struct Frame {
    /// Start of the buffer.
    public var buffer: UnsafeMutableRawPointer
    /// Bytes from `buffer` to the end of usable tailroom.
    public var bufferSize: Int
    /// Offset of the first packet byte from `buffer`.
    public var dataOffset: Int
    /// Packet length in bytes.
    public var length: Int
    /// Bytes of metadata directly before `data` (`data - data_meta`).
    public var metaLength: Int
    /// Capture or receive time, nanoseconds since the epoch (replay: the capture's timestamp).
    public var timestampNanos: UInt64
    /// `xdp_md.ingress_ifindex`.
    public var ingressIfindex: UInt32
    /// `xdp_md.rx_queue_index`.
    public var rxQueueIndex: UInt32

    public init(
        buffer: UnsafeMutableRawPointer, bufferSize: Int, dataOffset: Int, length: Int, metaLength: Int = 0,
        timestampNanos: UInt64 = 0, ingressIfindex: UInt32 = 0, rxQueueIndex: UInt32 = 0
    ) {
        self.buffer = buffer
        self.bufferSize = bufferSize
        self.dataOffset = dataOffset
        self.length = length
        self.metaLength = metaLength
        self.timestampNanos = timestampNanos
        self.ingressIfindex = ingressIfindex
        self.rxQueueIndex = rxQueueIndex
    }

    /// The kernel's `XDP_PACKET_HEADROOM`.
    public static let kernelHeadroom = 256

    @inlinable public var data: UnsafeMutableRawPointer { buffer + dataOffset }
    @inlinable public var bytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: data, count: length) }
    @inlinable public var metadata: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: data - metaLength, count: metaLength)
    }
}

/// Where `XDP_REDIRECT` sends a frame: what `bpf_redirect` or `bpf_redirect_map` recorded during the run.
public enum RedirectTarget: Hashable, Sendable {
    /// `bpf_redirect(ifindex, flags)` or a DEVMAP entry.
    case interface(ifindex: UInt32)
    /// An XSKMAP entry: the AF_XDP socket at that map index.
    case socket(index: UInt32)
}

/// Runs the user-space program on frames. The engine is generic over it so that the per-frame call is static.
public protocol FrameProcessor {
    /// Runs the program on `frame` (which it may modify in place: bytes, `dataOffset`, `length`, `metaLength`),
    /// returns the raw return value. After `XDP_REDIRECT`, `redirectTarget` says where to.
    mutating func process(_ frame: inout Frame) -> UInt64
    /// The target recorded by the last `process` call that returned `XDP_REDIRECT`.
    var redirectTarget: RedirectTarget? { get }
    /// Runs that ended at the instruction budget since the last call (folded into the stats once per batch).
    mutating func takeBudgetExceeded() -> UInt64
    /// The fault that ended the last run (which `process` then reported as XDP_ABORTED), if it faulted.
    var lastFault: ExecutionFault? { get }
    /// `process` plus what the sink needs to know (verdict, return value, redirect target, fault), in one call.
    mutating func verdict(for frame: inout Frame) -> Verdict
    /// Called by the live worker once per loop round, after the round's frames and before the next round: the one
    /// point where a processor may switch programs (live reload), so every frame runs entirely under one program.
    mutating func betweenBatches()
    /// Frames a filter (`run --filter`) passed without running the program, since the last call (once per batch).
    mutating func takeFiltered() -> UInt64
}

extension FrameProcessor {
    /// Runs the program on `frame` and says what became of it: `process`, then the redirect target and the fault.
    /// Processors override it to answer in one call (`VMFrameProcessor`).
    @inlinable
    public mutating func verdict(for frame: inout Frame) -> Verdict {
        let value = process(&frame)
        let action = XDPAction(returnValue: value)
        return Verdict(
            action: action, returnValue: value, redirectTarget: action == .redirect ? redirectTarget : nil,
            fault: lastFault)
    }

    public mutating func takeBudgetExceeded() -> UInt64 { 0 }
    public var lastFault: ExecutionFault? { nil }
    @inline(__always) public mutating func betweenBatches() {}
    public mutating func takeFiltered() -> UInt64 { 0 }
}
