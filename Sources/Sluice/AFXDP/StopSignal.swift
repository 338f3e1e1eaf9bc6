import Synchronization

/// A stop request that any thread, including a signal handler, can raise: one atomic flag, checked by the
/// workers once per batch. Keep a reference in a global for the signal handler; `request()` only stores.
public final class StopSignal: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    /// Asks every worker to stop after its current batch (async-signal-safe: a single atomic store).
    public func request() { flag.store(true, ordering: .relaxed) }
    public var isRequested: Bool { flag.load(ordering: .relaxed) }
}
