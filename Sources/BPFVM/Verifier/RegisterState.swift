/// What a register may hold, as the verifier tracks it (the kernel's `enum bpf_reg_type` for XDP programs).
enum RegisterKind: UInt8, Hashable, Sendable {
    case notInitialised
    case scalar
    /// `struct xdp_md *`.
    case context
    /// `data + …`; `range` bytes after the pointer's base (`data` + variable part) are proven inside the packet.
    case packet
    case packetEnd
    /// `data_meta + …`; `range` is proven up to `data`.
    case packetMeta
    /// Pointer into the stack frame `frame`.
    case stack
    case mapValue
    case mapValueOrNull
    /// A map from `lddw map[i]` (`CONST_PTR_TO_MAP`).
    case mapPointer
    case ringbufRecord
    case ringbufRecordOrNull
    /// A function's code address (`lddw func`), for callbacks.
    case codeAddress

    var name: String {
        switch self {
        case .notInitialised: "not initialised"
        case .scalar: "scalar"
        case .context: "context (xdp_md)"
        case .packet: "pointer to packet"
        case .packetEnd: "packet end (data_end)"
        case .packetMeta: "pointer to packet metadata"
        case .stack: "pointer to stack"
        case .mapValue: "pointer to map value"
        case .mapValueOrNull: "map value or NULL"
        case .mapPointer: "map"
        case .ringbufRecord: "ring buffer record"
        case .ringbufRecordOrNull: "ring buffer record or NULL"
        case .codeAddress: "code address"
        }
    }

    var isPointer: Bool { self != .notInitialised && self != .scalar }
    /// Pointers to which a scalar may be added.
    var allowsArithmetic: Bool {
        switch self {
        case .packet, .packetMeta, .stack, .mapValue, .ringbufRecord: true
        default: false
        }
    }
    var isNullable: Bool { self == .mapValueOrNull || self == .ringbufRecordOrNull }
}

/// One register's abstract value.
struct RegisterState: Hashable, Sendable {
    var kind: RegisterKind
    /// For scalars the value; for pointers the variable part of the offset.
    var value: Scalar
    /// Fixed offset of a pointer from its base.
    var offset: Int64 = 0
    /// Scalars: registers sharing a non-zero id hold the same value (copies), so a check on one refines all.
    /// Packet pointers: the same variable part (ranges are shared). Nullable pointers: the same lookup result.
    var id: UInt32 = 0
    /// The reference (ring buffer reservation) this pointer belongs to; 0 if none.
    var referenceID: UInt32 = 0
    /// Packet pointers: bytes after the base proven to be inside the packet.
    var range: Int64 = 0
    /// Packet pointers: the instruction whose bounds check proved `range` (-1: none).
    var rangeProvenAt: Int32 = -1
    /// Map index (map pointers and values), stack frame (stack pointers), target instruction (code addresses).
    var target: Int32 = 0
    /// Ring buffer record size in bytes.
    var size: Int64 = 0

    static let notInitialised = RegisterState(kind: .notInitialised, value: .unknown)
    static let unknownScalar = RegisterState(kind: .scalar, value: .unknown)
    static func scalar(_ value: Scalar) -> RegisterState { RegisterState(kind: .scalar, value: value) }
    static func constant(_ v: UInt64) -> RegisterState { RegisterState(kind: .scalar, value: .constant(v)) }
    static func pointer(_ kind: RegisterKind, offset: Int64 = 0, target: Int32 = 0) -> RegisterState {
        RegisterState(kind: kind, value: .constant(0), offset: offset, target: target)
    }

    var isScalar: Bool { kind == .scalar }

    /// A readable rendering, e.g. `pointer to packet (offset 14, 34 bytes proven)` or `scalar [umax=255]`.
    func description(maps: [MapSpec]) -> String {
        switch kind {
        case .notInitialised: return "not initialised"
        case .scalar: return "scalar " + (value.isConstant ? value.description : "[\(value.description)]")
        case .context, .packetEnd: return kind.name
        case .codeAddress: return "code address of instruction \(target)"
        case .mapPointer: return "map \(mapName(maps))"
        default: break
        }
        var parts: [String] = ["offset \(offset)"]
        if !value.isConstant || value.constantValue != 0 { parts.append("variable offset [\(value.description)]") }
        switch kind {
        case .packet, .packetMeta: parts.append("\(range) bytes proven")
        case .stack: parts.append("frame \(target)")
        case .mapValue, .mapValueOrNull:
            let size = Int(target) < maps.count ? maps[Int(target)].valueSize : 0
            parts.insert("map \(mapName(maps)), value size \(size)", at: 0)
        case .ringbufRecord, .ringbufRecordOrNull: parts.insert("size \(size), reference \(referenceID)", at: 0)
        default: break
        }
        return kind.name + " (" + parts.joined(separator: ", ") + ")"
    }

    private func mapName(_ maps: [MapSpec]) -> String {
        Int(target) < maps.count && target >= 0 ? "'\(maps[Int(target)].name)'" : "#\(target)"
    }
}
