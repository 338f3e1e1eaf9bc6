/// Why a program could not be loaded into the VM: a map could not be created, a helper is refused, an instruction is
/// malformed. The message is meant for users as it is.
public struct LoadError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    /// The instruction involved, if any (index into the program as loaded).
    public var instructionIndex: Int?
    public init(_ message: String, instructionIndex: Int? = nil) {
        self.message = message
        self.instructionIndex = instructionIndex
    }
    public var description: String { message }
}

/// A program with everything it refers to: its maps created, helpers and kfuncs bound, sub-programs and tail-call
/// targets translated, PROG_ARRAY initialisers filled. One `LoadedProgram` may be run by several machines (workers)
/// at once; the maps are shared between them, as in the kernel.
public final class LoadedProgram: @unchecked Sendable {
    public let spec: ProgramSpec
    /// The object's maps, in `spec.maps` order.
    public let maps: [BPFMap]
    /// The entry program.
    public let executable: ExecutableProgram
    /// Other programs of the object (tail-call targets), by function name.
    public let siblings: [String: ExecutableProgram]
    /// Checked-mode regions: every map's storage.
    let regions: UnsafeMutablePointer<MemoryRegion>
    let regionCount: Int
    /// Dense helper table for `callx`.
    let helperTable: UnsafeMutablePointer<HelperFunction?>
    static let helperTableCount = 256

    public struct Options: Sendable {
        /// CPUs per-CPU maps keep values for (the kernel's possible CPUs when results are compared with it).
        public var possibleCPUs: Int
        /// Translate sibling programs too (needed for tail calls).
        public var loadSiblings: Bool
        /// Maps of a program this one replaces (live reload): a map of the new object with the same name and a
        /// compatible definition (`BPFMap.canBeReused(for:)`) is this map, shared, instead of a new one.
        public var reusableMaps: [BPFMap]
        public init(possibleCPUs: Int = 1, loadSiblings: Bool = true, reusableMaps: [BPFMap] = []) {
            self.possibleCPUs = possibleCPUs
            self.loadSiblings = loadSiblings
            self.reusableMaps = reusableMaps
        }
    }

    /// Where a verified program runs without bounds checks; nil for a program loaded unverified, which runs checked
    /// (`ProgramEntry`) only. Only `init(verified:options:)` sets it.
    public let uncheckedEntry: UncheckedEntry?

    /// Loads a program the verifier accepted, with its context rewrite: it may run unchecked (`uncheckedEntry`).
    /// Only siblings the verifier checked too (`Verifier.verifyWithSiblings`) are loaded as tail-call targets.
    public convenience init(verified: VerifiedProgram, options: Options = Options()) throws(LoadError) {
        try self.init(
            verified.spec, options: options, contextLoads: verified.reports.mapValues(\.contextLoads),
            verifiedNames: Set(verified.reports.keys))
    }

    /// Loads a program without verifying it: it runs with every memory access bounds-checked, never unchecked.
    public convenience init(_ spec: ProgramSpec, options: Options = Options()) throws(LoadError) {
        try self.init(spec, options: options, contextLoads: [:], verifiedNames: nil)
    }

    /// Creates the maps and translates the program and its siblings (only the verified ones when `verifiedNames` is
    /// given).
    init(
        _ spec: ProgramSpec, options: Options, contextLoads: [String: [Int: ContextField]],
        verifiedNames: Set<String>?
    ) throws(LoadError) {
        self.spec = spec
        var maps: [BPFMap] = []
        for mapSpec in spec.maps {
            if let reused = options.reusableMaps.first(where: {
                $0.spec.name == mapSpec.name && $0.canBeReused(for: mapSpec, possibleCPUs: options.possibleCPUs)
            }) {
                maps.append(reused)
                continue
            }
            do { maps.append(try BPFMap(spec: mapSpec, possibleCPUs: options.possibleCPUs)) } catch {
                throw LoadError("map '\(mapSpec.name)': \(error)")
            }
        }
        self.maps = maps

        func translate(_ program: ProgramSpec) throws(LoadError) -> ExecutableProgram {
            let context = TranslationContext(
                helper: { id in HelperTable.spec(id: id).flatMap { $0.refusal == nil ? $0.implementation : nil } },
                kfunc: { name in HelperTable.kfunc(named: name)?.implementation },
                mapPointer: { index in
                    maps.indices.contains(index) ? UInt64(UInt(bitPattern: maps[index].core)) : nil
                },
                mapValueAddress: { index, offset in
                    maps.indices.contains(index) ? maps[index].valueAddress(offset: offset) : nil
                },
                kfuncCalls: program.kfuncCalls, externAddresses: program.externAddresses,
                contextLoads: contextLoads[program.name] ?? [:])
            // Refused helpers get their own message before translation reports them as unknown.
            for (index, insn) in program.instructions.enumerated() where insn.opcode == 0x85 && insn.src == 0 {
                if let helper = HelperTable.spec(id: insn.imm), let refusal = helper.refusal {
                    throw LoadError("instruction \(index): \(helper.name): \(refusal)", instructionIndex: index)
                }
            }
            do { return try ExecutableProgram(instructions: program.instructions, context: context) } catch {
                throw LoadError(
                    "\(program.name.isEmpty ? "program" : program.name): \(error)",
                    instructionIndex: error.instructionIndex)
            }
        }

        executable = try translate(spec)
        var siblings: [String: ExecutableProgram] = [:]
        if options.loadSiblings {
            for (name, sibling) in spec.siblings where verifiedNames?.contains(name) ?? true {
                siblings[name] = try translate(sibling)
            }
        }
        siblings[spec.name] = executable
        self.siblings = siblings
        uncheckedEntry = verifiedNames == nil ? nil : executable.uncheckedEntry

        for map in maps where !map.spec.initialPrograms.isEmpty {
            for (slot, name) in map.spec.initialPrograms {
                guard let target = siblings[name] else {
                    throw LoadError("map '\(map.spec.name)' slot \(slot) names program '\(name)', which is not loaded")
                }
                do { try map.setProgram(slot: slot, handle: target.codeHandle) } catch {
                    throw LoadError("map '\(map.spec.name)' slot \(slot): \(error)")
                }
            }
        }

        let allRegions = maps.flatMap(\.regions)
        regionCount = allRegions.count
        regions = .allocate(capacity: max(allRegions.count, 1))
        regions.initialize(from: allRegions, count: allRegions.count)
        helperTable = .allocate(capacity: Self.helperTableCount)
        for id in 0..<Self.helperTableCount {
            let spec = HelperTable.spec(id: Int32(id))
            (helperTable + id).initialize(to: spec?.refusal == nil ? spec?.implementation : nil)
        }
    }

    deinit {
        regions.deallocate()
        helperTable.deallocate()
    }

    /// Every map's contents, in the object's order, in the shape the kernel runner reports.
    public func mapEntries() -> [(map: BPFMap, entries: [MapEntry])] { maps.map { ($0, $0.entries()) } }

    /// The map with this name (`.rodata`, `counters`, …).
    public func map(named name: String) -> BPFMap? { maps.first { $0.spec.name == name } }

    /// Points a machine's environment at this program's tables (regions for checked mode, helper table for callx).
    /// Call once per machine before running.
    public func bind(to machine: borrowing Machine) {
        machine.environment.pointee.regions = regions
        machine.environment.pointee.regionCount = regionCount
        machine.environment.pointee.helperTable = UnsafePointer(helperTable)
        machine.environment.pointee.helperTableCount = Self.helperTableCount
    }
}

/// The frame geometry of the kernel's `BPF_PROG_TEST_RUN` for XDP (net/bpf/test_run.c): one page per frame,
/// `XDP_PACKET_HEADROOM` before the data, and the `skb_shared_info` tailroom after the usable area. Using the same
/// geometry makes `bpf_xdp_adjust_head/tail/meta` succeed and fail exactly where the kernel's do.
public enum XDPFrameGeometry {
    public static let frameSize = 4096
    public static let headroom = 256
    /// `SKB_DATA_ALIGN(sizeof(struct skb_shared_info))` on x86-64.
    public static let tailroom = 320
    /// The largest packet the test-run path accepts in the linear buffer.
    public static let maxLinearData = frameSize - headroom - tailroom
}

/// The result of running an XDP program on a frame.
public struct XDPRunResult: Sendable {
    /// `r0`.
    public var returnValue: UInt64
    public var fault: ExecutionFault?
    /// The frame after the run, as offsets from the buffer start.
    public var dataOffset: Int
    public var length: Int
    public var metaLength: Int
    public var redirectKind: RedirectKind
    public var redirectValue: UInt32
    public var instructionCount: UInt64

    @inlinable
    public init(
        returnValue: UInt64, fault: ExecutionFault?, dataOffset: Int, length: Int, metaLength: Int,
        redirectKind: RedirectKind, redirectValue: UInt32, instructionCount: UInt64
    ) {
        self.returnValue = returnValue
        self.fault = fault
        self.dataOffset = dataOffset
        self.length = length
        self.metaLength = metaLength
        self.redirectKind = redirectKind
        self.redirectValue = redirectValue
        self.instructionCount = instructionCount
    }
}

extension Machine {
    /// Runs an XDP program on the frame at `buffer[dataOffset..<dataOffset+length]` with `metaLength` bytes of
    /// metadata before it, every memory access bounds-checked. `frameEnd` is the end of usable tailroom, from
    /// `buffer`. The environment's clock and ingress fields are the caller's to set. No allocation, no ARC.
    @inlinable
    public func runXDP(
        _ program: borrowing ExecutableProgram, buffer: UnsafeMutableRawPointer, dataOffset: Int, length: Int,
        metaLength: Int, frameEnd: Int
    ) -> XDPRunResult {
        runXDP(
            program.entry, buffer: buffer, dataOffset: dataOffset, length: length, metaLength: metaLength,
            frameEnd: frameEnd)
    }

    /// `runXDP`, checked, from entry points taken once (no reference counting per frame).
    @inlinable
    public func runXDP(
        _ entry: ProgramEntry, buffer: UnsafeMutableRawPointer, dataOffset: Int, length: Int,
        metaLength: Int, frameEnd: Int
    ) -> XDPRunResult {
        environment.pointee.setFrame(
            hardStart: buffer, dataOffset: dataOffset, length: length, metaLength: metaLength, frameSize: frameEnd)
        return xdpResult(runChecked(entry, r1: contextPointer), buffer: buffer)
    }

    /// `runXDP` without bounds checks: only a verified program has an `UncheckedEntry`.
    @inlinable
    public func runXDP(
        _ entry: UncheckedEntry, buffer: UnsafeMutableRawPointer, dataOffset: Int, length: Int,
        metaLength: Int, frameEnd: Int
    ) -> XDPRunResult {
        environment.pointee.setFrame(
            hardStart: buffer, dataOffset: dataOffset, length: length, metaLength: metaLength, frameSize: frameEnd)
        return xdpResult(run(entry, r1: contextPointer), buffer: buffer)
    }

    @inlinable
    func xdpResult(_ result: RunResult, buffer: UnsafeMutableRawPointer) -> XDPRunResult {
        let env = environment
        let data = env.pointee.data.unsafelyUnwrapped
        return XDPRunResult(
            returnValue: result.returnValue, fault: result.fault, dataOffset: data - buffer,
            length: env.pointee.dataEnd.unsafelyUnwrapped - data,
            metaLength: data - env.pointee.dataMeta.unsafelyUnwrapped,
            redirectKind: env.pointee.redirectKind, redirectValue: env.pointee.redirectValue,
            instructionCount: result.instructionCount)
    }
}
