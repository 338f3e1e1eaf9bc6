import BPFVM
import Synchronization

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

    init(generation: UInt64) {
        target.store(generation, ordering: .relaxed)
        running.store(generation, ordering: .relaxed)
    }
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
    public mutating func process(_ frame: inout Frame) -> UInt64 {
        processed &+= 1
        return inner.process(&frame)
    }

    @inline(__always)
    public mutating func verdict(for frame: inout Frame) -> Verdict {
        processed &+= 1
        return inner.verdict(for: &frame)
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
