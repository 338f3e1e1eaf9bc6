import BPFVM
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Where the control plane and one worker meet for a live reload. The control thread publishes the runner to move
/// to (`targetRunner`, then `target`, release); the worker notices between rounds, switches, and acknowledges
/// (`retiredProcessed`, then `running`, release). Lives as long as the `LiveProgram` that made it.
public final class WorkerProgramSlot: @unchecked Sendable {
    /// The generation the worker should run.
    let target = Atomic<UInt64>(0)
    /// `Unmanaged<ProgramRunner>` bits of the target generation's runner for this worker (written before `target`).
    let targetRunner = Atomic<UInt>(0)
    /// The generation the worker runs now.
    let running = Atomic<UInt64>(0)
    /// Frames this worker ran under `running`, published once per round.
    let processed = Atomic<UInt64>(0)
    /// Frames this worker ran under the generation it left last (written before `running`).
    let retiredProcessed = Atomic<UInt64>(0)

    /// Sampled program run times (one frame in `RunTimeHistogram.sampleEvery`), by power-of-two bucket; written by
    /// the worker only, read by the control thread.
    let runTime = UnsafeMutablePointer<Atomic<UInt64>>.allocate(capacity: RunTimeHistogram.bucketCount + 1)

    init(generation: UInt64) {
        target.store(generation, ordering: .relaxed)
        running.store(generation, ordering: .relaxed)
        for i in 0...RunTimeHistogram.bucketCount { (runTime + i).initialize(to: Atomic(0)) }
    }

    deinit {
        runTime.deinitialize(count: RunTimeHistogram.bucketCount + 1)
        runTime.deallocate()
    }

    /// Records one sampled run of `nanos` (worker only).
    @inline(__always)
    func record(runNanos nanos: UInt64) {
        let bucket = RunTimeHistogram.bucket(of: nanos)
        runTime[bucket].store(runTime[bucket].load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        let sum = RunTimeHistogram.bucketCount
        runTime[sum].store(runTime[sum].load(ordering: .relaxed) &+ nanos, ordering: .relaxed)
    }
}

/// The program's run time per frame, sampled (one frame in `sampleEvery` is timed with the monotonic clock, so the
/// clock costs a fraction of a nanosecond per frame), in power-of-two buckets from 16 ns up: `counts[i]` runs took
/// at most `boundsNanos[i]`, the last bucket is everything longer. Summed over workers.
public struct RunTimeHistogram: Codable, Sendable, Equatable {
    public static let sampleEvery: UInt64 = 64
    public static let bucketCount = 22
    /// Upper bound of bucket `i` in nanoseconds: 16 · 2^i (16 ns … 33.5 ms); the last bucket has none.
    public static func bound(_ i: Int) -> UInt64 { 16 << UInt64(i) }

    @inline(__always)
    static func bucket(of nanos: UInt64) -> Int {
        guard nanos > 16 else { return 0 }
        let index = 64 - (nanos - 1).leadingZeroBitCount - 4
        return min(index, bucketCount - 1)
    }

    public var sampleEvery: UInt64
    public var boundsNanos: [UInt64]
    /// Runs per bucket (not cumulative).
    public var counts: [UInt64]
    public var sumNanos: UInt64
    public var samples: UInt64 { counts.reduce(0, &+) }
}

/// The live engine's processor when a control plane runs: a `VMFrameProcessor` whose program can be replaced
/// between rounds. Per frame it adds one plain increment; per round one relaxed store and one acquire load (a plain
/// `mov` on x86-64). The switch itself is out of line.
public struct ReloadableProcessor: FrameProcessor {
    var inner: VMFrameProcessor
    unowned(unsafe) let slot: WorkerProgramSlot
    var generation: UInt64
    /// Frames run under `generation` by this worker.
    var processed: UInt64 = 0
    /// Where this worker's runs print (the same buffer for every generation), and where the lines go.
    unowned(unsafe) let trace: LiveTrace
    let traceBuffer: UnsafeMutablePointer<TraceBuffer>
    let worker: Int

    init(
        runner: ProgramRunner, slot: WorkerProgramSlot, generation: UInt64, trace: LiveTrace,
        traceBuffer: UnsafeMutablePointer<TraceBuffer>, worker: Int
    ) {
        inner = VMFrameProcessor(runner: runner)
        self.slot = slot
        self.generation = generation
        self.trace = trace
        self.traceBuffer = traceBuffer
        self.worker = worker
    }

    public var redirectTarget: RedirectTarget? { inner.redirectTarget }
    public var lastFault: ExecutionFault? { inner.lastFault }

    @inline(__always)
    public mutating func process(_ frame: inout Frame) -> UInt64 { verdict(for: &frame).returnValue }

    @inline(__always)
    public mutating func verdict(for frame: inout Frame) -> Verdict {
        processed &+= 1
        guard processed % RunTimeHistogram.sampleEvery == 0 else { return inner.verdict(for: &frame) }
        return timedVerdict(&frame)
    }

    /// One sampled frame: the run timed with the monotonic clock (vDSO), recorded in the slot's histogram.
    @inline(never)
    mutating func timedVerdict(_ frame: inout Frame) -> Verdict {
        var start = timespec()
        var end = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        let verdict = inner.verdict(for: &frame)
        clock_gettime(CLOCK_MONOTONIC, &end)
        let nanos = (Int64(end.tv_sec) - Int64(start.tv_sec)) * 1_000_000_000 + Int64(end.tv_nsec) - Int64(start.tv_nsec)
        slot.record(runNanos: UInt64(max(nanos, 0)))
        return verdict
    }

    @inline(__always)
    public mutating func takeBudgetExceeded() -> UInt64 { inner.takeBudgetExceeded() }

    @inline(__always)
    public mutating func takeFiltered() -> UInt64 { inner.takeFiltered() }

    @inline(__always)
    public mutating func betweenBatches() {
        // bpf_trace_printk output, collected only when there is some (a load of the buffer's count otherwise).
        if traceBuffer.pointee.count > 0 || traceBuffer.pointee.dropped > 0 { collectTrace() }
        slot.processed.store(processed, ordering: .relaxed)
        if slot.target.load(ordering: .acquiring) != generation { switchProgram() }
    }

    @inline(never)
    func collectTrace() { trace.collect(worker: worker, traceBuffer) }

    /// Moves to the published generation. The old runner stays alive until the control thread has seen this
    /// worker's acknowledgement, so nothing here frees anything.
    @inline(never)
    mutating func switchProgram() {
        let target = slot.target.load(ordering: .acquiring)
        guard let raw = UnsafeRawPointer(bitPattern: slot.targetRunner.load(ordering: .acquiring)) else { return }
        let runner = Unmanaged<ProgramRunner>.fromOpaque(raw).takeUnretainedValue()
        slot.retiredProcessed.store(processed, ordering: .relaxed)
        slot.processed.store(0, ordering: .relaxed)
        processed = 0
        inner = VMFrameProcessor(runner: runner)
        generation = target
        slot.running.store(target, ordering: .releasing)
    }
}
