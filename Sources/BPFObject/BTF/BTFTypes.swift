import CLibXDP

#if canImport(Glibc)
    import Glibc
#endif

/// The object's `.BTF` section, read through libbpf's BTF API (`btf__new`), which validates the type graph.
///
/// Only used while an object is being loaded: everything the loader needs is copied out into Swift values.
final class BTFTypes {
    /// BTF kinds (`BTF_KIND_*` in `linux/btf.h`).
    enum Kind: UInt16 {
        case void = 0
        case int = 1
        case pointer = 2
        case array = 3
        case structure = 4
        case union = 5
        case enumeration = 6
        case forward = 7
        case typedef = 8
        case volatile = 9
        case const = 10
        case restrict = 11
        case function = 12
        case functionPrototype = 13
        case variable = 14
        case dataSection = 15
        case float = 16
        case declarationTag = 17
        case typeTag = 18
        case enumeration64 = 19
    }

    struct Member {
        var name: String
        var typeID: UInt32
        var bitOffset: UInt32
    }

    /// One entry of a `DATASEC`: a variable (`VAR`) or, in `.ksyms`, an extern function (`FUNC`).
    struct SectionEntry {
        var name: String
        /// The `VAR`/`FUNC` type id itself.
        var entryID: UInt32
        var kind: Kind
        /// For a variable, the type of the variable.
        var typeID: UInt32
        var offset: UInt32
        var size: UInt32
    }

    private let btf: OpaquePointer

    /// Parses raw BTF; returns nil with libbpf's reason when the data is not valid BTF.
    init(bytes: [UInt8]) throws(BTFError) {
        var errorCode: Int32 = 0
        let parsed: OpaquePointer? = bytes.withUnsafeBytes { raw in
            let result = btf__new(raw.baseAddress, UInt32(raw.count))
            if result == nil { errorCode = errno }
            return result
        }
        guard let parsed else { throw BTFError(code: errorCode) }
        btf = parsed
    }

    deinit { btf__free(btf) }

    struct BTFError: Error {
        var code: Int32
        var description: String { String(cString: strerror(code)) }
    }

    /// Number of type ids, including the void type 0.
    var typeCount: UInt32 { btf__type_cnt(btf) }

    func raw(_ id: UInt32) -> UnsafePointer<btf_type>? {
        guard id > 0, id < typeCount else { return nil }
        return btf__type_by_id(btf, id)
    }

    func kind(_ id: UInt32) -> Kind? {
        if id == 0 { return .void }
        guard let t = raw(id) else { return nil }
        return Kind(rawValue: btf_kind(t))
    }

    func name(_ id: UInt32) -> String {
        guard let t = raw(id), let cName = btf__name_by_offset(btf, t.pointee.name_off) else { return "" }
        return String(cString: cName)
    }

    /// A string of the BTF string table (names, and the file names and source lines of line info).
    func string(at offset: UInt32) -> String? {
        guard let cString = btf__name_by_offset(btf, offset) else { return nil }
        return String(cString: cString)
    }

    /// `type` of PTR, TYPEDEF, modifiers, FUNC, VAR.
    func referencedType(_ id: UInt32) -> UInt32? { raw(id).map { $0.pointee.type } }

    /// Whether a type, behind typedefs and modifiers, is a signed or unsigned integer, a `bool`, or an enum (signed
    /// when its `kind_flag` says so); nil for anything else (structs, arrays, pointers, floats).
    func integerKind(_ id: UInt32) -> GlobalVariable.IntegerKind? {
        let resolved = skippingModifiers(id)
        guard let t = raw(resolved) else { return nil }
        switch kind(resolved) {
        case .int:
            let encoding = btf_int_encoding(t)
            if encoding & UInt8(BTF_INT_BOOL) != 0 { return .bool }
            return encoding & UInt8(BTF_INT_SIGNED) != 0 ? .signed : .unsigned
        case .enumeration, .enumeration64:
            return btf_kflag(t) ? .signed : .unsigned
        default:
            return nil
        }
    }

    /// `size` of INT, STRUCT, UNION, ENUM, DATASEC.
    func declaredSize(_ id: UInt32) -> UInt32? { raw(id).map { $0.pointee.size } }

    /// The size of a type, following typedefs, modifiers and arrays (`btf__resolve_size`).
    func resolvedSize(_ id: UInt32) -> Int? {
        let size = btf__resolve_size(btf, id)
        return size < 0 ? nil : Int(size)
    }

    /// Follows typedefs and const/volatile/restrict/type-tag modifiers.
    func skippingModifiers(_ id: UInt32) -> UInt32 {
        var current = id
        for _ in 0..<64 {
            switch kind(current) {
            case .typedef, .volatile, .const, .restrict, .typeTag:
                guard let next = referencedType(current) else { return current }
                current = next
            default:
                return current
            }
        }
        return current
    }

    /// Element count of an ARRAY type.
    func arrayCount(_ id: UInt32) -> UInt32? {
        guard let t = raw(id), kind(id) == .array else { return nil }
        return btf_array(t).pointee.nelems
    }

    /// Element type of an ARRAY type.
    func arrayElement(_ id: UInt32) -> UInt32? {
        guard let t = raw(id), kind(id) == .array else { return nil }
        return btf_array(t).pointee.type
    }

    /// Members of a STRUCT or UNION.
    func members(_ id: UInt32) -> [Member] {
        guard let t = raw(id), kind(id) == .structure || kind(id) == .union else { return [] }
        let count = Int(btf_vlen(t))
        let base = btf_members(t)!
        return (0..<count).map { index in
            let member = base[index]
            return Member(
                name: string(at: member.name_off) ?? "", typeID: member.type,
                bitOffset: btf_member_bit_offset(t, UInt32(index)))
        }
    }

    /// Parameter types of a FUNC_PROTO.
    func parameters(_ id: UInt32) -> [UInt32] {
        guard let t = raw(id), kind(id) == .functionPrototype else { return [] }
        let count = Int(btf_vlen(t))
        guard count > 0, let base = btf_params(t) else { return [] }
        return (0..<count).map { base[$0].type }
    }

    /// Every FUNC by name: its linkage and prototype.
    func functions() -> [String: (linkage: UInt32, prototype: UInt32)] {
        var result: [String: (linkage: UInt32, prototype: UInt32)] = [:]
        var id: UInt32 = 1
        while id < typeCount {
            if kind(id) == .function, let proto = referencedType(id) {
                result[name(id)] = (linkage(id) ?? 0, proto)
            }
            id += 1
        }
        return result
    }

    /// The kernel's `btf_type_str` name of a type's kind (`STRUCT`, `UNKNOWN` for void).
    func kernelKindName(_ id: UInt32) -> String {
        switch kind(id) {
        case .int: "INT"
        case .pointer: "PTR"
        case .array: "ARRAY"
        case .structure: "STRUCT"
        case .union: "UNION"
        case .enumeration: "ENUM"
        case .forward: "FWD"
        case .typedef: "TYPEDEF"
        case .functionPrototype: "FUNC_PROTO"
        case .float: "FLOAT"
        case .enumeration64: "ENUM64"
        default: "UNKNOWN"
        }
    }

    /// Linkage of a VAR (`BTF_VAR_STATIC` 0, `BTF_VAR_GLOBAL_ALLOCATED` 1, `BTF_VAR_GLOBAL_EXTERN` 2) or FUNC
    /// (`BTF_FUNC_STATIC` 0, `GLOBAL` 1, `EXTERN` 2).
    func linkage(_ id: UInt32) -> UInt32? {
        guard let t = raw(id) else { return nil }
        switch kind(id) {
        case .variable: return btf_var(t).pointee.linkage
        case .function: return UInt32(btf_vlen(t))
        default: return nil
        }
    }

    /// Type ids of every DATASEC, by section name.
    func dataSections() -> [String: UInt32] {
        var result: [String: UInt32] = [:]
        var id: UInt32 = 1
        while id < typeCount {
            if kind(id) == .dataSection { result[name(id)] = id }
            id += 1
        }
        return result
    }

    /// The variables (and extern functions) a DATASEC lists, in order.
    func entries(ofDataSection id: UInt32) -> [SectionEntry] {
        guard let t = raw(id), kind(id) == .dataSection else { return [] }
        let count = Int(btf_vlen(t))
        let base = btf_var_secinfos(t)!
        var result: [SectionEntry] = []
        for index in 0..<count {
            let info = base[index]
            guard let entryKind = kind(info.type) else { continue }
            result.append(
                SectionEntry(
                    name: name(info.type), entryID: info.type, kind: entryKind,
                    typeID: referencedType(info.type) ?? 0, offset: info.offset, size: info.size))
        }
        return result
    }

    /// "struct iphdr", "union x", "typedef u32", for messages.
    func describe(_ id: UInt32) -> String {
        let typeName = name(id)
        switch kind(id) {
        case .structure: return "struct \(typeName.isEmpty ? "<anonymous>" : typeName)"
        case .union: return "union \(typeName.isEmpty ? "<anonymous>" : typeName)"
        case .enumeration, .enumeration64: return "enum \(typeName)"
        case .typedef: return "typedef \(typeName)"
        case .none: return "type \(id)"
        default: return typeName.isEmpty ? "type \(id)" : typeName
        }
    }
}
