import CLibXDP
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What a live run needs: interfaces, queues, modes and sizes. Defaults follow the CLI's defaults.
public struct LiveConfiguration: Sendable {
    /// The interface to receive on.
    public var interface: String
    /// RX queues to bind (nil: all of the interface's queues).
    public var queues: [UInt32]?
    public var mode: XDPAttachMode = .auto
    /// Frames per batch (`--batch`).
    public var batchSize: Int = 64
    public var socket = XSKSocketConfiguration()
    /// Pin the redirect under bpffs so it survives the process (`--persist`).
    public var persist = false
    /// Join libxdp's dispatcher (share the interface with xdp-filter, xdp-loader): when one is there (`auto`),
    /// always, or never.
    public var multiprog: MultiprogChoice = .auto
    /// TAP device for XDP_PASS frames (`--pass-to-tap NAME`); nil counts them instead.
    public var passToTap: String?
    /// A second interface Sluice also owns, as a REDIRECT target (`--redirect-iface`). All its queues get sockets.
    public var redirectInterface: String?
    /// The kernel-side redirect program object (default: found by `RedirectProgramLocation`, wherever the command
    /// runs from).
    public var redirectProgramPath: String =
        RedirectProgramLocation.locate() ?? "programs/build/" + RedirectProgramLocation.fileName
    /// Host-order EtherTypes the kernel program passes to the stack itself (ARP by default).
    public var passEtherTypes: [UInt16] = [0x0806]
    public var passFlows: [PassFlow] = []
    /// How long an idle worker sleeps in poll() before re-checking the stop flag.
    public var pollTimeoutMilliseconds: Int = 100

    public init(interface: String) { self.interface = interface }
}

/// A live AF_XDP engine: the redirect program attached to the interface(s), one socket per queue, and worker
/// threads running a `FrameProcessor` on every frame.
///
/// Lifecycle: `init` checks privileges and interfaces, attaches and binds (nothing runs yet); `run(duration:)` (or
/// `start()` + `stopSignal.request()` + `wait()`) processes traffic; `close()` tears down in order: workers stop →
/// sockets deleted → TAP closed → link released (the program detaches unless pinned) → UMEMs freed. `close()` also
/// runs from `deinit`, but call it explicitly on every exit path: a skipped teardown in a process that lives on
/// leaves the program attached.
public final class LiveEngine<P: FrameProcessor> {
    public let configuration: LiveConfiguration
    /// Raise from any thread or a signal handler to stop the workers.
    public let stopSignal = StopSignal()
    /// Fallbacks and other facts worth reporting (zero-copy → copy, native → skb, pinned program reused…).
    public private(set) var notes: [String] = []
    public let interfaces: [InterfaceInfo]
    public private(set) var attachments: [RedirectAttachment]
    public private(set) var sockets: [XSKSocket]
    private var tap: TapDevice?
    private var workers: [AFXDPWorker<P>] = []
    private var threads: [pthread_t] = []
    private let cells: UnsafeMutablePointer<Mutex<QueueCounters>>
    private let cellCount: Int
    private let logger: Logger
    private var closed = false
    private var started = false
    private var finalStats: LiveStats?

    /// Checks privileges and interfaces, attaches the redirect program and binds the sockets.
    /// `makeProcessor(worker)` is called once per worker thread (one per queue, or one in all when a redirect
    /// interface is configured).
    public init(configuration: LiveConfiguration, logger: Logger, makeProcessor: (Int) -> P) throws(AFXDPError) {
        self.configuration = configuration
        self.logger = logger
        guard configuration.batchSize >= 1, configuration.batchSize <= configuration.socket.rxSize else {
            throw .invalidConfiguration(
                "batch size \(configuration.batchSize): must be 1...\(configuration.socket.rxSize)")
        }
        // Privileges first, so the error names what is missing instead of the first syscall that failed.
        try Privileges.requireLiveEngine()
        var notes: [String] = []
        if let error = Privileges.raiseMemlockLimit() {
            // Only matters without CAP_IPC_LOCK (UMEM pages are charged to RLIMIT_MEMLOCK); a failing registration
            // then reports its own error, so this is not worth a user-facing note.
            logger.debug("could not raise RLIMIT_MEMLOCK: \(error)")
        }
        var interfaces = [try InterfaceInfo(name: configuration.interface)]
        if let other = configuration.redirectInterface {
            guard other != configuration.interface else {
                throw .invalidConfiguration("redirect interface must differ from the receive interface")
            }
            interfaces.append(try InterfaceInfo(name: other))
        }
        let queues = configuration.queues ?? (0..<interfaces[0].rxQueueCount).map { UInt32($0) }
        guard !queues.isEmpty else { throw .invalidConfiguration("no queues selected") }
        for queue in queues where Int(queue) >= interfaces[0].rxQueueCount {
            throw .queueOutOfRange(interface: interfaces[0].name, queue: queue, queueCount: interfaces[0].rxQueueCount)
        }
        LibxdpLog.install(logger)

        var attachments: [RedirectAttachment] = []
        var sockets: [XSKSocket] = []
        var tap: TapDevice?
        var ok = false
        defer {
            if !ok {
                for socket in sockets { socket.close() }
                tap?.close()
                for attachment in attachments {
                    attachment.close()
                    // A failed start must not leave behind a persistent redirect it pinned itself.
                    if attachment.persistent && !attachment.reusedPinned {
                        try? RedirectAttachment.detach(interface: attachment.interface.name)
                    }
                }
                for socket in sockets { socket.umem.close() }
            }
        }
        for (i, interface) in interfaces.enumerated() {
            let attachment = try RedirectAttachment(
                interface: interface, objectPath: configuration.redirectProgramPath, mode: configuration.mode,
                persist: configuration.persist, passEtherTypes: configuration.passEtherTypes,
                passFlows: configuration.passFlows, multiprog: configuration.multiprog, logger: logger)
            attachments.append(attachment)
            notes += attachment.notes
            let interfaceQueues = i == 0 ? queues : (0..<interface.rxQueueCount).map { UInt32($0) }
            for queue in interfaceQueues {
                let socket = try XSKSocket(
                    interface: interface, queue: queue, configuration: configuration.socket,
                    logger: logger)
                sockets.append(socket)
                notes += socket.warnings
                try attachment.insert(socketFD: socket.fd, queue: queue)
            }
        }
        if let name = configuration.passToTap {
            tap = try TapDevice(name: name, macAddress: interfaces[0].macAddress)
        }

        self.interfaces = interfaces
        self.attachments = attachments
        self.sockets = sockets
        self.tap = tap
        self.notes = notes
        cellCount = sockets.count
        cells = .allocate(capacity: sockets.count)
        for i in 0..<sockets.count { (cells + i).initialize(to: Mutex(QueueCounters())) }

        // Ports and workers: one worker per socket, or one for all when REDIRECT must reach another interface.
        let ports = sockets.enumerated().map { AFXDPPort(socket: $1, socketIndex: UInt32($0)) }
        let names = Dictionary(interfaces.map { ($0.ifindex, $0.name) }, uniquingKeysWith: { a, _ in a })
        let groups: [[Int]] =
            configuration.redirectInterface == nil ? ports.indices.map { [$0] } : [Array(ports.indices)]
        for (w, group) in groups.enumerated() {
            workers.append(
                AFXDPWorker(
                    ports: group.map { ports[$0] }, cells: cells + group[0], processor: makeProcessor(w),
                    stop: stopSignal, batchSize: configuration.batchSize,
                    pollTimeoutMilliseconds: configuration.pollTimeoutMilliseconds, tapFD: tap?.fd ?? -1,
                    interfaceNames: names, logger: logger))
        }
        ok = true
        for note in notes { logger.info("\(note)") }
    }

    /// Starts one thread per worker.
    public func start() throws(AFXDPError) {
        guard !started, !closed else { return }
        started = true
        for worker in workers {
            let box = Unmanaged.passRetained(ThreadBody { worker.run() })
            var thread = pthread_t()
            let rc = pthread_create(
                &thread, nil,
                { raw in
                    let body = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
                    body.run()
                    return nil
                }, box.toOpaque())
            if rc != 0 {
                box.release()
                stopSignal.request()
                throw .system(SystemError(call: "pthread_create", errno: rc))
            }
            threads.append(thread)
        }
    }

    /// True once worker `index` has returned (control plane: a finished worker never picks up a reload).
    public func workerFinished(_ index: Int) -> Bool { workers.indices.contains(index) ? workers[index].finished : true }

    /// True once every worker has returned (after a stop request, or on its own after a failure).
    public var allWorkersFinished: Bool { workers.allSatisfy(\.finished) }

    /// Starts (if needed), runs until `duration` elapses, the stop signal is raised, or every worker ended on its
    /// own; then stops and joins the workers and returns the final statistics. Every `reportInterval` (if given)
    /// `report` gets the statistics so far; `willStop` runs just before the workers are stopped. Does not tear
    /// down: call `close()`.
    @discardableResult
    public func run(
        duration: Duration? = nil, reportInterval: Duration? = nil, report: ((LiveStats) -> Void)? = nil,
        willStop: (() -> Void)? = nil
    ) throws(AFXDPError) -> LiveStats {
        try start()
        let deadline = duration.map { ContinuousClock.now + $0 }
        var nextReport = reportInterval.map { ContinuousClock.now + $0 }
        while !stopSignal.isRequested && !allWorkersFinished {
            let now = ContinuousClock.now
            if let deadline, now >= deadline { break }
            if let interval = reportInterval, let due = nextReport, now >= due, let report {
                report(stats())
                nextReport = now + interval
            }
            usleep(20_000)
        }
        willStop?()
        stopWorkers()
        return stats()
    }

    /// Raises the stop signal and joins every worker thread.
    public func stopWorkers() {
        stopSignal.request()
        for thread in threads { pthread_join(thread, nil) }
        threads.removeAll()
    }

    /// The processors, as the workers left them (read after the workers stopped).
    public var processors: [P] { finalProcessors ?? workers.map(\.processor) }
    private var finalProcessors: [P]?

    /// Current statistics: the workers' published counters and each socket's `XDP_STATISTICS`.
    public func stats() -> LiveStats {
        if let finalStats { return finalStats }
        var queues: [QueueStats] = []
        for (i, socket) in sockets.enumerated() {
            let counters = cells[i].withLock { $0 }
            queues.append(
                QueueStats(
                    interface: socket.interface.name, queue: socket.queue, bindMode: socket.bindMode,
                    counters: counters,
                    socket: try? socket.statistics()))
        }
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return LiveStats(
            monotonicNanos: UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec), queues: queues,
            endReasons: workers.compactMap(\.endReason),
            kernelPass: attachments.compactMap { $0.kernelPassCounters() })
    }

    /// Tears everything down in order. Safe to call more than once.
    public func close() {
        guard !closed else { return }
        stopWorkers()
        finalStats = stats()
        finalProcessors = workers.map(\.processor)
        closed = true
        for socket in sockets { socket.close() }
        tap?.close()
        for attachment in attachments { attachment.close() }
        for socket in sockets { socket.umem.close() }
        workers.removeAll()
        for i in 0..<cellCount { (cells + i).deinitialize(count: 1) }
        cells.deallocate()
    }

    deinit { close() }
}

/// A thread's entry closure, boxed for `pthread_create`'s context pointer.
private final class ThreadBody: @unchecked Sendable {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}
