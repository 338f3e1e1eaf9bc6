import CLibXDP
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The per-thread loop over one or more sockets (ports): receive a batch, run the processor on every frame, apply
/// the verdicts, keep the rings moving.
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
    private func loop(_ processor: inout P) -> String? {
        let n = portCount
        let pollFDs = UnsafeMutablePointer<pollfd>.allocate(capacity: max(n, 1))
        defer { pollFDs.deallocate() }
        var lastAbortedLogNanos: UInt64 = 0
        var abortedAtLastLog: UInt64 = 0

        while !stop.isRequested {
            let now = Self.realtimeNanos()
            var received: UInt32 = 0
            for p in 0..<n {
                received &+= receiveBatch(port: p, now: now, processor: &processor)
            }
            for p in 0..<n {
                if let failure = flushPort(p) { return failure }
            }
            publish()

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
                if rc < 0 && errno != EINTR {
                    return "poll failed: \(String(cString: strerror(errno)))"
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
                let code = errno
                if code == ENXIO || code == ENODEV || code == ENETDOWN {
                    return vanished(p, detail: String(cString: strerror(code)))
                }
                // EAGAIN, EBUSY, ENOBUFS: the kernel is busy; completions will come, try again next round.
            }
        }
        port.pointee.reapCompletions()
        port.pointee.topUpFill()
        return nil
    }

    /// Receives and handles up to one batch on port `p`; returns how many frames it took.
    @inline(__always)
    private func receiveBatch(port p: Int, now: UInt64, processor: inout P) -> UInt32 {
        let port = ports + p
        var rxIndex: UInt32 = 0
        let got = xsk_ring_cons__peek(port.pointee.rx, batchSize, &rxIndex)
        guard got > 0 else { return 0 }
        port.pointee.counters.batches &+= 1
        let area = port.pointee.area
        let frameSize = port.pointee.frameSize
        let mask = port.pointee.chunkMask
        for i in 0..<got {
            let desc = xsk_ring_cons__rx_desc(port.pointee.rx, rxIndex &+ i)!.pointee
            let chunk = desc.addr & mask
            let chunkPointer = area + Int(truncatingIfNeeded: chunk)
            let length = Int(desc.len)
            port.pointee.counters.rx.add(length)
            var frame = Frame(
                buffer: chunkPointer, bufferSize: frameSize, dataOffset: Int(truncatingIfNeeded: desc.addr &- chunk),
                length: length, timestampNanos: now, ingressIfindex: port.pointee.ifindex,
                rxQueueIndex: port.pointee.queue)
            var action = XDPAction(returnValue: processor.process(&frame))
            // A frame moved outside its chunk cannot be sent anywhere; the kernel would abort too.
            if frame.buffer != chunkPointer || frame.dataOffset < 0 || frame.length < 0
                || frame.dataOffset > frameSize - frame.length
            {
                action = .aborted
            }
            switch action {
            case .drop:
                port.pointee.counters.drop.add(frame.length)
                port.pointee.freeFrames.pointee.push(chunk)
            case .aborted:
                port.pointee.counters.aborted.add(frame.length)
                port.pointee.freeFrames.pointee.push(chunk)
            case .tx:
                port.pointee.counters.tx.add(frame.length)
                if !port.pointee.enqueueTX(address: chunk &+ UInt64(frame.dataOffset), length: UInt32(frame.length)) {
                    port.pointee.counters.txDropped &+= 1
                    port.pointee.freeFrames.pointee.push(chunk)
                }
            case .pass:
                port.pointee.counters.pass.add(frame.length)
                if tapFD >= 0 && write(tapFD, frame.data, frame.length) == frame.length {
                    port.pointee.counters.passReinjected &+= 1
                } else {
                    port.pointee.counters.passDropped &+= 1
                }
                port.pointee.freeFrames.pointee.push(chunk)
            case .redirect:
                port.pointee.counters.redirect.add(frame.length)
                redirect(from: p, frame: frame, chunk: chunk, target: processor.redirectTarget)
            }
        }
        xsk_ring_cons__release(port.pointee.rx, got)
        port.pointee.counters.budgetExceeded &+= processor.takeBudgetExceeded()
        port.pointee.counters.filtered &+= processor.takeFiltered()
        return got
    }

    /// Sends a REDIRECT frame out of the target port: in place when the target is the receiving socket, otherwise
    /// copied into the target's UMEM (every socket has its own UMEM).
    @inline(__always)
    private func redirect(from p: Int, frame: Frame, chunk: UInt64, target: RedirectTarget?) {
        let source = ports + p
        var targetIndex = -1
        switch target {
        case .socket(let index):
            for t in 0..<portCount where ports[t].socketIndex == index {
                targetIndex = t
                break
            }
        case .interface(let ifindex):
            for t in 0..<portCount where ports[t].ifindex == ifindex {
                if targetIndex < 0 || ports[t].queue == source.pointee.queue { targetIndex = t }
            }
        case nil:
            break
        }
        guard targetIndex >= 0 else {
            source.pointee.counters.redirectUnknownTarget &+= 1
            source.pointee.freeFrames.pointee.push(chunk)
            return
        }
        if targetIndex == p {
            if !source.pointee.enqueueTX(address: chunk &+ UInt64(frame.dataOffset), length: UInt32(frame.length)) {
                source.pointee.counters.txDropped &+= 1
                source.pointee.freeFrames.pointee.push(chunk)
            }
            return
        }
        let target = ports + targetIndex
        source.pointee.freeFrames.pointee.push(chunk)  // the source chunk is done once copied
        guard frame.length <= target.pointee.frameSize else {
            source.pointee.counters.txDropped &+= 1
            return
        }
        var copyChunk = target.pointee.freeFrames.pointee.pop()
        if copyChunk == nil {
            target.pointee.reapCompletions()
            copyChunk = target.pointee.freeFrames.pointee.pop()
        }
        guard let destination = copyChunk else {
            source.pointee.counters.txDropped &+= 1
            return
        }
        let offset = min(frame.dataOffset, target.pointee.frameSize - frame.length)
        (target.pointee.area + Int(truncatingIfNeeded: destination) + offset).copyMemory(
            from: frame.data, byteCount: frame.length)
        if !target.pointee.enqueueTX(address: destination &+ UInt64(offset), length: UInt32(frame.length)) {
            source.pointee.counters.txDropped &+= 1
            target.pointee.freeFrames.pointee.push(destination)
        }
    }

    private func socketFailure(_ p: Int, what: String) -> String {
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(ports[p].fd, SOL_SOCKET, SO_ERROR, &code, &length)
        if code == ENETDOWN || code == ENXIO || code == ENODEV || !Self.interfaceExists(ports[p].ifindex) {
            return vanished(p, detail: code != 0 ? String(cString: strerror(code)) : nil)
        }
        let detail = code != 0 ? ": \(String(cString: strerror(code)))" : ""
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
