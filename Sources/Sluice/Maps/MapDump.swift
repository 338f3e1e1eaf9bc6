import BPFVM

/// Map contents as `bpftool map dump -j` shows them: each entry's key and value as hex byte strings, plus a
/// `"formatted"` form decoded from the map's BTF types (struct fields by name, integers as numbers, arrays element by
/// element, per-CPU values per CPU, global-data sections as their variables). The schema is in docs/JSON.md.
///
/// For any caller holding a `MapSpec` and the raw bytes: `sluice replay --maps-out`, the kernel comparison's report,
/// a control plane reading a live map.
public enum MapDump {
    /// The `"version"` of the document `document(_:)` writes; raised when a field changes meaning or goes away.
    public static let schemaVersion = 1

    /// A decoded JSON value.
    public indirect enum Value: Hashable, Sendable, CustomStringConvertible {
        case unsigned(UInt64)
        case signed(Int64)
        case bool(Bool)
        case double(Double)
        case string(String)
        case array([Value])
        case object([Field])

        public struct Field: Hashable, Sendable {
            public var name: String
            public var value: Value
            public init(_ name: String, _ value: Value) {
                self.name = name
                self.value = value
            }
        }

        /// Compact JSON text.
        public var json: String {
            var text = ""
            append(to: &text)
            return text
        }

        public var description: String { json }

        /// The member `name` of an object.
        public subscript(name: String) -> Value? {
            guard case .object(let fields) = self else { return nil }
            return fields.first { $0.name == name }?.value
        }

        /// Element `index` of an array.
        public subscript(index: Int) -> Value? {
            guard case .array(let elements) = self, elements.indices.contains(index) else { return nil }
            return elements[index]
        }

        func append(to text: inout String) {
            switch self {
            case .unsigned(let value): text += String(value)
            case .signed(let value): text += String(value)
            case .bool(let value): text += value ? "true" : "false"
            case .double(let value): text += value.isFinite ? "\(value)" : "null"
            case .string(let value): text += JSONText.string(value)
            case .array(let elements):
                text += "["
                for (index, element) in elements.enumerated() {
                    if index > 0 { text += "," }
                    element.append(to: &text)
                }
                text += "]"
            case .object(let fields):
                text += "{"
                for (index, field) in fields.enumerated() {
                    if index > 0 { text += "," }
                    text += JSONText.string(field.name)
                    text += ":"
                    field.value.append(to: &text)
                }
                text += "}"
            }
        }
    }

    // MARK: - Decoding

    /// The value of `bytes` read as `type`. Bytes missing at the end (a shorter buffer than the type) decode as a
    /// hex string of what is there, never as made-up zeros.
    public static func decode(_ bytes: [UInt8], as type: BTFType) -> Value {
        bytes.withUnsafeBytes { decode($0, as: type) }
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer, as type: BTFType) -> Value {
        guard bytes.count >= type.size else { return .string(hexString(bytes)) }
        switch type {
        case .integer(_, let size, let encoding):
            switch encoding {
            case .bool: return .bool(bytes[0..<size].contains { $0 != 0 })
            case .signed:
                return size <= 8 ? .signed(signExtend(load(bytes, 0, size), bits: size * 8)) : wide(bytes, size)
            case .unsigned, .char: return size <= 8 ? .unsigned(load(bytes, 0, size)) : wide(bytes, size)
            }
        case .enumeration(_, let size, let signed):
            let raw = load(bytes, 0, min(size, 8))
            return signed ? .signed(signExtend(raw, bits: min(size, 8) * 8)) : .unsigned(raw)
        case .float(_, let size):
            if size == 4 { return .double(Double(Float(bitPattern: UInt32(truncatingIfNeeded: load(bytes, 0, 4))))) }
            if size == 8 { return .double(Double(bitPattern: load(bytes, 0, 8))) }
            return .string(hexString(UnsafeRawBufferPointer(rebasing: bytes[0..<size])))
        case .pointer:
            return .unsigned(load(bytes, 0, 8))
        case .array(let element, let count):
            let stride = element.size
            // Zero-sized elements (flexible arrays, empty structs) have nothing to show, however many are declared.
            guard stride > 0 else { return .array([]) }
            return .array(
                (0..<count).map { index in
                    decode(
                        UnsafeRawBufferPointer(rebasing: bytes[(index * stride)..<(index * stride + stride)]),
                        as: element)
                })
        case .structure(_, _, let members), .union(_, _, let members):
            return .object(
                members.map { member in
                    Value.Field(member.name, decode(member: member, in: bytes))
                })
        case .dataSection(_, _, let variables):
            return .object(
                variables.map { variable in
                    guard variable.offset >= 0, variable.offset <= bytes.count,
                        variable.type.size <= bytes.count - variable.offset
                    else { return Value.Field(variable.name, .string("")) }
                    let end = variable.offset + variable.type.size
                    return Value.Field(
                        variable.name,
                        decode(UnsafeRawBufferPointer(rebasing: bytes[variable.offset..<end]), as: variable.type))
                })
        case .opaque(let size):
            return .string(hexString(UnsafeRawBufferPointer(rebasing: bytes[0..<size])))
        }
    }

    private static func decode(member: BTFType.Member, in bytes: UnsafeRawBufferPointer) -> Value {
        if member.bitfieldSize > 0 {
            // A bitfield: the bits [bitOffset, bitOffset + size) of the little-endian struct image.
            let firstByte = member.bitOffset / 8
            let shift = member.bitOffset % 8
            let byteCount = (shift + member.bitfieldSize + 7) / 8
            guard member.bitfieldSize <= 64, firstByte >= 0, firstByte <= bytes.count - byteCount else {
                return .string("")
            }
            var raw: UInt64 = 0
            var high: UInt64 = 0  // a 64-bit field not on a byte boundary spills into a ninth byte
            for index in 0..<byteCount {
                let byte = UInt64(bytes[firstByte + index])
                if index < 8 { raw |= byte << (8 * UInt64(index)) } else { high = byte }
            }
            var value = raw >> UInt64(shift)
            if shift > 0 && byteCount > 8 { value |= high << UInt64(64 - shift) }
            let mask: UInt64 = member.bitfieldSize == 64 ? ~0 : (1 << UInt64(member.bitfieldSize)) - 1
            value &= mask
            switch member.type {
            case .integer(_, _, .signed), .enumeration(_, _, true):
                return .signed(signExtend(value, bits: member.bitfieldSize))
            case .integer(_, _, .bool):
                return .bool(value != 0)
            default:
                return .unsigned(value)
            }
        }
        let start = member.bitOffset / 8
        guard start >= 0, start <= bytes.count, member.type.size <= bytes.count - start else { return .string("") }
        let end = start + member.type.size
        return decode(UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: member.type)
    }

    private static func load(_ bytes: UnsafeRawBufferPointer, _ offset: Int, _ size: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<min(size, 8) { value |= UInt64(bytes[offset + index]) << (8 * UInt64(index)) }
        return value
    }

    private static func signExtend(_ value: UInt64, bits: Int) -> Int64 {
        guard bits > 0, bits < 64 else { return Int64(bitPattern: value) }
        let shift = UInt64(64 - bits)
        return Int64(bitPattern: value << shift) >> Int64(shift)
    }

    /// Integers wider than 64 bits (`__int128`) as a `0x…` string, most significant digit first.
    private static func wide(_ bytes: UnsafeRawBufferPointer, _ size: Int) -> Value {
        .string("0x" + Hex.string(bytes[0..<size].reversed()))
    }

    // MARK: - bpftool's entry shape

    /// One entry as `bpftool map dump -j` prints it: `"key"` and `"value"` as `"0x.."` byte strings (per-CPU maps:
    /// `"values": [{"cpu": N, "value": [...]}]`), and `"formatted"` when the map has BTF key and value types.
    public static func entry(spec: MapSpec, key: [UInt8], values: [[UInt8]]) -> Value {
        let perCPU = spec.type.isPerCPU
        /// `"value": V`, or `"values": [{"cpu": N, "value": V}]` for per-CPU maps, with each value rendered by `form`.
        func valueField(_ form: ([UInt8]) -> Value) -> Value.Field {
            guard perCPU else { return Value.Field("value", form(values.first ?? [])) }
            return Value.Field(
                "values",
                .array(
                    values.enumerated().map { cpu, value in
                        .object([Value.Field("cpu", .unsigned(UInt64(cpu))), Value.Field("value", form(value))])
                    }))
        }
        var fields = [Value.Field("key", hexBytes(key)), valueField(hexBytes)]
        if let keyType = spec.keyType ?? implicitKeyType(spec), let valueType = spec.valueType {
            let formatted = [Value.Field("key", decode(key, as: keyType)), valueField { decode($0, as: valueType) }]
            fields.append(Value.Field("formatted", .object(formatted)))
        }
        return .object(fields)
    }

    /// Array-like maps are indexed by a `u32` even when the object does not say so (`key_size` only).
    static func implicitKeyType(_ spec: MapSpec) -> BTFType? {
        switch spec.type {
        case .array, .percpuArray, .progArray, .devmap, .cpumap, .xskmap:
            spec.keySize == 4 ? .integer(name: "u32", size: 4, encoding: .unsigned) : nil
        default: nil
        }
    }

    /// The decoded form of one value (`"formatted"."value"`), or nil without BTF; for messages.
    public static func formattedValue(spec: MapSpec, _ value: [UInt8]) -> Value? {
        spec.valueType.map { decode(value, as: $0) }
    }

    /// The decoded form of a key, or nil without BTF.
    public static func formattedKey(spec: MapSpec, _ key: [UInt8]) -> Value? {
        (spec.keyType ?? implicitKeyType(spec)).map { decode(key, as: $0) }
    }

    /// One map: its definition and every entry, sorted by key bytes (array maps: every index, zeroed ones too).
    public static func map(spec: MapSpec, entries: [MapSnapshot.Entry]) -> Value {
        let sorted = entries.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        return .object([
            Value.Field("name", .string(spec.name)),
            Value.Field("type", .string(spec.type.description)),
            Value.Field("key_size", .unsigned(UInt64(spec.keySize))),
            Value.Field("value_size", .unsigned(UInt64(spec.valueSize))),
            Value.Field("max_entries", .unsigned(UInt64(spec.maxEntries))),
            Value.Field("btf", .bool(spec.valueType != nil)),
            Value.Field("entries", .array(sorted.map { entry(spec: spec, key: $0.key, values: $0.values) })),
        ])
    }

    /// The `--maps-out` document: `{"version": 1, "maps": [...]}`, one map per line. `specs` and `snapshots` are
    /// matched by position (a loaded program's maps and its `mapSnapshots()`).
    public static func document(specs: [MapSpec], snapshots: [MapSnapshot]) -> String {
        var text = "{\"version\":\(schemaVersion),\"maps\":["
        for (index, (spec, snapshot)) in zip(specs, snapshots).enumerated() {
            text += index == 0 ? "\n" : ",\n"
            map(spec: spec, entries: snapshot.entries).append(to: &text)
        }
        text += "\n]}\n"
        return text
    }

    // MARK: - Text pieces

    static func hexBytes(_ bytes: [UInt8]) -> Value {
        .array(bytes.map { .string("0x" + Hex.string([$0])) })
    }

    static func hexString(_ bytes: UnsafeRawBufferPointer) -> String { "0x" + Hex.string(bytes) }

}

extension MapDump {
    /// A `--maps-out` file: opened first (so a bad path fails early), written once, then closed (atomically for a
    /// regular file, '-' is standard output).
    public struct OutputDocument: ~Copyable {
        private var file: OutputFile

        public init(path: String) throws(SystemError) { file = try OutputFile(path: path, atomically: true) }

        public mutating func write(specs: [MapSpec], snapshots: [MapSnapshot]) throws(SystemError) {
            let text = Array(document(specs: specs, snapshots: snapshots).utf8)
            try text.withUnsafeBytes { bytes in Result { () throws(SystemError) in try file.write(bytes) } }.get()
        }

        public consuming func close() throws(SystemError) { try file.close() }
    }
}
