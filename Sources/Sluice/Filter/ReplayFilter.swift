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

    /// Whether `record` does not match (and so is not run); such a record is written to the results and to
    /// `filtered.pcap`. No allocation for a record that matches.
    @inline(__always)
    mutating func passesThrough(_ record: PcapRecord, results: inout ResultsWriter?) throws -> Bool {
        guard let filter, !filter.matches(record.bytes, wireLength: record.originalLength) else { return false }
        try results?.writeFiltered(index: record.index, lengthIn: record.bytes.count)
        if writer != nil {
            try writer?.write(
                record.bytes, timestampNanos: record.timestampNanos, originalLength: record.originalLength)
        }
        return true
    }

    mutating func close() throws {
        try writer.take()?.close()
    }
}

/// `bench --filter`: the filter for the benchmark's loops, on the engine the program runs on.
enum BenchFilter {
    static func make(_ options: OfflineBenchmark.Options, engine: EngineChoice) throws -> PacketFilter? {
        try options.filterExpression.map { expression throws(FilterError) in
            try PacketFilter(expression: expression, engine: engine == .checked ? .interpreter : engine)
        }
    }
}
