/// `sluice filter`: runs a filter over a capture, reports the matching records and optionally writes them to a
/// capture of their own.
public enum CaptureFilter {
    public struct Summary: Sendable {
        /// Records read.
        public var packets = 0
        /// Records that matched.
        public var matched = 0
        /// The signal that stopped the run early (the output holds the matches up to there).
        public var stoppedBySignal: Int32?
    }

    /// One matching record, as reported to `onMatch`.
    public struct Match {
        public var index: Int
        public var timestampNanos: UInt64
        /// Captured bytes.
        public var capturedLength: Int
        /// Bytes on the wire.
        public var originalLength: Int
    }

    /// Reads `capturePath` (`-`: standard input) and calls `onMatch` for each record `filter` matches; with
    /// `writePath`, the matching records are written to it (a pcap; see `PcapWriter` and `OutputFile` for `-`, FIFOs,
    /// symbolic links and atomic replacement; nothing is left behind on an error). `makeFilter` gets the capture's
    /// snapshot length (the value a matching classic `ret` returns, as with tcpdump).
    public static func run(
        capturePath: String, synthesizeEthernet: Bool = false, writePath: String? = nil, limit: Int? = nil,
        stop: StopSignal? = nil, makeFilter: (_ snapshotLength: Int) throws -> PacketFilter,
        onMatch: (Match) -> Void = { _ in }
    ) throws -> Summary {
        var reader = try PcapReader(path: capturePath, synthesizeEthernet: synthesizeEthernet)
        let filter = try makeFilter(reader.snapshotLength)
        var writer = try writePath.map { path throws(PcapError) in try PcapWriter(path: path) }
        let writing = writer != nil
        var summary = Summary()
        while limit.map({ summary.packets < $0 }) ?? true {
            if summary.packets & 1023 == 0, let stop, stop.isRequested {
                summary.stoppedBySignal = stop.receivedSignal
                break
            }
            // The filter reads the record where libpcap has it: no copy.
            guard let record = try reader.next() else { break }
            summary.packets += 1
            let wireLength = max(record.originalLength, record.bytes.count)
            guard filter.matches(record.bytes, wireLength: wireLength) else { continue }
            summary.matched += 1
            onMatch(
                Match(
                    index: record.index, timestampNanos: record.timestampNanos, capturedLength: record.bytes.count,
                    originalLength: wireLength))
            if writing {
                try writer?.write(
                    record.bytes, timestampNanos: record.timestampNanos, originalLength: record.originalLength)
            }
        }
        try writer.take()?.close()
        return summary
    }
}
