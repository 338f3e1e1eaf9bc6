import BPFObject
import BPFVM
import Foundation

/// What a run starts with besides the program: map entries (`--maps INIT.json`) and global variables
/// (`--set NAME=VALUE`). The same state is given to Sluice and to the kernel runner, so their results compare.
public struct InitialState: Sendable {
    /// Entries by map name. For global-data maps (`.rodata`, `.data`, `.bss`, …) the key is index 0 and the value
    /// the whole section (or a prefix of it).
    public var maps: [String: [(key: [UInt8], value: [UInt8])]] = [:]
    /// Global variables by BTF name, value bytes in the variable's size.
    public var globals: [String: [UInt8]] = [:]

    public init() {}

    public struct Error: Swift.Error, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// Parses `{"map name": {"hex key": "hex value", …}, …}` strictly (`StrictJSON`): syntax errors give the line and
    /// column; a map named twice, a key given twice (also when two spellings are the same bytes, `"0a"` and `"0x0a"`)
    /// or a map already given by an earlier file is an error.
    public mutating func addMaps(json: [UInt8], source: String) throws(Error) {
        let document: StrictJSON.Value
        do { document = try StrictJSON.parse(json) } catch {
            throw Error("\(source): not valid JSON: \(error)")
        }
        guard case .object(let top) = document else {
            throw Error("\(source): expected an object of maps: {\"map name\": {\"hex key\": \"hex value\"}}")
        }
        for map in top {
            let name = map.key
            guard maps[name] == nil else {
                throw Error("\(source): \(map.position): map '\(name)' is given twice")
            }
            guard case .object(let entries) = map.value else {
                throw Error(
                    "\(source): \(map.position): map '\(name)' must be an object of \"hex key\": \"hex value\" pairs")
            }
            var keys: [[UInt8]: String] = [:]
            var parsed: [(key: [UInt8], value: [UInt8])] = []
            for entry in entries {
                guard let key = Hex.bytes(entry.key), !key.isEmpty else {
                    throw Error("\(source): \(entry.position): map '\(name)': key '\(entry.key)' is not hex")
                }
                if let other = keys[key] {
                    throw Error(
                        "\(source): \(entry.position): map '\(name)': key '\(entry.key)' is the same key as '\(other)'")
                }
                keys[key] = entry.key
                guard case .string(let valueText) = entry.value, let value = Hex.bytes(valueText) else {
                    throw Error(
                        "\(source): \(entry.position): map '\(name)' key \(entry.key): value must be a hex string")
                }
                parsed.append((key, value))
            }
            maps[name] = parsed.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        }
    }

    /// Parses `NAME=VALUE` for a global of `size` bytes: a decimal or `0x` integer (little-endian, two's complement
    /// for negatives) or `hex:BYTES` for raw bytes.
    public mutating func addGlobal(_ assignment: String, object: BPFObjectFile) throws(Error) {
        guard let equals = assignment.firstIndex(of: "=") else {
            throw Error("--set '\(assignment)': expected NAME=VALUE")
        }
        let name = String(assignment[..<equals])
        let text = String(assignment[assignment.index(after: equals)...])
        guard let variable = object.globals.first(where: { $0.name == name }) else {
            let known = object.globals.map(\.name).sorted().joined(separator: ", ")
            throw Error("--set \(name): no global variable of that name (globals: \(known.isEmpty ? "none" : known))")
        }
        var bytes: [UInt8]
        if text.hasPrefix("hex:") {
            guard let raw = Hex.bytes(String(text.dropFirst(4))), raw.count == variable.size else {
                throw Error("--set \(name): expected \(variable.size) hex bytes after 'hex:'")
            }
            bytes = raw
        } else {
            let negative = text.hasPrefix("-")
            let digits = negative ? String(text.dropFirst()) : text
            let magnitude =
                digits.hasPrefix("0x") ? UInt64(digits.dropFirst(2), radix: 16) : UInt64(digits, radix: 10)
            guard let magnitude, (1...8).contains(variable.size) else {
                throw Error("--set \(name): '\(text)' is not an integer for a \(variable.size)-byte variable")
            }
            let (minimum, maximum) = Self.range(of: variable)
            let fits = negative ? magnitude <= minimum.magnitude : magnitude <= maximum
            guard fits else {
                let type = Self.typeName(of: variable)
                throw Error("--set \(name): \(text) is out of range for \(type) (\(minimum)...\(maximum))")
            }
            let value = negative ? 0 &- magnitude : magnitude
            bytes = (0..<variable.size).map { UInt8(truncatingIfNeeded: value >> (UInt64($0) * 8)) }
        }
        globals[name] = bytes
    }

    /// The values a `--set` integer may take for `variable`: from its BTF type (signed or unsigned, `bool` 0...1); a
    /// variable without BTF integer type takes either reading of its width (-2^(n-1) ... 2^n - 1).
    static func range(of variable: GlobalVariable) -> (minimum: Int64, maximum: UInt64) {
        let bits = UInt64(variable.size * 8)
        let unsignedMaximum = bits >= 64 ? UInt64.max : (1 << bits) - 1
        let signedMaximum = unsignedMaximum >> 1
        let signedMinimum = bits >= 64 ? Int64.min : -Int64(signedMaximum) - 1
        switch variable.integer {
        case .bool: return (0, 1)
        case .signed: return (signedMinimum, signedMaximum)
        case .unsigned: return (0, unsignedMaximum)
        case nil: return (signedMinimum, unsignedMaximum)
        }
    }

    static func typeName(of variable: GlobalVariable) -> String {
        switch variable.integer {
        case .bool: "a bool"
        case .signed: "a signed \(variable.size * 8)-bit integer"
        case .unsigned: "an unsigned \(variable.size * 8)-bit integer"
        case nil: "a \(variable.size)-byte variable"
        }
    }

    /// Applies global-data contents (maps named like a data section, and `--set` globals) to the spec before load,
    /// as the kernel applies them before freezing `.rodata`.
    public func apply(to spec: inout ProgramSpec, object: BPFObjectFile) throws(Error) {
        for (index, map) in spec.maps.enumerated() where map.isGlobalData {
            guard let entries = maps[map.name] else { continue }
            var value = map.initialValue ?? [UInt8](repeating: 0, count: map.valueSize)
            for entry in entries {
                guard entry.key == [0, 0, 0, 0], entry.value.count <= value.count else {
                    throw Error(
                        "map \(map.name): global data takes key 00000000 and at most \(value.count) bytes of value")
                }
                value.replaceSubrange(0..<entry.value.count, with: entry.value)
            }
            spec.maps[index].initialValue = value
        }
        for (name, bytes) in globals {
            guard let variable = object.globals.first(where: { $0.name == name }),
                spec.maps.indices.contains(variable.mapIndex)
            else { throw Error("--set \(name): no such global") }
            var value =
                spec.maps[variable.mapIndex].initialValue
                ?? [UInt8](repeating: 0, count: spec.maps[variable.mapIndex].valueSize)
            guard variable.offset + bytes.count <= value.count else { throw Error("--set \(name): out of range") }
            value.replaceSubrange(variable.offset..<variable.offset + bytes.count, with: bytes)
            spec.maps[variable.mapIndex].initialValue = value
        }
        for name in spec.siblings.keys { spec.siblings[name]?.maps = spec.maps }
    }

    /// Fills ordinary maps of a loaded program (global data was applied before load).
    public func apply(to program: LoadedProgram) throws(Error) {
        for (name, entries) in maps.sorted(by: { $0.key < $1.key }) {
            guard let map = program.map(named: name) else {
                let known = program.maps.map(\.spec.name).joined(separator: ", ")
                throw Error("--maps: no map named '\(name)' (maps: \(known))")
            }
            if map.spec.isGlobalData { continue }
            for entry in entries {
                do {
                    if map.spec.type.isPerCPU && entry.value.count == map.spec.valueSize * map.possibleCPUs
                        && map.possibleCPUs > 1
                    {
                        let values = (0..<map.possibleCPUs).map {
                            Array(entry.value[$0 * map.spec.valueSize..<($0 + 1) * map.spec.valueSize])
                        }
                        try map.updatePerCPU(key: entry.key, values: values)
                    } else {
                        try map.update(key: entry.key, value: entry.value)
                    }
                } catch {
                    throw Error("--maps: map '\(name)' key \(Hex.string(entry.key)): \(error)")
                }
            }
        }
    }
}
