import BPFVM
import CLibXDP
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Loads a clang-compiled XDP object into the kernel with libbpf and runs packets through `BPF_PROG_TEST_RUN`: the
/// oracle Sluice's own VM is compared against. Results come back as `RunOutcome` and `MapSnapshot`, the shapes the VM
/// produces, so the two can be compared field by field.
///
/// Loading: every program of the object whose section starts with `xdp` is loaded (so tail-call targets referenced by
/// PROG_ARRAY initialisers exist), forced to `BPF_PROG_TYPE_XDP` when libbpf does not know the section; programs of
/// other types are not loaded unless selected. Global data (`.rodata`, `.data`, `.bss`, `.rodata.*`…) gets its
/// initial value before the load — so the verifier sees `volatile const` values as the program will — and every other
/// map is filled after it.
///
/// Kernel rules for `BPF_PROG_TEST_RUN` on XDP (net/bpf/test_run.c, `bpf_prog_test_run_xdp`), which `run` follows:
/// - The input buffer is metadata followed by the packet; `xdp_md` goes in with `data_meta = 0`,
///   `data = metadata length`, `data_end = metadata + packet length` (it must equal the input size).
/// - Metadata must be a multiple of 4 bytes and at most 32; it is carved out of the 256-byte headroom.
/// - The packet (metadata not counted) must be at least 14 bytes, an Ethernet header (EINVAL otherwise).
/// - The linear buffer is one page: headroom, metadata, data, then `skb_shared_info` tailroom (320 bytes on x86-64),
///   so the program sees at most 3520 bytes of packet (`data_end - data`), whatever the metadata length. Bytes beyond
///   go into page-sized frags: only `xdp.frags` programs can reach them (`bpf_xdp_get_buff_len` counts them), but the
///   output always includes them, so the returned packet is as long as the input for every program.
/// - `ingress_ifindex = 0` runs on the network namespace's loopback rx queue 0: the program reads
///   `ingress_ifindex` = 1 (lo) and `rx_queue_index` = 0. A non-zero queue needs an ingress device (EINVAL). A given
///   `ingress_ifindex` must name a device in the caller's network namespace (ENODEV otherwise), the queue must be
///   below the device's real rx queue count (EINVAL), and its XDP rx-queue info must be registered (EINVAL; on this
///   6.18 kernel lo, ifb and virtio_net queues all are). `egress_ifindex` must be 0.
/// - The output is `data_meta … data_end` plus frags, so it can be larger than the input (`adjust_head`,
///   `adjust_meta`, `adjust_tail` grow it up to one page); the kernel returns ENOSPC if `data_out` is too small, so
///   `run` offers the input size plus a page. `ctx_out.data` is the final metadata length.
/// - With `repeat` > 1 the same buffer is run again without being reset: packet changes and map updates accumulate.
/// - The verdict is only reported: XDP_TX and XDP_REDIRECT send nothing (no `BPF_F_TEST_XDP_LIVE_FRAMES`).
///
/// Maps in snapshots: ARRAY, HASH, PERCPU_ARRAY, PERCPU_HASH, LRU_HASH, LRU_PERCPU_HASH, LPM_TRIE, DEVMAP and
/// DEVMAP_HASH have their entries read (arrays with `bpf_map_lookup_batch`, the others with `bpf_map_get_next_key` +
/// `bpf_map_lookup_elem`), sorted by key bytes. Arrays list every index; DEVMAP only filled slots. Per-CPU values come
/// from the kernel as one slot per possible CPU, each rounded up to 8 bytes; snapshots split them into one
/// `valueSize`-byte value per CPU (and initial per-CPU values are laid out the same way). Every other map (PROG_ARRAY, XSKMAP, RINGBUF, CPUMAP, PERF_EVENT_ARRAY, maps of
/// maps, …) is listed with its name, type and sizes but no entries: its contents are fds, ids or streams that have no
/// user-space byte image comparable with Sluice's.
public final class KernelRunner {
    /// Initial entries for one map: key and value bytes, in the map's key and value sizes.
    public typealias MapEntries = [(key: [UInt8], value: [UInt8])]

    public let objectPath: String
    /// The selected program's C function name.
    public let programName: String
    /// The selected program's ELF section.
    public let sectionName: String
    /// `libbpf_num_possible_cpus()`: the number of values of a per-CPU map entry.
    public let possibleCPUs: Int

    private var object: OpaquePointer?
    private let programFD: Int32
    private let logger: Logger

    /// Opens and loads the object, fills its maps, and gets the selected program ready to run.
    ///
    /// - Parameters:
    ///   - initialMaps: entries by map name. Global-data maps (by section name `.rodata` or libbpf's `obj.rodata`)
    ///     take one entry, key index 0 (4 zero bytes), value the whole section. Per-CPU maps take either one value
    ///     (copied to every CPU) or one value per possible CPU, concatenated.
    ///   - globals: global variables by name (from the BTF of `.rodata`, `.data`, `.bss`, …), value bytes in the
    ///     variable's size; applied after `initialMaps`.
    public init(
        objectPath: String, program: ProgramSelector, initialMaps: [String: MapEntries] = [:],
        globals: [String: [UInt8]] = [:], logger: Logger = Logger(label: "sluice.kernel")
    ) throws {
        self.objectPath = objectPath
        self.logger = logger
        let loaded = try Self.load(
            objectPath: objectPath, selector: program, initialMaps: initialMaps, globals: globals, logger: logger)
        object = loaded.object
        programName = loaded.programName
        sectionName = loaded.sectionName
        possibleCPUs = loaded.possibleCPUs
        programFD = bpf_program__fd(loaded.program)
        do {
            try fillMaps(initialMaps)
        } catch {
            bpf_object__close(loaded.object)
            object = nil
            throw error
        }
        logger.debug(
            "kernel runner loaded", metadata: ["object": "\(objectPath)", "program": "\(programName)"])
    }

    deinit { close() }

    /// Unloads the object (programs and maps). Idempotent; the runner cannot run afterwards.
    public func close() {
        if let object {
            bpf_object__close(object)
            self.object = nil
        }
    }

    /// Whether the kernel's verifier accepts the program: loads it the way `init` does (without map contents) and
    /// unloads it. Throws for problems that are not the verifier's verdict (privileges, missing file or program, a
    /// load that failed before the verifier ran: `KernelRunnerError.loadFailed`).
    public static func verify(
        objectPath: String, program: ProgramSelector, globals: [String: [UInt8]] = [:],
        logger: Logger = Logger(label: "sluice.kernel")
    ) throws -> KernelVerdict {
        do {
            let loaded = try load(
                objectPath: objectPath, selector: program, initialMaps: [:], globals: globals, logger: logger)
            bpf_object__close(loaded.object)
            return .accepted
        } catch KernelRunnerError.loadRejected(_, _, let log) {
            return .rejected(log: log)
        }
    }

    /// The kernel verifier's figures for the program (instructions processed, states): loads it with the log at
    /// `BPF_LOG_STATS` (level 4, which logs only the summary) and unloads it. Throws as `verify`, and
    /// `KernelRunnerError.loadRejected` when the verifier refuses the program.
    public static func verifierStatistics(
        objectPath: String, program: ProgramSelector, globals: [String: [UInt8]] = [:],
        logger: Logger = Logger(label: "sluice.kernel")
    ) throws -> KernelVerifierStatistics {
        let loaded = try load(
            objectPath: objectPath, selector: program, initialMaps: [:], globals: globals, logger: logger, logLevel: 4)
        bpf_object__close(loaded.object)
        guard let statistics = KernelVerifierStatistics(log: loaded.verifierLog) else {
            throw KernelRunnerError.loadFailed(
                path: objectPath, errno: EPROTO,
                log: "no 'processed N insns' line in the verifier log:\n" + loaded.verifierLog)
        }
        return statistics
    }

    // MARK: - Running

    /// Runs one packet through `BPF_PROG_TEST_RUN` and returns the kernel's verdict, packet and metadata.
    ///
    /// - Parameters:
    ///   - metadata: the `data_meta` area before the packet (multiple of 4 bytes, at most 32).
    ///   - ingressIfindex: the device `ctx->ingress_ifindex` reports; 0 means the kernel's default (loopback).
    ///   - rxQueue: `ctx->rx_queue_index`; non-zero only with an ingress device that has that queue.
    public func run(
        packet: [UInt8], metadata: [UInt8] = [], ingressIfindex: UInt32 = 0, rxQueue: UInt32 = 0
    ) throws -> RunOutcome {
        let result = try testRun(
            packet: packet, metadata: metadata, ingressIfindex: ingressIfindex, rxQueue: rxQueue, repeat: 1)
        return result.outcome
    }

    /// Runs the packet `repeat` times in the kernel (JIT) and returns the kernel's average time per run.
    /// The buffer is not reset between repetitions (see the type's notes), so programs that change the packet's size
    /// or count into maps see their own earlier effects.
    public func timedRun(packet: [UInt8], metadata: [UInt8] = [], repeat count: Int) throws -> KernelTiming {
        guard count >= 1 else {
            throw SystemError(call: "bpf_prog_test_run_opts", errno: EINVAL, context: "repeat \(count): at least 1")
        }
        let result = try testRun(
            packet: packet, metadata: metadata, ingressIfindex: 0, rxQueue: 0, repeat: Int32(clamping: count))
        return KernelTiming(
            returnValue: result.outcome.returnValue, repetitions: count, nanosecondsPerRun: result.duration)
    }

    private func testRun(
        packet: [UInt8], metadata: [UInt8], ingressIfindex: UInt32, rxQueue: UInt32, repeat count: Int32
    ) throws -> (outcome: RunOutcome, duration: UInt32) {
        guard object != nil else {
            throw SystemError(call: "bpf_prog_test_run_opts", errno: EBADF, context: "kernel runner closed")
        }
        guard metadata.count % 4 == 0, metadata.count <= 32 else {
            throw KernelRunnerError.invalidMetadataLength(metadata.count)
        }
        guard packet.count >= 14 else { throw KernelRunnerError.frameTooShort(length: packet.count) }
        guard rxQueue == 0 || ingressIfindex != 0 else {
            throw KernelRunnerError.rxQueueWithoutDevice(rxQueue: rxQueue)
        }
        let input = metadata + packet
        guard let inputSize = UInt32(exactly: input.count), inputSize <= UInt32.max - 4096 else {
            throw SystemError(call: "bpf_prog_test_run_opts", errno: E2BIG, context: "packet of \(packet.count) bytes")
        }
        // Output can grow by up to a page over the input (headroom pulled in by adjust_head/meta, tailroom by
        // adjust_tail); the linear part is at most a page.
        var output = [UInt8](repeating: 0, count: input.count + 4096)
        var contextIn = xdp_md()
        contextIn.data = UInt32(metadata.count)
        contextIn.data_end = inputSize
        contextIn.ingress_ifindex = ingressIfindex
        contextIn.rx_queue_index = rxQueue
        var contextOut = xdp_md()
        let programFD = self.programFD
        let outputCapacity = UInt32(output.count)
        var options = bpf_test_run_opts()
        let context = "program '\(programName)', \(input.count)-byte frame"
        try input.withUnsafeBytes { inputBytes in
            try output.withUnsafeMutableBytes { outputBytes in
                try withUnsafePointer(to: &contextIn) { contextInPointer in
                    try withUnsafeMutablePointer(to: &contextOut) { contextOutPointer in
                        options.sz = MemoryLayout<bpf_test_run_opts>.size
                        options.data_in = inputBytes.baseAddress
                        options.data_size_in = inputSize
                        options.data_out = outputBytes.baseAddress
                        options.data_size_out = outputCapacity
                        options.ctx_in = UnsafeRawPointer(contextInPointer)
                        options.ctx_size_in = UInt32(MemoryLayout<xdp_md>.size)
                        options.ctx_out = UnsafeMutableRawPointer(contextOutPointer)
                        options.ctx_size_out = UInt32(MemoryLayout<xdp_md>.size)
                        options.repeat = count
                        try SystemError.checkNegative("bpf_prog_test_run_opts", context: context) {
                            bpf_prog_test_run_opts(programFD, &options)
                        }
                    }
                }
            }
        }
        let size = Int(options.data_size_out)
        let metadataLength = Int(contextOut.data)
        guard size <= output.count, metadataLength <= size else {
            throw SystemError(call: "bpf_prog_test_run_opts", errno: EPROTO, context: context + ": inconsistent output")
        }
        let outcome = RunOutcome(
            returnValue: options.retval, packet: Array(output[metadataLength..<size]),
            metadata: Array(output[0..<metadataLength]))
        return (outcome, options.duration)
    }

    // MARK: - Maps

    /// The contents of every map of the object, in libbpf's object order (legacy `maps`, BTF `.maps`, then global
    /// data sections). Global-data maps are named by their section (`.rodata`, `.bss`, `.rodata.str1.1`…).
    public func mapSnapshots() throws -> [MapSnapshot] {
        guard let object else {
            throw SystemError(call: "bpf_map_lookup_elem", errno: EBADF, context: "kernel runner closed")
        }
        var snapshots: [MapSnapshot] = []
        for map in Self.maps(of: object) {
            let name = Self.displayName(of: map, object: object)
            let type = bpf_map__type(map).rawValue
            let keySize = Int(bpf_map__key_size(map))
            let valueSize = Int(bpf_map__value_size(map))
            var entries: [MapSnapshot.Entry] = []
            if MapType(rawValue: type).info?.dumpable == true {
                entries = try readEntries(
                    of: map, name: name, keySize: keySize, valueSize: valueSize,
                    perCPU: MapType(rawValue: type).isPerCPU)
            }
            snapshots.append(
                MapSnapshot(name: name, type: type, keySize: keySize, valueSize: valueSize, entries: entries))
        }
        return snapshots
    }

    private func readEntries(
        of map: OpaquePointer, name: String, keySize: Int, valueSize: Int, perCPU: Bool
    ) throws -> [MapSnapshot.Entry] {
        let fd = bpf_map__fd(map)
        let stride = perCPU ? (valueSize + 7) & ~7 : valueSize
        let slots = perCPU ? possibleCPUs : 1
        let type = bpf_map__type(map).rawValue
        if type == MapType.array.rawValue || type == MapType.percpuArray.rawValue,
            let entries = try readArrayInBatches(
                fd: fd, name: name, keySize: keySize, valueSize: valueSize, stride: stride, slots: slots,
                maxEntries: Int(bpf_map__max_entries(map)))
        {
            return entries
        }
        var entries: [MapSnapshot.Entry] = []
        var key = [UInt8](repeating: 0, count: keySize)
        var next = [UInt8](repeating: 0, count: keySize)
        var value = [UInt8](repeating: 0, count: max(stride * slots, 1))
        var first = true
        let maxEntries = Int(bpf_map__max_entries(map))
        while entries.count <= maxEntries {
            let rc = key.withUnsafeBytes { keyBytes in
                next.withUnsafeMutableBytes { nextBytes in
                    bpf_map_get_next_key(fd, first ? nil : keyBytes.baseAddress, nextBytes.baseAddress)
                }
            }
            if rc == -ENOENT { break }
            if rc < 0 {
                throw SystemError(call: "bpf_map_get_next_key", errno: -rc, context: "map '\(name)'")
            }
            first = false
            key = next
            let lookup = key.withUnsafeBytes { keyBytes in
                value.withUnsafeMutableBytes { valueBytes in
                    bpf_map_lookup_elem(fd, keyBytes.baseAddress, valueBytes.baseAddress)
                }
            }
            if lookup == -ENOENT { continue }  // an empty DEVMAP slot, or deleted meanwhile
            if lookup < 0 {
                throw SystemError(call: "bpf_map_lookup_elem", errno: -lookup, context: "map '\(name)'")
            }
            let values = (0..<slots).map { slot in Array(value[slot * stride..<slot * stride + valueSize]) }
            entries.append(MapSnapshot.Entry(key: key, values: values))
        }
        return entries.sorted { $0.key.lexicographicallyPrecedes($1.key) }
    }

    /// Arrays read with `bpf_map_lookup_batch`, a few thousand entries per call instead of two calls per entry (a
    /// 65536-entry per-CPU array takes seconds one by one). Returns nil when the kernel does not support batches.
    private func readArrayInBatches(
        fd: Int32, name: String, keySize: Int, valueSize: Int, stride: Int, slots: Int, maxEntries: Int
    ) throws -> [MapSnapshot.Entry]? {
        let chunk = max(1, min(maxEntries, 4096))
        let elementSize = stride * slots
        var keys = [UInt8](repeating: 0, count: keySize * chunk)
        var values = [UInt8](repeating: 0, count: elementSize * chunk)
        var inToken = [UInt8](repeating: 0, count: max(keySize, 8))
        var outToken = inToken
        var entries: [MapSnapshot.Entry] = []
        entries.reserveCapacity(maxEntries)
        var first = true
        while true {
            var count = UInt32(chunk)
            var options = bpf_map_batch_opts()
            options.sz = MemoryLayout<bpf_map_batch_opts>.size
            let rc = inToken.withUnsafeMutableBytes { inBytes in
                outToken.withUnsafeMutableBytes { outBytes in
                    keys.withUnsafeMutableBytes { keyBytes in
                        values.withUnsafeMutableBytes { valueBytes in
                            bpf_map_lookup_batch(
                                fd, first ? nil : inBytes.baseAddress, outBytes.baseAddress, keyBytes.baseAddress,
                                valueBytes.baseAddress, &count, &options)
                        }
                    }
                }
            }
            if rc < 0 && rc != -ENOENT {
                // EINVAL/ENOTSUPP (524)/EOPNOTSUPP before anything was read: no batch support, read one by one.
                if first && (rc == -EINVAL || rc == -524 || rc == -EOPNOTSUPP) { return nil }
                throw SystemError(call: "bpf_map_lookup_batch", errno: -rc, context: "map '\(name)'")
            }
            let read = min(Int(count), chunk)
            for index in 0..<read {
                let key = Array(keys[index * keySize..<(index + 1) * keySize])
                let base = index * elementSize
                let entryValues = (0..<slots).map { slot in
                    Array(values[base + slot * stride..<base + slot * stride + valueSize])
                }
                entries.append(MapSnapshot.Entry(key: key, values: entryValues))
            }
            if rc == -ENOENT || read == 0 { break }
            inToken = outToken
            first = false
        }
        return entries.sorted { $0.key.lexicographicallyPrecedes($1.key) }
    }

    /// Writes `initialMaps`' entries for ordinary maps (global data was set before the load).
    private func fillMaps(_ initialMaps: [String: MapEntries]) throws {
        guard let object else { return }
        for map in Self.maps(of: object) where !Self.isGlobalData(map) {
            let name = Self.displayName(of: map, object: object)
            guard let entries = initialMaps[name] ?? initialMaps[String(cString: bpf_map__name(map))] else { continue }
            let perCPU = MapType(rawValue: bpf_map__type(map).rawValue).isPerCPU
            let valueSize = Int(bpf_map__value_size(map))
            let stride = (valueSize + 7) & ~7
            let fd = bpf_map__fd(map)
            for entry in entries {
                var value = entry.value
                if perCPU {
                    // The kernel's per-CPU layout: one 8-byte-aligned slot per possible CPU.
                    var slots = [UInt8](repeating: 0, count: stride * possibleCPUs)
                    for cpu in 0..<possibleCPUs {
                        let source = entry.value.count == valueSize ? 0 : cpu * valueSize
                        slots.replaceSubrange(
                            cpu * stride..<cpu * stride + valueSize,
                            with: entry.value[source..<source + valueSize])
                    }
                    value = slots
                }
                let rc = entry.key.withUnsafeBytes { keyBytes in
                    value.withUnsafeBytes { valueBytes in
                        bpf_map_update_elem(fd, keyBytes.baseAddress, valueBytes.baseAddress, UInt64(BPF_ANY))
                    }
                }
                if rc < 0 {
                    throw SystemError(
                        call: "bpf_map_update_elem", errno: -rc,
                        context: "map '\(name)', key \(entry.key.map { String($0, radix: 16) }.joined(separator: " "))")
                }
            }
        }
    }

    // MARK: - Loading

    private struct Loaded {
        var object: OpaquePointer
        var program: OpaquePointer
        var programName: String
        /// The selected program's verifier log when it was loaded with a log level (empty otherwise).
        var verifierLog = ""
        var sectionName: String
        var possibleCPUs: Int
    }

    /// Opens, configures and loads the object; the caller owns the returned object.
    private static func load(
        objectPath: String, selector: ProgramSelector, initialMaps: [String: MapEntries],
        globals: [String: [UInt8]], logger: Logger, logLevel: UInt32 = 0
    ) throws -> Loaded {
        let missing = KernelPrivileges.missing()
        guard missing.isEmpty else { throw KernelRunnerError.insufficientPrivileges(missing: missing) }
        guard access(objectPath, F_OK) == 0 else { throw KernelRunnerError.objectNotFound(path: objectPath) }

        let cpus = libbpf_num_possible_cpus()
        guard cpus > 0 else { throw SystemError(call: "libbpf_num_possible_cpus", errno: -cpus) }

        let (opened, openMessages) = LibbpfLog.capturing(logger: logger) { () -> (OpaquePointer?, Int32) in
            errno = 0
            let object = bpf_object__open_file(objectPath, nil)
            return (object, Errno.current.rawValue)
        }
        guard let object = opened.0 else {
            throw KernelRunnerError.objectNotOpened(
                path: objectPath, errno: opened.1 == 0 ? EINVAL : opened.1, log: openMessages.joined(separator: "\n"))
        }
        var keep = false
        defer { if !keep { bpf_object__close(object) } }

        let program = try select(selector, in: object, path: objectPath)
        try configure(
            object: object, selected: program, initialMaps: initialMaps, globals: globals, possibleCPUs: Int(cpus))

        // One verifier log buffer for every program: libbpf loads them in order and stops at the first failure,
        // retrying that one at log level 1 into this buffer; successful loads (level 0) leave it untouched.
        let logCapacity = 4 << 20
        let logBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: logCapacity)
        logBuffer.initialize(to: 0)
        defer { logBuffer.deallocate() }
        for candidate in programs(of: object) where bpf_program__autoload(candidate) {
            _ = bpf_program__set_log_buf(candidate, logBuffer, logCapacity)
        }
        if logLevel != 0 { _ = bpf_program__set_log_level(program, logLevel) }
        let (rc, loadMessages) = LibbpfLog.capturing(logger: logger) { bpf_object__load(object) }
        if rc < 0 {
            let kernelLog = String(cString: logBuffer)
            guard !kernelLog.isEmpty else {
                throw KernelRunnerError.loadFailed(
                    path: objectPath, errno: -rc, log: loadMessages.joined(separator: "\n"))
            }
            let failed =
                programs(of: object).first { bpf_program__autoload($0) && bpf_program__fd($0) < 0 } ?? program
            let failedName = String(cString: bpf_program__name(failed))
            let log =
                failed == program ? kernelLog : "(program '\(failedName)', loaded with the selected one)\n" + kernelLog
            throw KernelRunnerError.loadRejected(program: failedName, errno: -rc, log: log)
        }
        keep = true
        return Loaded(
            object: object, program: program, programName: String(cString: bpf_program__name(program)),
            verifierLog: logLevel != 0 ? String(cString: logBuffer) : "",
            sectionName: String(cString: bpf_program__section_name(program)), possibleCPUs: Int(cpus))
    }

    private static func select(
        _ selector: ProgramSelector, in object: OpaquePointer, path: String
    ) throws -> OpaquePointer {
        let all = programs(of: object)
        func section(_ p: OpaquePointer) -> String { String(cString: bpf_program__section_name(p)) }
        func function(_ p: OpaquePointer) -> String { String(cString: bpf_program__name(p)) }
        // Several programs in one section (a tail-call chain): the first one, as libxdp and `programs/` agree.
        func bySection(_ name: String) -> OpaquePointer? { all.first { section($0) == name } }
        func byFunction(_ name: String) -> OpaquePointer? { all.first { function($0) == name } }
        let found: OpaquePointer? =
            switch selector {
            case .section(let name): bySection(name)
            case .function(let name): byFunction(name)
            case .named(let name): bySection(name) ?? byFunction(name)
            }
        guard let found else {
            throw KernelRunnerError.programNotFound(
                selector, path: path, available: all.map { "\(section($0))/\(function($0))" })
        }
        return found
    }

    /// Program types and autoload, log buffers, global data: everything that must happen between open and load.
    private static func configure(
        object: OpaquePointer, selected: OpaquePointer, initialMaps: [String: MapEntries],
        globals: [String: [UInt8]], possibleCPUs: Int
    ) throws {
        for program in programs(of: object) {
            let section = String(cString: bpf_program__section_name(program))
            if section.hasPrefix("xdp") && bpf_program__type(program) != BPF_PROG_TYPE_XDP {
                try SystemError.checkNegative("bpf_program__set_type", context: section) {
                    bpf_program__set_type(program, BPF_PROG_TYPE_XDP)
                }
            }
            let load = program == selected || bpf_program__type(program) == BPF_PROG_TYPE_XDP
            try SystemError.checkNegative("bpf_program__set_autoload", context: section) {
                bpf_program__set_autoload(program, load)
            }
        }

        // The oracle must not share state with anything else: no auto-pinning (`LIBBPF_PIN_BY_NAME` maps would be
        // pinned under /sys/fs/bpf, or reuse a map already pinned there with someone else's contents).
        let maps = maps(of: object)
        for map in maps {
            try SystemError.checkNegative("bpf_map__set_pin_path", context: String(cString: bpf_map__name(map))) {
                bpf_map__set_pin_path(map, nil)
            }
        }

        // Check every initial entry against its map before anything reaches the kernel.
        let names = maps.map { displayName(of: $0, object: object) }
        for (mapName, entries) in initialMaps {
            guard
                let index = names.firstIndex(of: mapName)
                    ?? maps.firstIndex(where: { String(cString: bpf_map__name($0)) == mapName })
            else { throw KernelRunnerError.unknownMap(mapName, available: names) }
            let map = maps[index]
            let name = names[index]
            let type = bpf_map__type(map).rawValue
            let keySize = Int(bpf_map__key_size(map))
            let valueSize = Int(bpf_map__value_size(map))
            if isGlobalData(map) {
                for entry in entries {
                    guard entry.key.count == 4 else {
                        throw KernelRunnerError.keySizeMismatch(map: name, expected: 4, actual: entry.key.count)
                    }
                    guard entry.key.allSatisfy({ $0 == 0 }) else {
                        throw KernelRunnerError.globalDataKeyNotZero(map: name)
                    }
                    guard entry.value.count == valueSize else {
                        throw KernelRunnerError.valueSizeMismatch(
                            map: name, expected: valueSize, actual: entry.value.count)
                    }
                    try setInitialValue(of: map, to: entry.value, name: name)
                }
                continue
            }
            guard MapType(rawValue: type).info?.dumpable == true else { throw KernelRunnerError.mapNotWritable(map: name, type: type) }
            let perCPU = MapType(rawValue: type).isPerCPU
            for entry in entries {
                guard entry.key.count == keySize else {
                    throw KernelRunnerError.keySizeMismatch(map: name, expected: keySize, actual: entry.key.count)
                }
                guard entry.value.count == valueSize || (perCPU && entry.value.count == valueSize * possibleCPUs)
                else {
                    throw KernelRunnerError.valueSizeMismatch(
                        map: name, expected: valueSize, actual: entry.value.count)
                }
            }
        }

        // Globals by variable name, from the BTF DATASEC of each global-data map.
        guard !globals.isEmpty else { return }
        let variables = globalVariables(of: object)
        for (variableName, bytes) in globals.sorted(by: { $0.key < $1.key }) {
            guard let variable = variables.first(where: { $0.name == variableName }) else {
                throw KernelRunnerError.unknownGlobal(variableName, available: variables.map(\.name).sorted())
            }
            guard bytes.count == variable.size else {
                throw KernelRunnerError.globalSizeMismatch(
                    name: variableName, expected: variable.size, actual: bytes.count)
            }
            var size = 0
            guard let current = bpf_map__initial_value(variable.map, &size) else {
                throw SystemError(call: "bpf_map__initial_value", errno: EINVAL, context: variable.section)
            }
            var image = Array(UnsafeRawBufferPointer(start: current, count: size))
            guard variable.offset + variable.size <= image.count else {
                throw SystemError(call: "bpf_map__initial_value", errno: ERANGE, context: variable.section)
            }
            image.replaceSubrange(variable.offset..<variable.offset + variable.size, with: bytes)
            try setInitialValue(of: variable.map, to: image, name: variable.section)
        }
    }

    private static func setInitialValue(of map: OpaquePointer, to bytes: [UInt8], name: String) throws {
        try SystemError.checkNegative("bpf_map__set_initial_value", context: "map '\(name)'") {
            bytes.withUnsafeBytes { bpf_map__set_initial_value(map, $0.baseAddress, $0.count) }
        }
    }

    private struct GlobalVariable {
        var name: String
        var section: String
        var map: OpaquePointer
        var offset: Int
        var size: Int
    }

    private static func globalVariables(of object: OpaquePointer) -> [GlobalVariable] {
        guard let btf = bpf_object__btf(object) else { return [] }
        var variables: [GlobalVariable] = []
        for map in maps(of: object) where isGlobalData(map) {
            var size = 0
            guard bpf_map__initial_value(map, &size) != nil else { continue }  // .kconfig and the like
            let section = displayName(of: map, object: object)
            guard let datasec = dataSection(named: section, in: btf) else { continue }
            let count = Int(btf_vlen(datasec))
            guard let infos = btf_var_secinfos(datasec) else { continue }
            for index in 0..<count {
                let info = infos[index]
                guard let variable = btf__type_by_id(btf, info.type),
                    let cName = btf__name_by_offset(btf, variable.pointee.name_off)
                else { continue }
                variables.append(
                    GlobalVariable(
                        name: String(cString: cName), section: section, map: map, offset: Int(info.offset),
                        size: Int(info.size)))
            }
        }
        return variables
    }

    // MARK: - libbpf object walking

    private static func programs(of object: OpaquePointer) -> [OpaquePointer] {
        var result: [OpaquePointer] = []
        var program = bpf_object__next_program(object, nil)
        while let current = program {
            result.append(current)
            program = bpf_object__next_program(object, current)
        }
        return result
    }

    private static func maps(of object: OpaquePointer) -> [OpaquePointer] {
        var result: [OpaquePointer] = []
        var map = bpf_object__next_map(object, nil)
        while let current = map {
            result.append(current)
            map = bpf_object__next_map(object, current)
        }
        return result
    }

    /// Global data: libbpf's internal maps backed by an ELF section (`.rodata`, `.data`, `.bss`, `.kconfig`…).
    private static func isGlobalData(_ map: OpaquePointer) -> Bool { bpf_map__is_internal(map) }

    /// A map's name as Sluice shows it: the object's own name for ordinary maps, the ELF section name for global
    /// data. libbpf names internal maps `<first 8 chars of the object name><section>` (e.g. `drop_sho.rodata`), or
    /// the bare section when it has a second dot (`.rodata.str1.1`), truncated to 15 characters; the BTF DATASEC
    /// of the same section recovers the full name.
    static func displayName(of map: OpaquePointer, object: OpaquePointer) -> String {
        let name = String(cString: bpf_map__name(map))
        guard isGlobalData(map) else { return name }
        let btf = bpf_object__btf(object)
        if let btf, case let typeID = bpf_map__btf_value_type_id(map), typeID != 0,
            let type = btf__type_by_id(btf, typeID), btf_is_datasec(type),
            let sectionName = btf__name_by_offset(btf, type.pointee.name_off)
        {
            return String(cString: sectionName)
        }
        let stripped: String
        if name.hasPrefix(".") {
            stripped = name
        } else if let dot = name.firstIndex(of: ".") {
            stripped = String(name[dot...])
        } else {
            stripped = name
        }
        if let btf {
            let candidates = dataSectionNames(in: btf).filter { $0.hasPrefix(stripped) }
            if candidates.count == 1 { return candidates[0] }
            if candidates.contains(stripped) { return stripped }
        }
        return stripped
    }

    private static func dataSectionNames(in btf: OpaquePointer) -> [String] {
        var names: [String] = []
        let count = btf__type_cnt(btf)
        var id: UInt32 = 1
        while id < count {
            if let type = btf__type_by_id(btf, id), btf_is_datasec(type),
                let name = btf__name_by_offset(btf, type.pointee.name_off)
            {
                names.append(String(cString: name))
            }
            id += 1
        }
        return names
    }

    private static func dataSection(named name: String, in btf: OpaquePointer) -> UnsafePointer<btf_type>? {
        let count = btf__type_cnt(btf)
        var id: UInt32 = 1
        while id < count {
            if let type = btf__type_by_id(btf, id), btf_is_datasec(type),
                let typeName = btf__name_by_offset(btf, type.pointee.name_off), String(cString: typeName) == name
            {
                return type
            }
            id += 1
        }
        return nil
    }
}

/// The kernel verifier's summary of one load, from the last line of its log: `processed N insns (limit L)
/// max_states_per_insn M total_states T peak_states P mark_read R`.
public struct KernelVerifierStatistics: Hashable, Sendable, Encodable {
    public var instructionsProcessed: Int
    public var maxStatesPerInstruction: Int
    /// States stored over the whole verification.
    public var totalStates: Int
    /// The most states stored at once.
    public var peakStates: Int
    public var markRead: Int

    /// Parses the summary line; nil when the log has none.
    public init?(log: String) {
        guard let line = log.split(separator: "\n").last(where: { $0.hasPrefix("processed ") }) else { return nil }
        let words = line.split(separator: " ")
        func number(after key: String) -> Int? {
            guard let i = words.firstIndex(where: { $0 == key }), i + 1 < words.count else { return nil }
            return Int(words[i + 1])
        }
        guard words.count > 1, let processed = Int(words[1]), let perInstruction = number(after: "max_states_per_insn"),
            let total = number(after: "total_states"), let peak = number(after: "peak_states")
        else { return nil }
        instructionsProcessed = processed
        maxStatesPerInstruction = perInstruction
        totalStates = total
        peakStates = peak
        markRead = number(after: "mark_read") ?? 0
    }
}

/// The kernel's answer to loading a program.
public enum KernelVerdict: Hashable, Sendable {
    case accepted
    /// The verifier (or libbpf, preparing the load) refused it; `log` is the kernel's verifier log.
    case rejected(log: String)
}

/// The kernel's timing of `repeat` runs of one packet (`BPF_PROG_TEST_RUN`'s `duration`).
public struct KernelTiming: Hashable, Sendable {
    /// The return value of the last repetition.
    public var returnValue: UInt32
    public var repetitions: Int
    /// Average wall time per repetition measured by the kernel, in nanoseconds (JIT-compiled program).
    public var nanosecondsPerRun: UInt32
}
