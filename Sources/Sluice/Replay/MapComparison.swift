import BPFVM

#if canImport(Glibc)
    import Glibc
#endif

/// Compares final map contents from Sluice and from the kernel (`--against-kernel`), entry by entry.
///
/// Every differing entry is one difference: a key only one side has, or a value that differs (on any CPU). Each is
/// described with both values, BTF-decoded when the map has BTF types. Maps and keys the user names
/// (`--ignore-map`, `--ignore-key`) are left out.
///
/// Time stamps differ by design: Sluice's clock is the capture's, the kernel's is its own. When the program calls a
/// time helper (`bpf_ktime_get_ns` and kin) and every differing 8-byte word of a value holds, on the kernel's side, a
/// reading of that kernel clock taken during the comparison (`TimeWindow`), the entry is reported as "differs by design
/// (time)" and not counted as a difference.
public enum MapComparison {
    public struct Options: Sendable {
        /// Maps left out by name (`--ignore-map NAME`).
        public var ignoredMaps: Set<String> = []
        /// Keys left out, by map name (`--ignore-key NAME:KEYHEX`; key bytes as the hex form shows them).
        public var ignoredKeys: [String: Set<[UInt8]>] = [:]
        /// Kernel clock readings around the comparison, for time stamps; nil: no time classification.
        public var timeWindow: TimeWindow?
        /// Whether the program (or a tail-call sibling) calls a time helper.
        public var programReadsTime = false
        /// Longest rendering of one value in a message; longer ones end with `…`.
        public var maximumValueText = 400
        public init() {}
    }

    public struct Report: Sendable {
        /// Entries that differ (counted), described.
        public var differences: [String] = []
        /// Entries that differ only in time stamps (not counted), described.
        public var byDesign: [String] = []
        /// Entries left out by --ignore-map / --ignore-key (compared or not).
        public var ignored = 0
        /// Maps with counted differences, in order.
        public var differingMaps: [String] = []
        /// When the program reads a clock and entries still differ (a value computed from a time stamp, a time stamp
        /// as a key): which options leave them out.
        public var hint: String?
    }

    /// The helpers that read a kernel clock (`bpf_ktime_get_ns` 5, `bpf_jiffies64` 118, `bpf_ktime_get_boot_ns` 125,
    /// `bpf_ktime_get_coarse_ns` 160, `bpf_ktime_get_tai_ns` 208).
    public static let timeHelpers: Set<Int32> = [5, 118, 125, 160, 208]

    /// Whether a program or any of its siblings calls a time helper.
    public static func readsTime(_ spec: ProgramSpec) -> Bool {
        func calls(_ spec: ProgramSpec) -> Bool {
            spec.instructions.contains { $0.opcode == 0x85 && $0.src == 0 && timeHelpers.contains($0.imm) }
        }
        return calls(spec) || spec.siblings.values.contains(where: calls)
    }

    /// Readings of the kernel clocks the time helpers use, from before the first kernel run to after the last map
    /// read: a value inside one of these ranges is a time stamp the kernel took during the comparison.
    public struct TimeWindow: Sendable {
        public var ranges: [ClosedRange<UInt64>]

        /// A window opened now; `close()` ends it.
        public static func open() -> TimeWindow {
            // The coarse clock lags the fine one by up to a tick: start the window a little earlier.
            let slack: UInt64 = 50_000_000
            return TimeWindow(
                ranges: clocks.map { clock in
                    let now = read(clock)
                    return (now > slack ? now - slack : 0)...now
                })
        }

        public mutating func close() {
            for (index, clock) in Self.clocks.enumerated() {
                ranges[index] = ranges[index].lowerBound...max(ranges[index].upperBound, Self.read(clock))
            }
        }

        public func contains(_ value: UInt64) -> Bool { ranges.contains { $0.contains(value) } }

        static let clocks: [clockid_t] = [CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_TAI]

        static func read(_ clock: clockid_t) -> UInt64 {
            var ts = timespec()
            clock_gettime(clock, &ts)
            return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
        }
    }

    /// Descriptions of the differences, without BTF types or options (kept for callers of the first version).
    public static func differences(sluice: [MapSnapshot], kernel: [MapSnapshot]) -> [String] {
        compare(specs: [:], sluice: sluice, kernel: kernel, options: Options()).differences
    }

    /// Compares every map both sides have. `specs` (by map name) supply BTF types for the messages.
    public static func compare(
        specs: [String: MapSpec], sluice: [MapSnapshot], kernel: [MapSnapshot], options: Options
    ) -> Report {
        var report = Report()
        let kernelByName = Dictionary(kernel.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for ours in sluice {
            guard let theirs = kernelByName[ours.name] else { continue }
            // Maps whose contents the kernel runner cannot read (prog arrays, ring buffers, …) have no entries there.
            if theirs.entries.isEmpty && !ours.entries.isEmpty && !MapSnapshot.comparable(type: ours.type) { continue }
            if options.ignoredMaps.contains(ours.name) {
                report.ignored += Set(ours.entries.map(\.key)).union(theirs.entries.map(\.key)).count
                continue
            }
            if ours.entries == theirs.entries { continue }
            let spec =
                specs[ours.name]
                ?? MapSpec(
                    name: ours.name, type: MapType(rawValue: ours.type), keySize: ours.keySize,
                    valueSize: ours.valueSize, maxEntries: 0)
            let before = report.differences.count
            compareEntries(spec: spec, ours: ours, theirs: theirs, options: options, into: &report)
            if report.differences.count > before { report.differingMaps.append(spec.name) }
        }
        if options.programReadsTime, !report.differingMaps.isEmpty {
            let options = report.differingMaps.map { "--ignore-map \($0)" }.joined(separator: " ")
            report.hint =
                "the program reads a clock (bpf_ktime_get_ns or kin), and the kernel's clock is not the capture's: "
                + "if these values are computed from time stamps they differ by design; \(options) (or "
                + "--ignore-key NAME:KEYHEX) leaves them out"
        }
        return report
    }

    private static func compareEntries(
        spec: MapSpec, ours: MapSnapshot, theirs: MapSnapshot, options: Options, into report: inout Report
    ) {
        let ignoredKeys = options.ignoredKeys[spec.name] ?? []
        let kernelValues = Dictionary(theirs.entries.map { ($0.key, $0.values) }, uniquingKeysWith: { a, _ in a })
        let sluiceValues = Dictionary(ours.entries.map { ($0.key, $0.values) }, uniquingKeysWith: { a, _ in a })
        let keys = Set(sluiceValues.keys).union(kernelValues.keys).sorted { $0.lexicographicallyPrecedes($1) }
        for key in keys {
            if ignoredKeys.contains(key) {
                report.ignored += 1
                continue
            }
            let keyText = describeKey(spec: spec, key)
            switch (sluiceValues[key], kernelValues[key]) {
            case (let mine?, nil):
                report.differences.append(
                    "map \(spec.name) key \(keyText): only in Sluice (value \(describe(spec: spec, mine, options)))")
            case (nil, let kernels?):
                report.differences.append(
                    "map \(spec.name) key \(keyText): only in the kernel (value \(describe(spec: spec, kernels, options)))"
                )
            case (let mine?, let kernels?):
                guard mine != kernels else { continue }
                let both =
                    "Sluice \(describe(spec: spec, mine, options)), kernel \(describe(spec: spec, kernels, options))"
                if let fields = timeFields(spec: spec, mine, kernels, options: options) {
                    report.byDesign.append(
                        "map \(spec.name) key \(keyText): \(fields.text) \(fields.count == 1 ? "differs" : "differ") by "
                            + "design (time): \(both); the kernel's "
                            + "value is a reading of its clock taken during this comparison, Sluice's clock is the "
                            + "capture's (not counted; --ignore-map \(spec.name) leaves the map out)")
                } else {
                    report.differences.append("map \(spec.name) key \(keyText): value differs: \(both)")
                }
            case (nil, nil):
                continue
            }
        }
    }

    /// When every differing 8-byte word of every CPU's value is, in the kernel's image, a reading of a kernel clock
    /// taken during the comparison: the names of those fields (or byte offsets without BTF). Otherwise nil.
    static func timeFields(
        spec: MapSpec, _ mine: [[UInt8]], _ kernels: [[UInt8]], options: Options
    ) -> (text: String, count: Int)? {
        guard options.programReadsTime, let window = options.timeWindow, mine.count == kernels.count else {
            return nil
        }
        var offsets: [Int] = []
        for (ours, theirs) in zip(mine, kernels) {
            guard ours.count == theirs.count else { return nil }
            var word = 0
            while word < ours.count {
                let end = min(word + 8, ours.count)
                if ours[word..<end] != theirs[word..<end] {
                    guard end - word == 8 else { return nil }
                    var value: UInt64 = 0
                    for index in 0..<8 { value |= UInt64(theirs[word + index]) << (8 * UInt64(index)) }
                    guard window.contains(value) else { return nil }
                    if !offsets.contains(word) { offsets.append(word) }
                }
                word += 8
            }
        }
        guard !offsets.isEmpty else { return nil }
        let names = offsets.sorted().map { offset in
            spec.valueType?.fieldPath(atByteOffset: offset) ?? "bytes \(offset)..<\(offset + 8)"
        }
        return ((names.count == 1 ? "field " : "fields ") + names.joined(separator: ", "), names.count)
    }

    static func describeKey(spec: MapSpec, _ key: [UInt8]) -> String {
        let hex = Hex.string(key)
        guard let decoded = MapDump.formattedKey(spec: spec, key) else { return hex }
        return "\(decoded.json) (hex \(hex))"
    }

    /// A value (per CPU for per-CPU maps), decoded when the map has BTF, else hex.
    static func describe(spec: MapSpec, _ values: [[UInt8]], _ options: Options) -> String {
        func one(_ value: [UInt8]) -> String {
            let text = MapDump.formattedValue(spec: spec, value)?.json ?? Hex.string(value)
            return text.count > options.maximumValueText ? String(text.prefix(options.maximumValueText)) + "…" : text
        }
        if spec.type.isPerCPU || values.count != 1 {
            return "[" + values.enumerated().map { "cpu \($0.offset): \(one($0.element))" }.joined(separator: ", ")
                + "]"
        }
        return one(values[0])
    }
}

extension MapSnapshot {
    /// Map types whose entries have a byte image both Sluice and the kernel runner report.
    static func comparable(type: UInt32) -> Bool { MapType(rawValue: type).info?.comparableWithKernel ?? false }
}
