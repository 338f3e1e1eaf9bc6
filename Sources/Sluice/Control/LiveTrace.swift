import BPFVM
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The `bpf_trace_printk` output of a live run, for `sluice ctl IFACE trace` (as `bpftool prog tracelog` reads the
/// kernel's trace pipe). Each worker's VM writes into its own buffer during a round; between rounds, and only when
/// the buffer holds something, the worker turns it into lines in trace_pipe's format (task `sluice-qN`, the worker's
/// number as pid and CPU, the wall-clock time) and appends them here under a lock. The last `keep` lines stay, each
/// with a sequence number, so a client that polls with the last number it saw gets every line once. Ring-buffer and
/// perf-event records join the same stream when a client asks (`ControlService` drains the maps then).
public final class LiveTrace: @unchecked Sendable {
    public struct Lines: Codable, Sendable, Equatable {
        public var lines: [String]
        /// The sequence number to ask for next (`since`).
        public var next: UInt64
        /// Lines no longer kept when they were asked for, and messages a run printed past its buffer.
        public var dropped: UInt64
    }

    /// How many lines are kept for clients.
    public static let keep = 4096
    private struct State {
        var lines: [(sequence: UInt64, text: String)] = []
        var next: UInt64 = 1
        var overflowed: UInt64 = 0
    }
    private let state = Mutex(State())
    /// One buffer per worker, made before the workers start (`buffer(worker:)`), freed with the trace.
    private var buffers: [UnsafeMutablePointer<TraceBuffer>] = []

    public init() {}

    deinit {
        for buffer in buffers {
            buffer.pointee.bytes.deallocate()
            buffer.deallocate()
        }
    }

    /// Worker `index`'s buffer (created on first use; called while the engine is set up, and on reloads).
    func buffer(worker index: Int) -> UnsafeMutablePointer<TraceBuffer> {
        while buffers.count <= index {
            let buffer = UnsafeMutablePointer<TraceBuffer>.allocate(capacity: 1)
            buffer.initialize(to: TraceBuffer(capacity: 1 << 16))
            buffers.append(buffer)
        }
        return buffers[index]
    }

    /// From worker `index` between rounds: moves what its runs printed into the kept lines and empties the buffer.
    func collect(worker index: Int, _ buffer: UnsafeMutablePointer<TraceBuffer>) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let now = UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
        let bytes = UnsafeRawBufferPointer(start: buffer.pointee.bytes, count: buffer.pointee.count)
        var texts: [String] = []
        var start = 0
        for i in 0..<bytes.count where bytes[i] == UInt8(ascii: "\n") {
            let message = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
            texts.append(
                TracePipeFormat.line(task: "sluice-q\(index)", pid: index, cpu: index, timestampNanos: now, message: message))
            start = i + 1
        }
        let lost = UInt64(buffer.pointee.dropped)
        buffer.pointee.count = 0
        buffer.pointee.dropped = 0
        state.withLock { s in
            for text in texts {
                s.lines.append((s.next, text))
                s.next &+= 1
            }
            s.overflowed &+= lost
            if s.lines.count > Self.keep { s.lines.removeFirst(s.lines.count - Self.keep) }
        }
    }

    /// Ring-buffer and perf-event records drained from the program's maps (by the control thread, their one
    /// consumer), as lines `event MAP: N bytes: HEX` (the records' order within a map kept).
    func append(events: [(map: String, record: [UInt8])]) {
        guard !events.isEmpty else { return }
        let texts = events.map { "event \($0.map): \($0.record.count) bytes: \(Hex.string($0.record))" }
        state.withLock { s in
            for text in texts {
                s.lines.append((s.next, text))
                s.next &+= 1
            }
            if s.lines.count > Self.keep { s.lines.removeFirst(s.lines.count - Self.keep) }
        }
    }

    /// The kept lines numbered `since` and later (all kept lines for 0), and the next number to ask for.
    public func lines(since: UInt64) -> Lines {
        state.withLock { s in
            let oldest = s.lines.first?.sequence ?? s.next
            let missed = since > 0 && since < oldest ? oldest - since : 0
            return Lines(
                lines: s.lines.filter { $0.sequence >= since }.map(\.text), next: s.next,
                dropped: missed &+ s.overflowed)
        }
    }
}
