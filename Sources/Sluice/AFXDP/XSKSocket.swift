import CLibXDP
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Whether to ask for zero-copy.
public enum ZeroCopyPolicy: String, CaseIterable, Sendable {
    /// Try `XDP_ZEROCOPY`; fall back to `XDP_COPY` (and report it) when the driver cannot.
    case auto
    /// `XDP_ZEROCOPY` or fail.
    case required
    /// `XDP_COPY` only.
    case off
}

/// The mode a socket actually bound in.
public enum XSKBindMode: String, Sendable, Codable {
    /// `XDP_ZEROCOPY`.
    case zeroCopy = "zero-copy"
    /// `XDP_COPY`.
    case copy
}

/// Busy-polling socket options (`SO_PREFER_BUSY_POLL`, `SO_BUSY_POLL`, `SO_BUSY_POLL_BUDGET`).
public struct BusyPollConfiguration: Hashable, Sendable {
    /// `SO_BUSY_POLL`, microseconds.
    public var timeoutMicroseconds: Int32 = 20
    /// `SO_BUSY_POLL_BUDGET`, packets per busy poll (defaults to the batch size when nil).
    public var budget: Int32?
    public init(timeoutMicroseconds: Int32 = 20, budget: Int32? = nil) {
        self.timeoutMicroseconds = timeoutMicroseconds
        self.budget = budget
    }
}

/// Options of one AF_XDP socket.
public struct XSKSocketConfiguration: Hashable, Sendable {
    /// RX ring entries (power of two).
    public var rxSize: Int = 2048
    /// TX ring entries (power of two).
    public var txSize: Int = 2048
    public var zeroCopy: ZeroCopyPolicy = .auto
    public var busyPoll: BusyPollConfiguration?
    /// Copy mode: descriptors the kernel sends per `sendto` (`XDP_MAX_TX_SKB_BUDGET`, default 32 in the kernel;
    /// measured +20 % TX rate with a larger budget). Nil leaves the kernel default; failure is a warning.
    public var txSkbBudget: Int32?
    /// How long to keep retrying a bind that fails with EBUSY (the previous socket on the queue is still going away).
    public var bindRetryMilliseconds: Int = 1000
    public var umem = UMEMConfiguration()
    public init() {}
}

/// The socket's own kernel counters (`getsockopt(SOL_XDP, XDP_STATISTICS)`).
public struct XDPSocketStatistics: Hashable, Sendable, Codable {
    public var rxDropped: UInt64 = 0
    public var rxInvalidDescriptors: UInt64 = 0
    public var txInvalidDescriptors: UInt64 = 0
    public var rxRingFull: UInt64 = 0
    public var rxFillRingEmpty: UInt64 = 0
    public var txRingEmpty: UInt64 = 0
    public init() {}

    public static func + (a: Self, b: Self) -> Self {
        var r = Self()
        r.rxDropped = a.rxDropped &+ b.rxDropped
        r.rxInvalidDescriptors = a.rxInvalidDescriptors &+ b.rxInvalidDescriptors
        r.txInvalidDescriptors = a.txInvalidDescriptors &+ b.txInvalidDescriptors
        r.rxRingFull = a.rxRingFull &+ b.rxRingFull
        r.rxFillRingEmpty = a.rxFillRingEmpty &+ b.rxFillRingEmpty
        r.txRingEmpty = a.txRingEmpty &+ b.txRingEmpty
        return r
    }
}

/// The socket options Sluice sets or reads, by name (some are newer than the installed headers, or not imported as
/// Swift constants).
enum SocketOption {
    /// `SOL_XDP` (bits/socket.h).
    static let levelXDP: Int32 = 283
    /// `XDP_STATISTICS` (linux/if_xdp.h).
    static let xdpStatistics = Int32(XDP_STATISTICS)
    /// `XDP_MAX_TX_SKB_BUDGET` (linux/if_xdp.h since 6.17).
    static let xdpMaxTXSkbBudget: Int32 = 9
    /// `SO_PREFER_BUSY_POLL` (asm-generic/socket.h since 5.11).
    static let preferBusyPoll: Int32 = 69
    /// `SO_BUSY_POLL`.
    static let busyPoll = Int32(SO_BUSY_POLL)
    /// `SO_BUSY_POLL_BUDGET` (asm-generic/socket.h since 5.11).
    static let busyPollBudget: Int32 = 70
}

/// One AF_XDP socket bound to one (interface, queue), with its own UMEM.
///
/// Created with `XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD` (Sluice attaches its own program; libxdp's default program
/// leaks on crash) and `XDP_USE_NEED_WAKEUP`. Teardown: `close()` (socket), then `umem.close()`.
public final class XSKSocket {
    public let interface: InterfaceInfo
    public let queue: UInt32
    public let umem: UMEM
    public let bindMode: XSKBindMode
    /// Things that did not work as asked but did not stop the socket (zero-copy fallback, busy-poll options).
    public private(set) var warnings: [String] = []
    let rx: UnsafeMutablePointer<xsk_ring_cons>
    let tx: UnsafeMutablePointer<xsk_ring_prod>
    private var handle: OpaquePointer?
    public let fd: Int32

    /// Creates the UMEM and the socket, retrying EBUSY with backoff and falling back from zero-copy to copy.
    /// Each attempt uses a fresh UMEM: libxdp cannot re-register rings on a UMEM whose first bind failed.
    public init(
        interface: InterfaceInfo, queue: UInt32, configuration: XSKSocketConfiguration = XSKSocketConfiguration(),
        logger: Logger
    ) throws(AFXDPError) {
        guard Int(queue) < interface.rxQueueCount else {
            throw .queueOutOfRange(interface: interface.name, queue: queue, queueCount: interface.rxQueueCount)
        }
        func pow2(_ v: Int) -> Bool { v > 0 && v & (v - 1) == 0 }
        guard pow2(configuration.rxSize), pow2(configuration.txSize) else {
            throw .invalidConfiguration(
                "RX (\(configuration.rxSize)) and TX (\(configuration.txSize)) ring sizes must be powers of two")
        }
        self.interface = interface
        self.queue = queue
        var warnings: [String] = []
        var tryZeroCopy = configuration.zeroCopy != .off
        var waitedMs = 0
        var backoffMs = 5
        while true {
            let umem = try UMEM(configuration: configuration.umem)
            let rx = UnsafeMutablePointer<xsk_ring_cons>.allocate(capacity: 1)
            rx.initialize(to: xsk_ring_cons())
            let tx = UnsafeMutablePointer<xsk_ring_prod>.allocate(capacity: 1)
            tx.initialize(to: xsk_ring_prod())
            var config = xsk_socket_config()
            config.rx_size = UInt32(configuration.rxSize)
            config.tx_size = UInt32(configuration.txSize)
            config.libxdp_flags = UInt32(XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD)
            config.xdp_flags = 0
            config.bind_flags = UInt16(XDP_USE_NEED_WAKEUP) | UInt16(tryZeroCopy ? XDP_ZEROCOPY : XDP_COPY)
            var created: OpaquePointer?
            let rc = xsk_socket__create(&created, interface.name, queue, umem.handle, rx, tx, &config)
            if rc == 0, let created {
                self.umem = umem
                self.rx = rx
                self.tx = tx
                self.handle = created
                self.fd = xsk_socket__fd(created)
                self.bindMode = tryZeroCopy ? .zeroCopy : .copy
                self.warnings = warnings
                break
            }
            umem.close()
            rx.deallocate()
            tx.deallocate()
            let code = -rc
            if tryZeroCopy && configuration.zeroCopy == .auto
                && (code == EOPNOTSUPP || code == EINVAL || code == EPROTONOSUPPORT || code == ENOTSUP)
            {
                let note =
                    "\(interface.name) queue \(queue): zero-copy not supported (\(Errno(rawValue: code).description)), using copy mode"
                logger.info("\(note)")
                warnings.append(note)
                tryZeroCopy = false
                continue
            }
            if tryZeroCopy && configuration.zeroCopy == .required
                && (code == EOPNOTSUPP || code == EINVAL || code == EPROTONOSUPPORT || code == ENOTSUP)
            {
                throw .zeroCopyUnavailable(
                    interface: interface.name, queue: queue, reason: Errno(rawValue: code).description)
            }
            if code == EBUSY && waitedMs < configuration.bindRetryMilliseconds {
                logger.debug("\(interface.name) queue \(queue): bind EBUSY, retrying in \(backoffMs) ms")
                usleep(UInt32(backoffMs * 1000))
                waitedMs += backoffMs
                backoffMs = min(backoffMs * 2, 200)
                continue
            }
            if code == ENODEV || code == ENXIO {
                throw .interfaceNotFound(interface.name)
            }
            throw .system(
                SystemError(
                    call: "xsk_socket__create", errno: code,
                    context: "\(interface.name) queue \(queue)"))
        }
        if let busy = configuration.busyPoll {
            let options: [(String, Int32, Int32)] = [
                ("SO_PREFER_BUSY_POLL", SocketOption.preferBusyPoll, 1),
                ("SO_BUSY_POLL", SocketOption.busyPoll, busy.timeoutMicroseconds),
                ("SO_BUSY_POLL_BUDGET", SocketOption.busyPollBudget, busy.budget ?? 64),
            ]
            for (name, option, value) in options {
                var v = value
                if setsockopt(fd, SOL_SOCKET, option, &v, socklen_t(MemoryLayout<Int32>.size)) != 0 {
                    let note =
                        "\(interface.name) queue \(queue): cannot set \(name)=\(value): \(Errno.current.description)"
                    logger.warning("\(note)")
                    self.warnings.append(note)
                }
            }
        }
        if let budget = configuration.txSkbBudget, bindMode == .copy {
            var v = budget
            if setsockopt(fd, SocketOption.levelXDP, SocketOption.xdpMaxTXSkbBudget, &v, socklen_t(MemoryLayout<Int32>.size)) != 0 {
                let note =
                    "\(interface.name) queue \(queue): cannot set XDP_MAX_TX_SKB_BUDGET=\(budget): \(Errno.current.description)"
                logger.warning("\(note)")
                self.warnings.append(note)
            }
        }
        // Hand every free chunk the fill ring can take to the kernel.
        umem.topUpFillRing()
    }

    /// The socket's `XDP_STATISTICS`.
    public func statistics() throws(AFXDPError) -> XDPSocketStatistics {
        var raw = xdp_statistics()
        var length = socklen_t(MemoryLayout<xdp_statistics>.size)
        _ = try AFXDPError.wrap { () throws(SystemError) in
            try SystemError.check("getsockopt", context: "XDP_STATISTICS") {
                getsockopt(fd, SocketOption.levelXDP, SocketOption.xdpStatistics, &raw, &length)
            }
        }
        var s = XDPSocketStatistics()
        s.rxDropped = raw.rx_dropped
        s.rxInvalidDescriptors = raw.rx_invalid_descs
        s.txInvalidDescriptors = raw.tx_invalid_descs
        s.rxRingFull = raw.rx_ring_full
        s.rxFillRingEmpty = raw.rx_fill_ring_empty_descs
        s.txRingEmpty = raw.tx_ring_empty_descs
        return s
    }

    /// Deletes the socket (the kernel removes it from every XSKMAP). The UMEM stays until `umem.close()`.
    public func close() {
        guard let handle else { return }
        xsk_socket__delete(handle)
        self.handle = nil
        rx.deinitialize(count: 1)
        rx.deallocate()
        tx.deinitialize(count: 1)
        tx.deallocate()
    }

    deinit {
        close()
        umem.close()
    }
}
