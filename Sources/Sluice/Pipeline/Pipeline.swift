import BPFVM

/// The one per-packet loop of Sluice (DESIGN.md: "one batch loop with a source and a sink"). Every way frames reach a
/// program goes through `Pipeline.runBatch`:
///
/// | source                         | sink                                             | used by            |
/// |--------------------------------|--------------------------------------------------|--------------------|
/// | `AFXDPRingSource` (RX ring)    | `AFXDPPortSink` (TX, fill, TAP, redirect)        | `sluice run`       |
/// | `PcapFrameSource`              | `ReplaySink` (verdict pcaps, results), optionally decorated by `KernelComparisonSink` | `sluice replay` |
/// | `MemoryFrameSource`            | `NullSink`                                       | `sluice bench offline` |
///
/// The pipeline is generic over the source, the sink and the processor, so each combination is specialised: the
/// per-frame path has no existential, allocation or reference counting of its own.
public struct Pipeline<Source: FrameSource, Sink: VerdictSink> where Source.Token == Sink.Token {
    public var source: Source
    public var sink: Sink

    @inlinable
    public init(source: Source, sink: Sink) {
        self.source = source
        self.sink = sink
    }

    /// Takes one batch of at most `limit` frames from the source, runs `processor` on each and hands each verdict to
    /// the sink, then releases the batch. Returns how many frames the batch had (0: none were ready), or nil once the
    /// source has ended.
    @inlinable @inline(__always)
    public mutating func runBatch<P: FrameProcessor>(
        upTo limit: Int, processor: inout P
    ) throws(Sink.Failure) -> Int? {
        guard let count = source.receive(upTo: limit) else { return nil }
        guard count > 0 else { return 0 }
        for i in 0..<count {
            let (candidate, token) = source.frame(i)
            guard var frame = candidate else {
                try sink.refuse(token)
                continue
            }
            let verdict = Self.run(&processor, on: &frame)
            try sink.apply(verdict, to: frame, token: token)
        }
        source.release(count)
        try sink.endBatch(budgetOverruns: processor.takeBudgetExceeded(), filtered: processor.takeFiltered())
        return count
    }

    /// One frame through the program: the only place a run becomes a verdict. A frame the program moved outside its
    /// buffer cannot be sent anywhere, so it ends as XDP_ABORTED (the kernel would abort too).
    @inlinable @inline(__always)
    public static func run<P: FrameProcessor>(_ processor: inout P, on frame: inout Frame) -> Verdict {
        let buffer = frame.buffer
        var verdict = processor.verdict(for: &frame)
        if frame.buffer != buffer || frame.dataOffset < 0 || frame.length < 0 || frame.metaLength < 0
            || frame.dataOffset > frame.bufferSize - frame.length
        {
            verdict.action = .aborted
            verdict.redirectTarget = nil
        }
        return verdict
    }
}

/// What a sink is told about one frame's run.
public struct Verdict: Sendable {
    /// What the engine does with the frame.
    public var action: XDPAction
    /// The program's return value (XDP_ABORTED's when the run faulted).
    public var returnValue: UInt64
    /// Where XDP_REDIRECT sends it (nil for other actions, or when the program named no target).
    public var redirectTarget: RedirectTarget?
    /// The fault that ended the run (checked mode, or the instruction budget), if any.
    public var fault: ExecutionFault?

    @inlinable
    public init(action: XDPAction, returnValue: UInt64, redirectTarget: RedirectTarget? = nil, fault: ExecutionFault? = nil) {
        self.action = action
        self.returnValue = returnValue
        self.redirectTarget = redirectTarget
        self.fault = fault
    }
}

/// Where frames come from, a batch at a time. A frame is valid from `frame(i)` until the sink has applied its verdict
/// (sources may reuse one buffer for every frame).
public protocol FrameSource {
    /// What the sink needs to know about a frame besides its bytes (an UMEM address, a capture record).
    associatedtype Token
    /// Makes the next batch available: how many frames it has (at most `limit`; 0 when none are ready), or nil when
    /// the source has ended.
    mutating func receive(upTo limit: Int) -> Int?
    /// Frame `i` of the batch and its token; a nil frame is one the source refuses to run (the sink's `refuse`).
    mutating func frame(_ i: Int) -> (frame: Frame?, token: Token)
    /// The batch is done: every frame's verdict has been applied.
    mutating func release(_ count: Int)
}

extension FrameSource {
    @inlinable public mutating func release(_ count: Int) {}
}

/// Where verdicts go: applies each frame's verdict (send, recycle, write, compare, count).
public protocol VerdictSink {
    associatedtype Token
    /// What applying a verdict can fail with (`Never` for the live engine, whose failures are counted).
    associatedtype Failure: Error = Never
    mutating func apply(_ verdict: Verdict, to frame: Frame, token: Token) throws(Failure)
    /// A frame the source refused to run (replay: shorter than an Ethernet header, as the kernel's test run refuses).
    mutating func refuse(_ token: Token) throws(Failure)
    /// After each batch; `budgetOverruns` is how many of its runs went past the instruction budget, `filtered` how
    /// many frames a filter (`--filter`) passed without running the program.
    mutating func endBatch(budgetOverruns: UInt64, filtered: UInt64) throws(Failure)
}

extension VerdictSink {
    @inlinable public mutating func refuse(_ token: Token) throws(Failure) {}
    @inlinable public mutating func endBatch(budgetOverruns: UInt64, filtered: UInt64) throws(Failure) {}
}

extension XDPRunResult {
    /// The value the engine acts on: a run that faulted ends as XDP_ABORTED, whatever r0 held.
    @inlinable public var verdictValue: UInt64 { fault == nil ? returnValue : UInt64(XDPAction.aborted.rawValue) }
}

extension XDPRunResult {
    /// Where XDP_REDIRECT goes, as the run's `bpf_redirect`/`bpf_redirect_map` recorded it.
    @inlinable public var redirectTarget: RedirectTarget? {
        switch redirectKind {
        case .interface: .interface(ifindex: redirectValue)
        case .socket: .socket(index: redirectValue)
        case .none, .cpu: nil
        }
    }
}
