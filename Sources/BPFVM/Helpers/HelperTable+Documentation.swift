extension HelperTable {
    /// One line of meaning per entry, by name, for docs/ABI.md and `sluice` help output.
    static let summaries: [String: String] = [
        "bpf_map_lookup_elem": "Pointer to the value stored under the key, or NULL.",
        "bpf_map_update_elem": "Stores a value; flags `BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST` with the kernel's errors.",
        "bpf_map_delete_elem": "Removes the key; `-ENOENT` if absent, `-EINVAL` for arrays.",
        "bpf_ktime_get_ns": "The engine clock: capture timestamp in replay, per-batch clock live.",
        "bpf_trace_printk":
            "Appends one line to the trace buffer; integer, `%c` and `%p`/`%px`/`%pK` conversions only (see below).",
        "bpf_get_prandom_u32": "High 32 bits of the next SplitMix64 value of the seeded state.",
        "bpf_get_smp_processor_id": "The worker's processor number.",
        "bpf_tail_call": "Jumps to the program in a PROG_ARRAY slot (limit 33); falls through if the slot is empty.",
        "bpf_redirect": "Redirects to an interface and returns `XDP_REDIRECT`; any flag returns `XDP_ABORTED`.",
        "bpf_csum_diff": "Ones'-complement difference of two buffers plus a seed, folded to 16 bits (Linux ≥ 6.12).",
        "bpf_xdp_adjust_head":
            "Moves `data` (and the metadata with it); keeps 40 bytes of headroom and ≥ 14 bytes of packet.",
        "bpf_redirect_map":
            "Redirects through a DEVMAP, XSKMAP or CPUMAP entry; the low flag bits are the fallback action.",
        "bpf_xdp_adjust_meta": "Moves `data_meta`; length a multiple of 4, at most 252, above the 40-byte reserve.",
        "bpf_xdp_adjust_tail": "Moves `data_end` within the tailroom; grown bytes are zeroed; keeps ≥ 14 bytes.",
        "bpf_fib_lookup": "Refused at load time.",
        "bpf_jiffies64": "The engine clock in 1 ms ticks (HZ = 1000).",
        "bpf_ktime_get_boot_ns": "Same clock as `bpf_ktime_get_ns`.",
        "bpf_perf_event_output": "Appends a record (the data, plus `flags >> 32` bytes of the packet) to a PERF_EVENT_ARRAY slot (`flags & 0xffffffff`, or the current CPU); readable from Swift.",
        "bpf_ringbuf_output": "Copies a record into a ring buffer; `-EAGAIN` when full.",
        "bpf_ringbuf_reserve": "Reserves a record, or NULL when full; must be submitted or discarded.",
        "bpf_ringbuf_submit": "Publishes a reserved record.",
        "bpf_ringbuf_discard": "Drops a reserved record.",
        "bpf_ktime_get_coarse_ns": "Same clock as `bpf_ktime_get_ns`.",
        "bpf_loop": "Calls a callback up to `nr_loops` times (at most 2²³); stops when it returns 1.",
        "bpf_xdp_get_buff_len": "`data_end - data`.",
        "bpf_xdp_load_bytes": "Copies packet bytes out; `-EFAULT` above 0xffff, `-EINVAL` past the end.",
        "bpf_xdp_store_bytes": "Copies bytes into the packet, with the bounds of `bpf_xdp_load_bytes`.",
        "sluice_abi_version": "The newest Sluice ABI version this build provides (1).",
        "sluice_frame_timestamp_ns_v1": "When the frame was received (live) or captured (replay), in nanoseconds.",
        "sluice_frame_timestamp_ns_v2":
            "As `_v1` with flags 0; flag 1 (`SLUICE_TIMESTAMP_MICROSECONDS`) rounds down to whole microseconds; "
            + "other flags → 0.",
        "sluice_random_u64_v1": "Next 64-bit value of the seeded generator behind `bpf_get_prandom_u32`.",
    ]

    /// How a program declares each kfunc.
    static let kfuncDeclarations: [String: String] = [
        "sluice_abi_version": "extern __u64 sluice_abi_version(void) __ksym __weak;",
        "sluice_frame_timestamp_ns_v1": "extern __u64 sluice_frame_timestamp_ns_v1(struct xdp_md *ctx) __ksym __weak;",
        "sluice_frame_timestamp_ns_v2":
            "extern __u64 sluice_frame_timestamp_ns_v2(struct xdp_md *ctx, __u64 flags) __ksym __weak;",
        "sluice_random_u64_v1": "extern __u64 sluice_random_u64_v1(void) __ksym __weak;",
    ]

    /// The reference section of docs/ABI.md, generated from `all` (a test keeps the file identical to it).
    public static func referenceMarkdown() -> String {
        var lines: [String] = []
        lines.append("### Helpers (by kernel id)")
        lines.append("")
        lines.append("| id | helper | arguments | returns | since | |")
        lines.append("|---:|---|---|---|---:|---|")
        for spec in all.filter({ $0.id != nil }).sorted(by: { $0.id! < $1.id! }) {
            var notes = summaries[spec.name] ?? ""
            if spec.implementation == nil && spec.refusal == nil { notes += " Implemented by the interpreter." }
            if spec.changesPacket { notes += " Invalidates packet pointers." }
            if let refusal = spec.refusal { notes += " \(refusal)." }
            let kinds = "\(arguments(spec)) | \(spec.returns.documentation)"
            lines.append("| \(spec.id!) | `\(spec.name)` | \(kinds) | v\(spec.version) | \(notes) |")
        }
        lines.append("")
        lines.append("### Sluice kfuncs (by name)")
        lines.append("")
        lines.append("| kfunc | declaration | since | |")
        lines.append("|---|---|---:|---|")
        for spec in all.filter({ $0.id == nil }).sorted(by: { $0.name < $1.name }) {
            let declaration = kfuncDeclarations[spec.name] ?? ""
            lines.append("| `\(spec.name)` | `\(declaration)` | v\(spec.version) | \(summaries[spec.name] ?? "") |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func arguments(_ spec: HelperSpec) -> String {
        spec.arguments.isEmpty ? "—" : spec.arguments.map(\.documentation).joined(separator: ", ")
    }
}

extension ArgumentKind {
    /// How docs/ABI.md names the kind (the kernel's `ARG_*` in parentheses there).
    public var documentation: String {
        switch self {
        case .anything: "scalar"
        case .context: "ctx"
        case .mapPointer: "map"
        case .mapKey: "key pointer"
        case .mapValue: "value pointer"
        case .readableMemory: "readable memory"
        case .writableMemory: "writable memory"
        case .readableMemoryOrNull: "readable memory or NULL"
        case .constantSize: "size > 0"
        case .constantSizeOrZero: "size ≥ 0"
        case .ringbufRecord: "ring buffer record"
        case .callback: "callback"
        case .stackOrNull: "stack pointer or NULL"
        }
    }
}

extension ReturnKind {
    /// How docs/ABI.md names the kind.
    public var documentation: String {
        switch self {
        case .integer: "integer"
        case .void: "nothing"
        case .mapValueOrNull: "map value or NULL"
        case .ringbufRecordOrNull: "record or NULL"
        }
    }
}
