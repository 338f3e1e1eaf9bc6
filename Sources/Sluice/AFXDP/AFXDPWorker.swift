import CLibXDP
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The per-thread loop over one or more sockets (ports): for each port one `Pipeline` batch (RX ring source, port
/// sink: `AFXDPPipeline.swift`), then keep the rings moving (TX submit and wakeup, completions, fill).
///
/// All ports a worker owns are touched only by its thread, so every ring stays single-producer/single-consumer;
/// REDIRECT can reach only ports of the same worker (the engine puts all ports in one worker when a redirect
/// interface is configured). The per-frame path does no allocation, ARC, locking or `throw`: ports are POD behind
/// a pointer, the processor is a local generic value, counters are plain integers published once per batch.
final class AFXDPWorker<P: FrameProcessor>: @unchecked Sendable {
    let ports: UnsafeMutablePointer<AFXDPPort>
    let portCount: Int
    /// One published-counters cell per port (owned by the engine, outlives the worker).
    let cells: UnsafeMutablePointer<Mutex<QueueCounters>>
    let stop: StopSignal
    let batchSize: UInt32
    let pollTimeoutMilliseconds: Int32
    let tapFD: Int32
    let logger: Logger
    let interfaceNames: [UInt32: String]
    var processor: P
    /// Set when the worker ended on its own (interface vanished, socket error); read from other threads.
    private let endReasonCell = Mutex<String?>(nil)
    var endReason: String? { endReasonCell.withLock { $0 } }
    private let finishedFlag = Atomic<Bool>(false)
    var finished: Bool { finishedFlag.load(ordering: .acquiring) }

    init(
        ports: [AFXDPPort], cells: UnsafeMutablePointer<Mutex<QueueCounters>>, processor: P, stop: StopSignal,
        batchSize: Int, pollTimeoutMilliseconds: Int, tapFD: Int32, interfaceNames: [UInt32: String], logger: Logger
    ) {
        self.ports = .allocate(capacity: max(ports.count, 1))
        self.ports.initialize(from: ports, count: ports.count)
        self.portCount = ports.count
        self.cells = cells
        self.processor = processor
        self.stop = stop
        self.batchSize = UInt32(batchSize)
        self.pollTimeoutMilliseconds = Int32(pollTimeoutMilliseconds)
        self.tapFD = tapFD
        self.interfaceNames = interfaceNames
        self.logger = logger
    }

    deinit {
        ports.deinitialize(count: portCount)
        ports.deallocate()
    }

    /// Runs until the stop signal is raised or a socket fails. Called on the worker's own thread.
    func run() {
        var processor = self.processor
        let reason = loop(&processor)
        self.processor = processor
        if let reason {
            endReasonCell.withLock { $0 = reason }
            logger.error("\(reason)")
        }
        publish()
        finishedFlag.store(true, ordering: .releasing)
    }

    private func publish() {
        for p in 0..<portCount {
            let snapshot = ports[p].counters
            cells[p].withLock { $0 = snapshot }
        }
    }

    // The engine is generic over the processor; the VM's processor gets a specialised loop (the eager specializer
    // puts a type check in the generic entry), so its per-frame call is static even when another module
    // instantiates LiveEngine<VMFrameProcessor>.
    @_specialize(where P == VMFrameProcessor)
    @_specialize(where P == ReloadableProcessor)
    private func loop(_ processor: inout P) -> String? {
        let n = portCount
        let pollFDs = UnsafeMutablePointer<pollfd>.allocate(capacity: max(n, 1))
        defer { pollFDs.deallocate() }
        var lastAbortedLogNanos: UInt64 = 0
        var abortedAtLastLog: UInt64 = 0
        var rounds: UInt = 0

        while !stop.isRequested {
            let now = Self.realtimeNanos()
            var received: UInt32 = 0
            for p in 0..<n {
                received &+= receiveBatch(port: p, now: now, processor: &processor)
            }
            for p in 0..<n {
                if let failure = flushPort(p) { return failure }
            }
            // Counters go out every 16th busy round and whenever the worker is about to wait (and at the end), so a
            // reader is at most a few batches behind while the cost stays off the per-frame budget.
            rounds &+= 1
            if received == 0 || rounds & 15 == 0 { publish() }
            // Control plane (live reload): the program may change here, between rounds, never inside one.
            processor.betweenBatches()

            if received == 0 {
                // Nothing arrived: sleep in poll (which also wakes the driver when the fill ring asks for it).
                for p in 0..<n {
                    pollFDs[p] = pollfd(fd: ports[p].fd, events: Int16(POLLIN), revents: 0)
                }
                // With TX in flight, come back soon to reap completions; otherwise sleep until traffic or timeout.
                var inFlight = false
                for p in 0..<n where ports[p].txOutstanding > 0 { inFlight = true }
                let rc = poll(pollFDs, nfds_t(n), inFlight ? 1 : pollTimeoutMilliseconds)
                ports[0].counters.emptyPolls &+= 1
                ports[0].counters.wakeups &+= 1
                if rc < 0, case let failure = Errno.current, failure != .interrupted {
                    return "poll failed: \(failure)"
                }
                for p in 0..<n where rc > 0 {
                    let revents = Int32(pollFDs[p].revents)
                    if revents & Int32(POLLERR | POLLHUP | POLLNVAL) != 0 {
                        return socketFailure(p, what: "socket error (poll revents 0x\(String(revents, radix: 16)))")
                    }
                }
                if rc == 0 {
                    // Quiet: a cheap moment to notice an interface that went away without a socket error.
                    for p in 0..<n where !Self.interfaceExists(ports[p].ifindex) {
                        return vanished(p)
                    }
                }
            } else {
                let aborted = totalAborted()
                if aborted != abortedAtLastLog && now &- lastAbortedLogNanos > 1_000_000_000 {
                    logger.debug("program returned XDP_ABORTED \(aborted - abortedAtLastLog) time(s) since last report")
                    abortedAtLastLog = aborted
                    lastAbortedLogNanos = now
                }
            }
        }
        return nil
    }

    private func totalAborted() -> UInt64 {
        var total: UInt64 = 0
        for p in 0..<portCount { total &+= ports[p].counters.aborted.packets }
        return total
    }

    /// Submits reserved TX descriptors, kicks the kernel when it asks, reaps completions, refills the fill ring.
    @inline(__always)
    private func flushPort(_ p: Int) -> String? {
        let port = ports + p
        if port.pointee.txReserved > 0 {
            xsk_ring_prod__submit(port.pointee.tx, port.pointee.txReserved)
            port.pointee.txOutstanding &+= port.pointee.txReserved
            port.pointee.txReserved = 0
        }
        if port.pointee.txOutstanding > 0 && xsk_ring_prod__needs_wakeup(port.pointee.tx) != 0 {
            port.pointee.counters.wakeups &+= 1
            if sendto(port.pointee.fd, nil, 0, Int32(MSG_DONTWAIT), nil, 0) < 0 {
                let failure = Errno.current
                if failure.meansInterfaceGone { return vanished(p, detail: failure.description) }
                // EAGAIN, EBUSY, ENOBUFS: the kernel is busy; completions will come, try again next round.
            }
        }
        port.pointee.reapCompletions()
        port.pointee.topUpFill()
        return nil
    }

    /// Receives and handles up to one batch on port `p` through the pipeline; returns how many frames it took.
    @inline(__always)
    private func receiveBatch(port p: Int, now: UInt64, processor: inout P) -> UInt32 {
        var pipeline = Pipeline(
            source: AFXDPRingSource(port: ports + p, now: now),
            sink: AFXDPPortSink(ports: ports, portCount: portCount, index: p, tapFD: tapFD))
        return UInt32(truncatingIfNeeded: pipeline.runBatch(upTo: Int(batchSize), processor: &processor) ?? 0)
    }

    private func socketFailure(_ p: Int, what: String) -> String {
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(ports[p].fd, SOL_SOCKET, SO_ERROR, &code, &length)
        if Errno(rawValue: code).meansInterfaceGone || !Self.interfaceExists(ports[p].ifindex) {
            return vanished(p, detail: code != 0 ? Errno(rawValue: code).description : nil)
        }
        let detail = code != 0 ? ": \(Errno(rawValue: code).description)" : ""
        return "\(name(p)) queue \(ports[p].queue): \(what)\(detail); worker stopped"
    }

    private func vanished(_ p: Int, detail: String? = nil) -> String {
        let suffix = detail.map { " (\($0))" } ?? ""
        return "interface \(name(p)) went away or went down\(suffix); worker for queue \(ports[p].queue) stopped"
    }

    private func name(_ p: Int) -> String { interfaceNames[ports[p].ifindex] ?? "ifindex \(ports[p].ifindex)" }

    static func interfaceExists(_ ifindex: UInt32) -> Bool {
        var buffer = [CChar](repeating: 0, count: Int(IF_NAMESIZE))
        return if_indextoname(ifindex, &buffer) != nil
    }

    static func realtimeNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}
