import BPFVM

/// Keys and values as users type them and as bpftool prints them.
///
/// Input forms (the same as `bpftool map update … key hex 01 02`): `hex 01 02 …` (one byte per word; a word of
/// more than two digits is several bytes), `0x0102…` (bytes in the order written), or plain decimal bytes
/// `1 2 …`. Output: lowercase two-digit hex bytes separated by spaces, as `bpftool map dump` prints them.
public enum MapBytes {
    public struct Error: Swift.Error, CustomStringConvertible, Equatable {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// Parses one key or value given as words (`["hex", "01", "02"]`, `["0x0102"]`, `["1", "2"]`).
    public static func parse(_ words: [String], what: String) throws(Error) -> [UInt8] {
        guard let first = words.first else { throw Error("\(what): no bytes given") }
        if first == "hex" {
            guard words.count > 1 else { throw Error("\(what): 'hex' must be followed by bytes, e.g. hex 01 02") }
            var bytes: [UInt8] = []
            for word in words.dropFirst() { bytes += try hexDigits(word, what: what) }
            return bytes
        }
        if words.count == 1, first.hasPrefix("0x") || first.hasPrefix("0X") {
            return try hexDigits(String(first.dropFirst(2)), what: what)
        }
        return try words.map { word throws(Error) -> UInt8 in
            guard let byte = UInt8(word) else {
                throw Error(
                    "\(what): '\(word)' is not a byte; give bytes as 'hex 01 02', '0x0102' or decimal '1 2'")
            }
            return byte
        }
    }

    /// Bytes from a string of hex digit pairs (spaces allowed between pairs).
    public static func hexDigits(_ text: String, what: String) throws(Error) -> [UInt8] {
        let digits = Array(text.filter { $0 != " " })
        guard !digits.isEmpty else { throw Error("\(what): no hex digits") }
        // A single digit is one byte (bpftool accepts `hex 1`); otherwise digits come in pairs.
        if digits.count == 1, let byte = UInt8(String(digits), radix: 16) { return [byte] }
        guard digits.count % 2 == 0 else {
            throw Error("\(what): '\(text)' has an odd number of hex digits (each byte is two digits)")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for i in stride(from: 0, to: digits.count, by: 2) {
            guard let byte = UInt8(String(digits[i...i + 1]), radix: 16) else {
                throw Error("\(what): '\(text)' is not hex")
            }
            bytes.append(byte)
        }
        return bytes
    }

    /// `01 02 ff`.
    public static func format(_ bytes: [UInt8]) -> String {
        bytes.map { byte in
            let text = String(byte, radix: 16)
            return byte < 16 ? "0" + text : text
        }.joined(separator: " ")
    }

    /// `0102ff`: the compact form the control protocol carries.
    public static func compact(_ bytes: [UInt8]) -> String { format(bytes).filter { $0 != " " } }

    /// bpftool's JSON shape: `["0x01", "0x02"]`.
    public static func jsonArray(_ bytes: [UInt8]) -> [String] {
        bytes.map { byte in
            let text = String(byte, radix: 16)
            return byte < 16 ? "0x0" + text : "0x" + text
        }
    }
}

/// Where decoded (BTF-typed) keys and values plug into `ctl map dump`/`lookup`: `MapDump`'s `"formatted"` member
/// (struct fields by name, integers as numbers, per-CPU values per CPU), or nil when the map has no BTF types.
public enum MapEntryDecoder {
    public static func decode(map: BPFMap, key: [UInt8], values: [[UInt8]]) -> ControlJSON? {
        MapDump.entry(spec: map.spec, key: key, values: values)["formatted"].map(ControlJSON.init)
    }
}

extension ControlJSON {
    /// The same value in the control protocol's JSON.
    init(_ value: MapDump.Value) {
        switch value {
        // As the protocol's decoder reads numbers back: Int64 where it fits, so a value survives the round trip.
        case .unsigned(let v): self = v <= UInt64(Int64.max) ? .integer(Int64(v)) : .unsigned(v)
        case .signed(let v): self = .integer(v)
        case .bool(let v): self = .bool(v)
        case .double(let v): self = .double(v)
        case .string(let v): self = .string(v)
        case .array(let elements): self = .array(elements.map(ControlJSON.init))
        case .object(let fields):
            self = .object(Dictionary(fields.map { ($0.name, ControlJSON($0.value)) }, uniquingKeysWith: { a, _ in a }))
        }
    }
}
