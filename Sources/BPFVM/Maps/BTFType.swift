/// A map key or value type from the object's BTF, copied out at load as a self-contained tree, so that map contents
/// can be shown field by field (`MapDump`) long after the BTF itself is gone.
///
/// Typedefs and `const`/`volatile`/`restrict`/type-tag modifiers are already resolved; pointers are not followed (a
/// map value holds the pointer's bits, not what it points to), so the tree is finite.
public indirect enum BTFType: Hashable, Sendable {
    /// `BTF_KIND_INT`: `size` bytes, signed, unsigned, `bool` or `char` by its encoding (`BTF_INT_SIGNED`,
    /// `BTF_INT_BOOL`, `BTF_INT_CHAR`).
    case integer(name: String, size: Int, encoding: IntegerEncoding)
    /// `BTF_KIND_ENUM` / `BTF_KIND_ENUM64`, signed when its `kind_flag` says so.
    case enumeration(name: String, size: Int, signed: Bool)
    /// `BTF_KIND_FLOAT` (4 or 8 bytes).
    case float(name: String, size: Int)
    /// `BTF_KIND_PTR`: 8 bytes shown as an unsigned number.
    case pointer
    /// `BTF_KIND_ARRAY`.
    case array(element: BTFType, count: Int)
    /// `BTF_KIND_STRUCT`.
    case structure(name: String, size: Int, members: [Member])
    /// `BTF_KIND_UNION`: every member decoded from the same bytes.
    case union(name: String, size: Int, members: [Member])
    /// `BTF_KIND_DATASEC` of a global-data map (`.bss`, `.data`, `.rodata`): its variables by name.
    case dataSection(name: String, size: Int, variables: [Variable])
    /// A type without a decodable layout (forward declaration, function prototype, void): its bytes as hex.
    case opaque(size: Int)

    public enum IntegerEncoding: Hashable, Sendable {
        case unsigned, signed, bool, char
    }

    public struct Member: Hashable, Sendable {
        public var name: String
        /// Bit offset from the start of the enclosing struct or union.
        public var bitOffset: Int
        /// Width of a bitfield in bits; 0 for an ordinary member.
        public var bitfieldSize: Int
        public var type: BTFType
        public init(name: String, bitOffset: Int, bitfieldSize: Int = 0, type: BTFType) {
            self.name = name
            self.bitOffset = bitOffset
            self.bitfieldSize = bitfieldSize
            self.type = type
        }
    }

    public struct Variable: Hashable, Sendable {
        public var name: String
        public var offset: Int
        public var type: BTFType
        public init(name: String, offset: Int, type: BTFType) {
            self.name = name
            self.offset = offset
            self.type = type
        }
    }

    /// Bytes the type occupies.
    public var size: Int {
        switch self {
        case .integer(_, let size, _), .enumeration(_, let size, _), .float(_, let size): size
        case .pointer: 8
        case .array(let element, let count):
            // Saturating: a hostile object's nested counts must not trap (the value then fails every size check).
            count < 0 || element.size.multipliedReportingOverflow(by: count).overflow ? Int.max : element.size * count
        case .structure(_, let size, _), .union(_, let size, _), .dataSection(_, let size, _): size
        case .opaque(let size): size
        }
    }

    /// The name of the innermost member or variable that covers byte `offset` (`flow.last_seen`, `counts[3]`), for
    /// messages; nil when the offset is outside the type or between members.
    public func fieldPath(atByteOffset offset: Int) -> String? {
        guard offset >= 0, offset < size else { return nil }
        switch self {
        case .structure(_, _, let members), .union(_, _, let members):
            for member in members {
                let start = member.bitOffset / 8
                let length =
                    member.bitfieldSize > 0 ? (member.bitfieldSize + member.bitOffset % 8 + 7) / 8 : member.type.size
                guard offset >= start, offset - start < length else { continue }
                let inner = member.bitfieldSize > 0 ? nil : member.type.fieldPath(atByteOffset: offset - start)
                let name = member.name.isEmpty ? "<anonymous>" : member.name
                guard let inner else { return name }
                return inner.hasPrefix("[") ? name + inner : name + "." + inner
            }
            return nil
        case .dataSection(_, _, let variables):
            for variable in variables where offset >= variable.offset && offset - variable.offset < variable.type.size {
                let inner = variable.type.fieldPath(atByteOffset: offset - variable.offset)
                guard let inner else { return variable.name }
                return inner.hasPrefix("[") ? variable.name + inner : variable.name + "." + inner
            }
            return nil
        case .array(let element, _):
            let stride = max(element.size, 1)
            let index = offset / stride
            let inner = element.fieldPath(atByteOffset: offset - index * stride)
            guard let inner else { return "[\(index)]" }
            return "[\(index)]" + (inner.hasPrefix("[") ? inner : "." + inner)
        default:
            return nil
        }
    }
}
