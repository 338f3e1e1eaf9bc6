import BPFVM

/// Writes replay results as JSON lines: one object per packet, then one object holding every map.
///
/// The JSON is written by hand, byte by byte, so the text is a pure function of the results (no key-order or
/// number-format surprises from an encoder) and nothing is allocated per packet. A packet line has its keys in this
/// order:
///
///     {"i":0,"ret":2,"verdict":"pass","len_in":60,"len_out":60,"meta_len":0,"out":"…","note":"…","trace":["…"],
///      "events":[{"map":"events","len":16,"hex":"…"}],"ts_ns":1700000000000000000}
///
/// `ts_ns` (last) is the record's capture time in nanoseconds since the epoch, on every line replay writes (refused
/// and filtered records too; docs/JSON.md, results schema 2).
/// `kernel_ret`/`kernel_verdict` (after `verdict`) only when the replay is compared with the kernel (`--against-kernel`);
/// `out` (lowercase hex of the metadata followed by the frame) only with `includeBytes` (`--bytes`); `note` only when
/// given; `trace` (the run's `bpf_trace_printk` messages) and `events` (ring-buffer and perf-event records the run
/// published) only when there are any; an event has `formatted` (decoded as in `MapDump`) when `eventTypes` names a type
/// of its length for its map. The last line is `{"maps":{"NAME":{"HEXKEY":"HEXVALUE",…},…}}`, maps in the order given, entries sorted by
/// their key bytes; per-CPU maps give an array of one hex value per CPU.
public struct ResultsWriter: ~Copyable {
    /// Whether packet lines carry the `out` field.
    public let includeBytes: Bool
    /// Record types by event map name (`--event-type`): a record whose length is one type's size also gets a
    /// `"formatted"` value decoded as that type.
    public var eventTypes: [String: [BTFType]] = [:]
    private var file: OutputFile

    /// The path of the finished file.
    public var path: String { file.path }

    /// Creates (truncates) the results file. By default it is written as `PATH.tmp` and renamed by `close()`;
    /// `atomically: false` writes `path` directly (e.g. `/dev/stdout`).
    public init(path: String, includeBytes: Bool = false, atomically: Bool = true) throws(SystemError) {
        self.includeBytes = includeBytes
        self.file = try OutputFile(path: path, atomically: atomically)
    }

    /// Writes one packet line. `returnValue` is the program's raw return value; the verdict is
    /// `XDPAction(returnValue:)`'s name. `lengthIn` is the frame length before the program ran.
    public mutating func writePacket(
        index: Int, returnValue: UInt64, lengthIn: Int, metadata: UnsafeRawBufferPointer,
        packet: UnsafeRawBufferPointer, note: String? = nil, trace: UnsafeRawBufferPointer? = nil,
        events: [(map: String, record: [UInt8])] = [], kernelReturnValue: UInt64? = nil,
        timestampNanos: UInt64? = nil
    ) throws(SystemError) {
        try file.write("{\"i\":")
        try file.writeDecimal(index)
        try file.write(",\"ret\":")
        try file.writeDecimal(returnValue)
        try file.write(",\"verdict\":\"")
        try file.writeVerdict(XDPAction(returnValue: returnValue))
        if let kernelReturnValue {
            // Compared with the kernel (--against-kernel): what its test run returned for the same packet.
            try file.write("\",\"kernel_ret\":")
            try file.writeDecimal(kernelReturnValue)
            try file.write(",\"kernel_verdict\":\"")
            try file.writeVerdict(XDPAction(returnValue: kernelReturnValue))
        }
        try file.write("\",\"len_in\":")
        try file.writeDecimal(lengthIn)
        try file.write(",\"len_out\":")
        try file.writeDecimal(packet.count)
        try file.write(",\"meta_len\":")
        try file.writeDecimal(metadata.count)
        if includeBytes {
            try file.write(",\"out\":\"")
            try file.writeHex(metadata)
            try file.writeHex(packet)
            try file.write(byte: UInt8(ascii: "\""))
        }
        if let note {
            try file.write(",\"note\":")
            try file.writeJSONString(note)
        }
        if let trace, trace.count > 0 {
            // One string per bpf_trace_printk record, without its newline.
            try file.write(",\"trace\":[")
            var start = 0
            var first = true
            for index in 0..<trace.count where trace[index] == UInt8(ascii: "\n") {
                if !first { try file.write(byte: UInt8(ascii: ",")) }
                first = false
                try file.writeJSONString(String(decoding: UnsafeRawBufferPointer(rebasing: trace[start..<index]), as: UTF8.self))
                start = index + 1
            }
            try file.write(byte: UInt8(ascii: "]"))
        }
        if !events.isEmpty {
            try file.write(",\"events\":[")
            for (number, event) in events.enumerated() {
                if number > 0 { try file.write(byte: UInt8(ascii: ",")) }
                try file.write("{\"map\":")
                try file.writeJSONString(event.map)
                try file.write(",\"len\":")
                try file.writeDecimal(event.record.count)
                try file.write(",\"hex\":")
                try file.writeQuotedHex(event.record)
                if let type = eventTypes[event.map]?.first(where: { $0.size == event.record.count }) {
                    try file.write(",\"formatted\":")
                    try file.writeText(MapDump.decode(event.record, as: type).json)
                }
                try file.write(byte: UInt8(ascii: "}"))
            }
            try file.write(byte: UInt8(ascii: "]"))
        }
        try writeTimestamp(timestampNanos)
        try file.write("}\n")
    }

    /// Writes the line of a packet the program never saw (refused as the kernel's test run refuses it):
    /// `ret` is null, `verdict` is `"refused"`, and `note` says why.
    public mutating func writeRefused(
        index: Int, lengthIn: Int, note: String, timestampNanos: UInt64? = nil
    ) throws(SystemError) {
        try writeNotRun(
            index: index, verdict: "refused", lengthIn: lengthIn, lengthOut: 0, note: note,
            timestampNanos: timestampNanos)
    }

    /// `,"ts_ns":N`: the record's capture time in nanoseconds since the epoch (last key of a packet line).
    private mutating func writeTimestamp(_ nanos: UInt64?) throws(SystemError) {
        guard let nanos else { return }
        try file.write(",\"ts_ns\":")
        try file.writeDecimal(nanos)
    }

    /// Writes the line of a record `--filter` did not match: not run, passed through unchanged.
    public mutating func writeFiltered(index: Int, lengthIn: Int, timestampNanos: UInt64? = nil) throws(SystemError) {
        try writeNotRun(
            index: index, verdict: "filtered", lengthIn: lengthIn, lengthOut: lengthIn,
            note: "did not match --filter: not run, passed through unchanged", timestampNanos: timestampNanos)
    }

    /// A line for a record the program did not run on: `ret` null, the given verdict and note.
    private mutating func writeNotRun(
        index: Int, verdict: StaticString, lengthIn: Int, lengthOut: Int, note: String, timestampNanos: UInt64?
    ) throws(SystemError) {
        try file.write("{\"i\":")
        try file.writeDecimal(index)
        try file.write(",\"ret\":null,\"verdict\":\"")
        try file.write(verdict)
        try file.write("\",\"len_in\":")
        try file.writeDecimal(lengthIn)
        try file.write(",\"len_out\":")
        try file.writeDecimal(lengthOut)
        try file.write(",\"meta_len\":0,\"note\":")
        try file.writeJSONString(note)
        try writeTimestamp(timestampNanos)
        try file.write("}\n")
    }

    /// Writes one packet line for a frame as the program left it (metadata and packet from `frame`).
    public mutating func writePacket(
        index: Int, returnValue: UInt64, lengthIn: Int, frame: Frame, note: String? = nil
    ) throws(SystemError) {
        try writePacket(
            index: index, returnValue: returnValue, lengthIn: lengthIn,
            metadata: UnsafeRawBufferPointer(frame.metadata),
            packet: UnsafeRawBufferPointer(frame.bytes), note: note)
    }

    /// Writes one packet line for an outcome (e.g. the kernel runner's).
    public mutating func writePacket(
        index: Int, lengthIn: Int, outcome: RunOutcome, note: String? = nil
    ) throws(SystemError) {
        // Array.withUnsafeBytes rethrows untyped errors; carry the typed one out in a Result.
        let result = outcome.metadata.withUnsafeBytes { metadata in
            outcome.packet.withUnsafeBytes { packet in
                Result { () throws(SystemError) in
                    try writePacket(
                        index: index, returnValue: UInt64(outcome.returnValue), lengthIn: lengthIn, metadata: metadata,
                        packet: packet, note: note)
                }
            }
        }
        try result.get()
    }

    /// Writes the final maps line. With `omitZeroArrayValues`, entries of array maps (`BPF_MAP_TYPE_ARRAY`,
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`) whose value is all zero bytes (on every CPU) are left out. A per-CPU map
    /// (`MapType.isPerCPU`) gives an array of hex values per key; any other map a single hex value (or an array, should
    /// an entry hold a number of values other than one).
    public mutating func writeMaps(_ maps: [MapSnapshot], omitZeroArrayValues: Bool = false) throws(SystemError) {
        try file.write("{\"maps\":{")
        for (mapIndex, map) in maps.enumerated() {
            if mapIndex > 0 { try file.write(byte: UInt8(ascii: ",")) }
            try file.writeJSONString(map.name)
            try file.write(":{")
            let type = MapType(rawValue: map.type)
            let omitZeros = omitZeroArrayValues && (type == .array || type == .percpuArray)
            var first = true
            for entry in map.entries.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
                if omitZeros && entry.values.allSatisfy({ $0.allSatisfy { $0 == 0 } }) { continue }
                if !first { try file.write(byte: UInt8(ascii: ",")) }
                first = false
                try file.writeQuotedHex(entry.key)
                try file.write(byte: UInt8(ascii: ":"))
                if !type.isPerCPU && entry.values.count == 1 {
                    try file.writeQuotedHex(entry.values[0])
                } else {
                    try file.write(byte: UInt8(ascii: "["))
                    for (cpu, value) in entry.values.enumerated() {
                        if cpu > 0 { try file.write(byte: UInt8(ascii: ",")) }
                        try file.writeQuotedHex(value)
                    }
                    try file.write(byte: UInt8(ascii: "]"))
                }
            }
            try file.write(byte: UInt8(ascii: "}"))
        }
        try file.write("}}\n")
    }

    /// Flushes, closes and renames the file into place; reports any failure (e.g. `ENOSPC`).
    public consuming func close() throws(SystemError) {
        try file.close()
    }
}

// MARK: - JSON pieces

/// The two lowercase hex digits of every byte value, as they lie in memory (high digit first).
private let hexPairs: [UInt16] = (0...255).map { byte in
    let high = OutputFile.hexDigit(UInt8(byte >> 4))
    let low = OutputFile.hexDigit(UInt8(byte & 0xf))
    return (UInt16(high) | UInt16(low) << 8).littleEndian
}

extension OutputFile {
    /// Text that is already JSON (no escaping).
    mutating func writeText(_ text: String) throws(SystemError) {
        var copy = text
        try copy.withUTF8 { buffer in Result { () throws(SystemError) in try write(UnsafeRawBufferPointer(buffer)) } }
            .get()
    }

    mutating func writeDecimal(_ value: Int) throws(SystemError) {
        if value < 0 { try write(byte: UInt8(ascii: "-")) }
        try writeDecimal(value.magnitude)
    }

    mutating func writeDecimal(_ value: UInt) throws(SystemError) { try writeDecimal(UInt64(value)) }

    mutating func writeDecimal(_ value: UInt64) throws(SystemError) {
        var digits = 1
        var rest = value
        while rest >= 10 {
            rest /= 10
            digits += 1
        }
        let out = try reserve(digits)
        rest = value
        for position in stride(from: digits - 1, through: 0, by: -1) {
            out.storeBytes(of: UInt8(truncatingIfNeeded: rest % 10) &+ 0x30, toByteOffset: position, as: UInt8.self)
            rest /= 10
        }
        commit(digits)
    }

    /// Lowercase hex, two digits per byte.
    mutating func writeHex(_ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let chunk = min(bytes.count - offset, bufferSize / 2)
            let out = try reserve(chunk * 2)
            hexPairs.withUnsafeBufferPointer { pairs in
                for index in 0..<chunk {
                    out.storeBytes(of: pairs[Int(bytes[offset + index])], toByteOffset: 2 * index, as: UInt16.self)
                }
            }
            commit(chunk * 2)
            offset += chunk
        }
    }

    mutating func writeQuotedHex(_ bytes: [UInt8]) throws(SystemError) {
        try write(byte: UInt8(ascii: "\""))
        try bytes.withUnsafeBytes { raw in Result { () throws(SystemError) in try writeHex(raw) } }.get()
        try write(byte: UInt8(ascii: "\""))
    }

    @inline(__always)
    static func hexDigit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? 0x30 + nibble : 0x61 - 10 + nibble }

    /// The verdict name, from static strings (no allocation).
    mutating func writeVerdict(_ action: XDPAction) throws(SystemError) {
        switch action {
        case .aborted: try write("aborted")
        case .drop: try write("drop")
        case .pass: try write("pass")
        case .tx: try write("tx")
        case .redirect: try write("redirect")
        }
    }

    /// A JSON string literal: `"` and `\` escaped, control characters as `\n`, `\t`, … or `\u00XX`; everything else
    /// (including non-ASCII, already valid UTF-8 in a Swift string) as it is.
    mutating func writeJSONString(_ text: String) throws(SystemError) {
        try write(byte: UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): try write("\\\"")
            case UInt8(ascii: "\\"): try write("\\\\")
            case 0x0a: try write("\\n")
            case 0x0d: try write("\\r")
            case 0x09: try write("\\t")
            case 0x08: try write("\\b")
            case 0x0c: try write("\\f")
            case 0..<0x20:
                try write("\\u00")
                try write(byte: Self.hexDigit(byte >> 4))
                try write(byte: Self.hexDigit(byte & 0xf))
            default: try write(byte: byte)
            }
        }
        try write(byte: UInt8(ascii: "\""))
    }
}
