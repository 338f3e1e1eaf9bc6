/// Every helper and kfunc Sluice knows, described once: the verifier checks calls against it, the translator binds
/// implementations from it, and docs/ABI.md lists it (a test keeps the two in step).
///
/// Helper ids are the kernel's (`__BPF_FUNC_MAPPER` in include/uapi/linux/bpf.h); argument and return kinds are those
/// of the kernel's `bpf_func_proto` for XDP programs (net/core/filter.c, kernel/bpf/helpers.c, kernel/bpf/ringbuf.c,
/// kernel/bpf/bpf_iter.c, kernel/trace/bpf_trace.c). kfuncs have no id and are called by name.
public enum HelperTable {
    public static let all: [HelperSpec] = helperSpecs() + mapHelperSpecs() + kfuncSpecs()

    /// The helper with kernel id `id`, refused or not.
    public static func spec(id: Int32) -> HelperSpec? { byIDSpecs[id] }

    /// The kfunc called `name`.
    public static func kfunc(named name: String) -> HelperSpec? { byName[name].flatMap { $0.id == nil ? $0 : nil } }

    /// The implementation to bind for a call of helper `id`; nil if unknown, refused, or done by the interpreter
    /// (tail call, loop). Check `spec(id:)` first to tell those apart in messages.
    public static func function(id: Int32) -> HelperFunction? {
        guard let spec = byIDSpecs[id], spec.refusal == nil else { return nil }
        return spec.implementation
    }

    /// The implementation to bind for a call of kfunc `name`, or nil (a weak extern then resolves to 0).
    public static func kfuncFunction(named name: String) -> HelperFunction? {
        guard let spec = kfunc(named: name), spec.refusal == nil else { return nil }
        return spec.implementation
    }

    /// Implementations by helper id, `count` entries, for `callx` (`ExecutionEnvironment.helperTable`). Allocated
    /// once and never freed.
    nonisolated(unsafe) public static let byID: UnsafePointer<HelperFunction?> = {
        let table = UnsafeMutablePointer<HelperFunction?>.allocate(capacity: count)
        for id in 0..<count { (table + id).initialize(to: function(id: Int32(id))) }
        return UnsafePointer(table)
    }()

    /// Entries in `byID`: the highest helper id plus one.
    public static let count: Int = Int(all.compactMap(\.id).max() ?? 0) + 1

    /// A translation context binding this table's helpers and kfuncs (maps and externs left to the caller).
    public static var translationContext: TranslationContext {
        TranslationContext(helper: { function(id: $0) }, kfunc: { kfuncFunction(named: $0) })
    }

    private static let byIDSpecs: [Int32: HelperSpec] = Dictionary(
        all.compactMap { spec in spec.id.map { ($0, spec) } }, uniquingKeysWith: { first, _ in first })
    private static let byName: [String: HelperSpec] = Dictionary(
        all.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })

    /// The kernel helpers other than the map and ring buffer ones.
    static func helperSpecs() -> [HelperSpec] {
        [
            HelperSpec(
                id: 5, name: "bpf_ktime_get_ns", arguments: [], returns: .integer,
                implementation: ServiceHelpers.ktimeGetNs),
            HelperSpec(
                id: 6, name: "bpf_trace_printk", arguments: [.readableMemory, .constantSize], returns: .integer,
                implementation: TracePrintk.helper),
            HelperSpec(
                id: 7, name: "bpf_get_prandom_u32", arguments: [], returns: .integer,
                implementation: ServiceHelpers.getPrandomU32),
            HelperSpec(
                id: 8, name: "bpf_get_smp_processor_id", arguments: [], returns: .integer,
                implementation: ServiceHelpers.getSmpProcessorID),
            HelperSpec(
                id: 12, name: "bpf_tail_call", arguments: [.context, .mapPointer, .anything], returns: .void,
                implementation: nil),
            HelperSpec(
                id: 23, name: "bpf_redirect", arguments: [.anything, .anything], returns: .integer,
                implementation: XDPHelpers.redirect),
            HelperSpec(
                id: 28, name: "bpf_csum_diff",
                arguments: [
                    .readableMemoryOrNull, .constantSizeOrZero, .readableMemoryOrNull, .constantSizeOrZero,
                    .anything,
                ],
                returns: .integer, implementation: ChecksumHelpers.csumDiff),
            HelperSpec(
                id: 44, name: "bpf_xdp_adjust_head", arguments: [.context, .anything], returns: .integer,
                changesPacket: true, implementation: XDPHelpers.adjustHead),
            HelperSpec(
                id: 54, name: "bpf_xdp_adjust_meta", arguments: [.context, .anything], returns: .integer,
                changesPacket: true, implementation: XDPHelpers.adjustMeta),
            HelperSpec(
                id: 65, name: "bpf_xdp_adjust_tail", arguments: [.context, .anything], returns: .integer,
                changesPacket: true, implementation: XDPHelpers.adjustTail),
            HelperSpec(
                id: 69, name: "bpf_fib_lookup", arguments: [.context, .writableMemory, .constantSize, .anything],
                returns: .integer, implementation: nil,
                refusal: "bpf_fib_lookup needs the kernel's FIB; not available in user space"),
            HelperSpec(
                id: 118, name: "bpf_jiffies64", arguments: [], returns: .integer,
                implementation: ServiceHelpers.jiffies64),
            HelperSpec(
                id: 125, name: "bpf_ktime_get_boot_ns", arguments: [], returns: .integer,
                implementation: ServiceHelpers.ktimeGetBootNs),
            HelperSpec(
                id: 160, name: "bpf_ktime_get_coarse_ns", arguments: [], returns: .integer,
                implementation: ServiceHelpers.ktimeGetCoarseNs),
            HelperSpec(
                id: 181, name: "bpf_loop", arguments: [.anything, .callback, .stackOrNull, .anything],
                returns: .integer,
                implementation: nil),
            HelperSpec(
                id: 188, name: "bpf_xdp_get_buff_len", arguments: [.context], returns: .integer,
                implementation: XDPHelpers.getBuffLen),
            HelperSpec(
                id: 189, name: "bpf_xdp_load_bytes", arguments: [.context, .anything, .writableMemory, .constantSize],
                returns: .integer, implementation: XDPHelpers.loadBytes),
            HelperSpec(
                id: 190, name: "bpf_xdp_store_bytes", arguments: [.context, .anything, .readableMemory, .constantSize],
                returns: .integer, implementation: XDPHelpers.storeBytes),
        ]
    }

    /// Sluice's kfuncs (`id` nil), the stable ABI of docs/ABI.md.
    static func kfuncSpecs() -> [HelperSpec] {
        [
            HelperSpec(
                id: nil, name: "sluice_abi_version", arguments: [], returns: .integer,
                implementation: SluiceKfuncs.abiVersionFunction),
            HelperSpec(
                id: nil, name: "sluice_frame_timestamp_ns_v1", arguments: [.context], returns: .integer,
                implementation: SluiceKfuncs.frameTimestampV1),
            HelperSpec(
                id: nil, name: "sluice_frame_timestamp_ns_v2", arguments: [.context, .anything], returns: .integer,
                implementation: SluiceKfuncs.frameTimestampV2),
            HelperSpec(
                id: nil, name: "sluice_random_u64_v1", arguments: [], returns: .integer,
                implementation: SluiceKfuncs.randomU64V1),
        ]
    }
}
