/// `replay --filter`: the filter, and where the records it does not match go (the results line says "filtered";
/// with an output directory they are written unchanged to `filtered.pcap`). All of it lives here so that the
/// replay loop needs one call per record.
struct ReplayFilter: ~Copyable {
    let filter: PacketFilter?
    var writer: PcapWriter?

    /// The filter runs natively when the program does, else on the interpreter (always verified).
    init(_ options: Replay.Options, snapshotLength: Int, engine: Engine) throws {
        let filter = try options.filterExpression.map { expression throws(FilterError) in
            try PacketFilter(
                expression: expression, snapshotLength: snapshotLength, engine: engine == .native ? .auto : .interpreter
            )
        }
        let writer = try (filter == nil ? nil : options.outputDirectory).map { directory throws(PcapError) in
            try PcapWriter(
                path: directory + "/filtered." + options.outputFormat.fileExtension, format: options.outputFormat)
        }
        self.filter = filter
        self.writer = writer
    }

    /// Whether `record` is left out (a filter is given and does not match). No allocation.
    @inline(__always)
    static func leavesOut(_ record: PcapRecord, filter: PacketFilter?) -> Bool {
        guard let filter else { return false }
        return !filter.matches(record.bytes, wireLength: record.originalLength)
    }

    /// Writes a record the filter left out to the results ("filtered") and, unchanged, to `filtered.pcap`.
    mutating func write(_ record: PcapRecord, results: inout ResultsWriter?) throws {
        try results?.writeFiltered(index: record.index, lengthIn: record.bytes.count, timestampNanos: record.timestampNanos)
        if writer != nil {
            try writer?.write(
                record.bytes, timestampNanos: record.timestampNanos, originalLength: record.originalLength)
        }
    }

    mutating func close() throws {
        try writer.take()?.close()
    }
}
