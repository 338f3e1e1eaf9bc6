import BPFVM
import CLibXDP

extension BTFTypes {
    /// Deepest nesting of structs and arrays copied out; beyond it a type is kept as opaque bytes.
    static let maximumLayoutDepth = 32

    /// Every named STRUCT, UNION and TYPEDEF (of a struct or union) by name; a name used twice keeps the first.
    func namedLayouts() -> [String: BTFType] {
        var result: [String: BTFType] = [:]
        var id: UInt32 = 1
        while id < typeCount {
            let typeName = name(id)
            if !typeName.isEmpty, result[typeName] == nil {
                switch kind(id) {
                case .structure, .union: result[typeName] = layout(of: id)
                case .typedef where [.structure, .union].contains(kind(skippingModifiers(id))):
                    result[typeName] = layout(of: id)
                default: break
                }
            }
            id += 1
        }
        return result
    }

    /// The self-contained `BTFType` of type `id` (typedefs and modifiers resolved, pointers not followed).
    func layout(of id: UInt32) -> BTFType { layout(of: id, depth: 0) }

    private func layout(of id: UInt32, depth: Int) -> BTFType {
        let resolved = skippingModifiers(id)
        let size = resolvedSize(resolved) ?? 0
        guard depth < Self.maximumLayoutDepth, let t = raw(resolved) else { return .opaque(size: size) }
        switch kind(resolved) {
        case .int:
            let encoding = btf_int_encoding(t)
            let kind: BTFType.IntegerEncoding =
                encoding & UInt8(BTF_INT_BOOL) != 0
                ? .bool
                : encoding & UInt8(BTF_INT_SIGNED) != 0
                    ? .signed : encoding & UInt8(BTF_INT_CHAR) != 0 ? .char : .unsigned
            return .integer(name: name(resolved), size: size, encoding: kind)
        case .enumeration, .enumeration64:
            return .enumeration(name: name(resolved), size: size, signed: btf_kflag(t))
        case .float:
            return .float(name: name(resolved), size: size)
        case .pointer:
            return .pointer
        case .array:
            guard let element = arrayElement(resolved), let count = arrayCount(resolved) else {
                return .opaque(size: size)
            }
            return .array(element: layout(of: element, depth: depth + 1), count: Int(count))
        case .structure, .union:
            var members: [BTFType.Member] = []
            for (index, member) in self.members(resolved).enumerated() {
                var bitOffset = Int(member.bitOffset)
                var bitfieldSize = Int(btf_member_bitfield_size(t, UInt32(index)))
                let memberType = skippingModifiers(member.typeID)
                // Without the struct's kind_flag, a bitfield is an INT whose bit count is smaller than its storage.
                if bitfieldSize == 0, kind(memberType) == .int, let int = raw(memberType),
                    Int(btf_int_bits(int)) != Int(int.pointee.size) * 8
                {
                    bitfieldSize = Int(btf_int_bits(int))
                    bitOffset += Int(btf_int_offset(int))
                }
                members.append(
                    BTFType.Member(
                        name: member.name, bitOffset: bitOffset, bitfieldSize: bitfieldSize,
                        type: layout(of: member.typeID, depth: depth + 1)))
            }
            return kind(resolved) == .structure
                ? .structure(name: name(resolved), size: size, members: members)
                : .union(name: name(resolved), size: size, members: members)
        case .dataSection:
            let variables = entries(ofDataSection: resolved).filter { $0.kind == .variable }.map {
                BTFType.Variable(name: $0.name, offset: Int($0.offset), type: layout(of: $0.typeID, depth: depth + 1))
            }
            return .dataSection(name: name(resolved), size: Int(declaredSize(resolved) ?? 0), variables: variables)
        default:
            return .opaque(size: size)
        }
    }
}
