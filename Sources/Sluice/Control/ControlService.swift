import BPFVM

#if canImport(Glibc)
    import Glibc
#endif

/// Answers control requests for one live run: statistics from the engine, map access and reloads through the
/// `LiveProgram`. Runs on the control server's thread only (one request at a time), never on a worker.
///
/// Map access is the BPFMap API, which is safe while workers run programs: hash, LRU and LPM changes take the map's
/// spinlock, as the program's helpers do; array values are read and written in place without a lock, as the kernel
/// does (a value being changed by a program at that moment may be seen half old, half new, per 8-byte word). A dump
/// holds the map's lock for the whole walk, so hash/LRU/LPM dumps are a consistent snapshot of that map; different
/// maps are dumped one after another, not at one instant.
public final class ControlService: @unchecked Sendable {
    public let interface: String
    let program: LiveProgram
    let stats: () -> LiveStats
    let startNanos = LiveProgram.monotonicNanos()

    /// `redirect.reload`: replaces the kernel-side redirect program on every attached interface (`bpf_link_update`,
    /// or through libxdp's dispatcher in multiprog mode); returns the new program ids and how they were swapped.
    /// Nil when the run cannot (set by `sluice run`).
    public var replaceRedirect: ((String) throws -> (ids: [UInt32], through: String))?

    public init(interface: String, program: LiveProgram, stats: @escaping () -> LiveStats) {
        self.interface = interface
        self.program = program
        self.stats = stats
    }

    public func handle(_ request: ControlRequest) -> ControlReply {
        guard request.version == ControlProtocol.version else {
            return .failure(
                "protocol version \(request.version) is not supported (this server speaks \(ControlProtocol.version))")
        }
        do throws(ControlFailure) {
            var reply = ControlReply(ok: true)
            switch request.command {
            case "stats": reply.stats = currentStats()
            case "trace":
                // The control thread is the event maps' only consumer in a live run (as `bpftool map event_pipe`).
                var events: [(map: String, record: [UInt8])] = []
                for map in program.program.maps where map.spec.type == .ringbuf || map.spec.type == .perfEventArray {
                    for record in map.drainRecords() { events.append((map.spec.name, record)) }
                }
                program.trace.append(events: events)
                reply.trace = program.trace.lines(since: request.since ?? 0)
            case "map.list": reply.maps = program.program.maps.map(Self.info)
            case "map.dump":
                let maps = request.map == nil ? program.program.maps : [try map(named: request.map)]
                reply.dumps = maps.map { map in
                    ControlMapDump(
                        map: Self.info(map),
                        entries: map.entries().map { ControlMapEntry(map: map, key: $0.key, values: $0.values) })
                }
            case "map.lookup":
                let map = try map(named: request.map)
                let key = try bytes(request.key, of: map, what: "key", size: map.spec.keySize)
                guard let values = map.lookupPerCPU(key: key) else {
                    throw ControlFailure("map \(map.name): no entry with key \(MapBytes.format(key))")
                }
                reply.entry = ControlMapEntry(map: map, key: key, values: values)
            case "map.update":
                let map = try map(named: request.map)
                let key = try bytes(request.key, of: map, what: "key", size: map.spec.keySize)
                let value = try bytes(request.value, of: map, what: "value", size: map.spec.valueSize)
                try writable(map)
                let flags: UInt64
                switch request.flags ?? "any" {
                case "any": flags = MapUpdateFlags.any
                case "noexist": flags = MapUpdateFlags.noExist
                case "exist": flags = MapUpdateFlags.exist
                case let other: throw ControlFailure("map.update flags '\(other)': expected any, noexist or exist")
                }
                do { try map.update(key: key, value: value, flags: flags) } catch {
                    throw ControlFailure("\(error)")
                }
            case "map.delete":
                let map = try map(named: request.map)
                try writable(map)
                let key = try bytes(request.key, of: map, what: "key", size: map.spec.keySize)
                do { try map.delete(key: key) } catch { throw ControlFailure("\(error)") }
            case "reload":
                guard let object = request.object, object.hasPrefix("/") else {
                    throw ControlFailure("reload needs the object's absolute path")
                }
                let reload = LiveProgram.ReloadRequest(
                    objectPath: object, program: request.program, section: request.section,
                    mapsJSON: request.mapsJSON.map { Array($0.utf8) }, globals: request.globals ?? [],
                    keepMaps: request.keepMaps ?? true)
                do { reply.reload = try program.reload(reload) } catch { throw ControlFailure(error.description) }
            case "redirect.reload":
                guard let object = request.object, object.hasPrefix("/") else {
                    throw ControlFailure("redirect.reload needs the redirect object's absolute path")
                }
                guard let replaceRedirect else { throw ControlFailure("this run cannot replace its redirect program") }
                do { (reply.redirectProgramIDs, reply.redirectReplacedThrough) = try replaceRedirect(object) } catch {
                    throw ControlFailure("\(error)")
                }
            default:
                throw ControlFailure(
                    "unknown command '\(request.command)' (stats, map.list, map.dump, map.lookup, map.update, "
                        + "map.delete, reload, redirect.reload, trace)")
            }
            return reply
        } catch {
            return .failure(error.description)
        }
    }

    public func currentStats() -> ControlStats {
        ControlStats(
            interface: interface, program: program.programName, object: program.objectPath, engine: program.engine,
            generation: program.generation, reloads: program.reloads, live: stats(),
            generations: program.generations(),
            uptimeSeconds: Double(LiveProgram.monotonicNanos() &- startNanos) / 1e9, runTime: program.runTime())
    }

    private func map(named name: String?) throws(ControlFailure) -> BPFMap {
        guard let name else { throw ControlFailure("no map name given") }
        guard let map = program.program.map(named: name) else {
            let known = program.program.maps.map(\.name).joined(separator: ", ")
            throw ControlFailure("no map named '\(name)' (maps: \(known.isEmpty ? "none" : known))")
        }
        return map
    }

    /// Frozen global data (`.rodata`) refuses writes from outside, as the kernel's frozen maps do (EPERM).
    private func writable(_ map: BPFMap) throws(ControlFailure) {
        if map.spec.readOnlyForProgram || map.core.pointee.readOnly {
            throw ControlFailure("map \(map.name) is frozen read-only data; it cannot be changed while running")
        }
    }

    private func bytes(_ hex: String?, of map: BPFMap, what: String, size: Int) throws(ControlFailure) -> [UInt8] {
        guard let hex else { throw ControlFailure("no \(what) given") }
        let bytes: [UInt8]
        do { bytes = try MapBytes.hexDigits(hex, what: what) } catch { throw ControlFailure(error.description) }
        guard bytes.count == size else {
            throw ControlFailure(
                "map \(map.name): the \(what) is \(size) byte(s) (\(map.type)), got \(bytes.count): "
                    + MapBytes.format(bytes))
        }
        return bytes
    }

    static func info(_ map: BPFMap) -> ControlMapInfo {
        ControlMapInfo(
            name: map.name, type: map.type.description, keySize: map.spec.keySize, valueSize: map.spec.valueSize,
            maxEntries: map.spec.maxEntries, flags: map.spec.flags, entries: map.count)
    }
}

struct ControlFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
