import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A stop request that any thread can raise: one atomic flag, checked by the workers once per batch.
///
/// For SIGINT/SIGTERM use `stopOnSignals()`: it blocks the signals (call it before starting workers, so they
/// inherit the mask) and waits for them with `sigwait` on a thread of its own, so nothing runs in signal-handler
/// context. A hand-written handler may call `request()` too: it is a single atomic store.
public final class StopSignal: Sendable {
    private let flag = Atomic<Bool>(false)
    private let signalNumber = Atomic<Int32>(0)
    public init() {}

    /// Asks every worker to stop after its current batch.
    public func request() { flag.store(true, ordering: .relaxed) }
    public var isRequested: Bool { flag.load(ordering: .relaxed) }
    /// The signal that raised the request through `stopOnSignals`, or nil.
    public var receivedSignal: Int32? {
        let n = signalNumber.load(ordering: .relaxed)
        return n == 0 ? nil : n
    }

    /// Blocks `signals` in the calling thread (and so in threads it starts later) and raises the stop request
    /// when one arrives. Every later arrival raises it again (idempotent).
    public func stopOnSignals(_ signals: [Int32] = [SIGINT, SIGTERM]) {
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let context = Unmanaged.passRetained(SignalWaiter(signal: self, set: set)).toOpaque()
        var thread = pthread_t()
        if pthread_create(
            &thread, nil,
            { raw in
                let waiter = Unmanaged<SignalWaiter>.fromOpaque(raw!).takeRetainedValue()
                var set = waiter.set
                while true {
                    var received: Int32 = 0
                    if sigwait(&set, &received) == 0 {
                        waiter.signal.signalNumber.store(received, ordering: .relaxed)
                        waiter.signal.request()
                    }
                }
            }, context) == 0
        {
            pthread_detach(thread)
        } else {
            Unmanaged<SignalWaiter>.fromOpaque(context).release()
        }
    }
}

private final class SignalWaiter: @unchecked Sendable {
    let signal: StopSignal
    let set: sigset_t
    init(signal: StopSignal, set: sigset_t) {
        self.signal = signal
        self.set = set
    }
}
