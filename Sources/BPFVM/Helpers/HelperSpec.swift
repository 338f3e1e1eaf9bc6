/// One helper or kfunc of Sluice's ABI, described once as data: the verifier checks calls against `arguments` and
/// `returns`, the translator binds `implementation`, `sluice verify`/docs print the rest.
///
/// Stability promise: a released entry (name, id, version) never changes meaning. New behaviour is a new entry —
/// a new kfunc name with the next `_vN` suffix — and old entries stay.
public struct HelperSpec: Sendable {
    /// Kernel helper id (`BPF_FUNC_*`), or nil for a kfunc (called by name).
    public var id: Int32?
    /// `bpf_map_lookup_elem`, or the kfunc's name (`sluice_abi_version_v1`).
    public var name: String
    /// The Sluice ABI version that introduced the entry.
    public var version: Int
    public var arguments: [ArgumentKind]
    public var returns: ReturnKind
    /// Whether the call may move or resize the packet (`adjust_head/tail/meta`, `xdp_store_bytes` does not):
    /// every packet pointer the program holds is invalid after it, as in the kernel.
    public var changesPacket: Bool
    /// The implementation; nil for helpers the interpreter implements itself (tail call, loop).
    public var implementation: HelperFunction?
    /// A helper Sluice knows but refuses, with the reason shown at load time (e.g. `bpf_fib_lookup`).
    public var refusal: String?

    public init(
        id: Int32?, name: String, version: Int = 1, arguments: [ArgumentKind], returns: ReturnKind,
        changesPacket: Bool = false, implementation: HelperFunction?, refusal: String? = nil
    ) {
        self.id = id
        self.name = name
        self.version = version
        self.arguments = arguments
        self.returns = returns
        self.changesPacket = changesPacket
        self.implementation = implementation
        self.refusal = refusal
    }
}

/// What a helper argument must be (the kernel's `ARG_*` kinds that XDP helpers use).
public enum ArgumentKind: Hashable, Sendable {
    /// Any initialised scalar (`ARG_ANYTHING`).
    case anything
    /// The program's context pointer (`ARG_PTR_TO_CTX`).
    case context
    /// A map pointer from `lddw` (`ARG_CONST_MAP_PTR`).
    case mapPointer
    /// Pointer to `key_size` readable bytes of the map in the preceding `mapPointer` argument (`ARG_PTR_TO_MAP_KEY`).
    case mapKey
    /// Pointer to `value_size` readable bytes (`ARG_PTR_TO_MAP_VALUE`).
    case mapValue
    /// Pointer to readable memory whose size is the next argument (`ARG_PTR_TO_MEM | MEM_RDONLY`).
    case readableMemory
    /// Pointer to writable memory whose size is the next argument; may be uninitialised (`ARG_PTR_TO_UNINIT_MEM`).
    case writableMemory
    /// Readable memory or NULL with size 0 (`ARG_PTR_TO_MEM | PTR_MAYBE_NULL`).
    case readableMemoryOrNull
    /// The size of the preceding memory argument, a known constant > 0 (`ARG_CONST_SIZE`).
    case constantSize
    /// The size of the preceding memory argument, a known constant ≥ 0 (`ARG_CONST_SIZE_OR_ZERO`).
    case constantSizeOrZero
    /// A ring buffer record from `bpf_ringbuf_reserve` (`ARG_PTR_TO_RINGBUF_MEM | OBJ_RELEASE`).
    case ringbufRecord
    /// A callback function's code address (`ARG_PTR_TO_FUNC`).
    case callback
    /// Pointer to the stack or a map value, or NULL (`ARG_PTR_TO_STACK_OR_NULL`), e.g. `bpf_loop`'s context.
    case stackOrNull
}

/// What a helper returns.
public enum ReturnKind: Hashable, Sendable {
    /// A scalar (`RET_INTEGER`).
    case integer
    /// Nothing useful; r0 is unknown (`RET_VOID`).
    case void
    /// Pointer to the map value of the `mapPointer` argument, or NULL (`RET_PTR_TO_MAP_VALUE_OR_NULL`).
    case mapValueOrNull
    /// Pointer to a ring buffer record of the size given by the constant argument, or NULL
    /// (`RET_PTR_TO_RINGBUF_MEM_OR_NULL`); must be submitted or discarded on every path.
    case ringbufRecordOrNull
}
