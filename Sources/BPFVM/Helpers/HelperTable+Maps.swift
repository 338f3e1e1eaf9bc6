extension HelperTable {
    /// The map, redirect-map and ring buffer helpers; implementations in `MapHelpers`. Kinds as in
    /// kernel/bpf/helpers.c, net/core/filter.c and kernel/bpf/ringbuf.c.
    static func mapHelperSpecs() -> [HelperSpec] {
        [
            HelperSpec(
                id: 1, name: "bpf_map_lookup_elem", arguments: [.mapPointer, .mapKey], returns: .mapValueOrNull,
                implementation: MapHelpers.lookupElem),
            HelperSpec(
                id: 2, name: "bpf_map_update_elem", arguments: [.mapPointer, .mapKey, .mapValue, .anything],
                returns: .integer, implementation: MapHelpers.updateElem),
            HelperSpec(
                id: 3, name: "bpf_map_delete_elem", arguments: [.mapPointer, .mapKey], returns: .integer,
                implementation: MapHelpers.deleteElem),
            HelperSpec(
                id: 51, name: "bpf_redirect_map", arguments: [.mapPointer, .anything, .anything], returns: .integer,
                implementation: MapHelpers.redirectMap),
            HelperSpec(
                id: 25, name: "bpf_perf_event_output",
                arguments: [.context, .mapPointer, .anything, .readableMemory, .constantSizeOrZero], returns: .integer,
                implementation: MapHelpers.perfEventOutput),
            HelperSpec(
                id: 130, name: "bpf_ringbuf_output",
                arguments: [.mapPointer, .readableMemory, .constantSizeOrZero, .anything], returns: .integer,
                implementation: MapHelpers.ringbufOutput),
            HelperSpec(
                id: 131, name: "bpf_ringbuf_reserve", arguments: [.mapPointer, .constantSizeOrZero, .anything],
                returns: .ringbufRecordOrNull, implementation: MapHelpers.ringbufReserve),
            HelperSpec(
                id: 132, name: "bpf_ringbuf_submit", arguments: [.ringbufRecord, .anything], returns: .void,
                implementation: MapHelpers.ringbufSubmit),
            HelperSpec(
                id: 133, name: "bpf_ringbuf_discard", arguments: [.ringbufRecord, .anything], returns: .void,
                implementation: MapHelpers.ringbufDiscard),
        ]
    }
}
