import CLibXDP
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// How to attach the kernel-side redirect program.
public enum XDPAttachMode: String, CaseIterable, Sendable {
    /// Native (driver) mode, falling back to generic (skb) mode when the driver refuses; the fallback is reported.
    case auto
    /// `XDP_FLAGS_DRV_MODE` only.
    case native
    /// `XDP_FLAGS_SKB_MODE` (generic XDP) only.
    case skb
}

/// The mode the program ended up attached in.
public enum XDPAttachedMode: String, Sendable {
    case native
    case skb
}

/// Whether the redirect program goes in as one of libxdp's dispatcher programs (multiprog), so that Sluice can
/// share the interface with xdp-filter, xdp-loader and other libxdp users.
public enum MultiprogChoice: String, CaseIterable, Sendable {
    /// Multiprog when a libxdp dispatcher is already on the interface; otherwise Sluice's own bpf_link.
    case auto
    /// Always through libxdp's dispatcher (`--multiprog`), creating one if there is none.
    case always
    /// Never: Sluice's own bpf_link (the interface must be free).
    case never
}

/// What holds an interface's XDP hook before Sluice attaches.
enum XDPHookState: Equatable {
    case free
    /// libxdp's dispatcher, in this mode, with these programs (name and run priority).
    case dispatcher(XDPAttachedMode, programs: [String])
    /// A single program that is not libxdp's dispatcher.
    case other(name: String, id: UInt32)
}

/// An IPv4 flow the redirect program passes straight to the kernel stack (`pass_flows` key). Addresses and ports
/// are host-order values; `protocol` is the IP protocol number; ports are 0 for protocols without ports.
public struct PassFlow: Hashable, Sendable {
    public var source: UInt32
    public var destination: UInt32
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var ipProtocol: UInt8
    public init(
        source: UInt32, destination: UInt32, sourcePort: UInt16 = 0, destinationPort: UInt16 = 0,
        ipProtocol: UInt8
    ) {
        self.source = source
        self.destination = destination
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.ipProtocol = ipProtocol
    }

    /// The 16-byte `struct sluice_flow_v4` key, fields in network byte order.
    var keyBytes: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16)
        for shift in stride(from: 24, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: source >> UInt32(shift)))
        }
        for shift in stride(from: 24, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: destination >> UInt32(shift)))
        }
        bytes += [UInt8(sourcePort >> 8), UInt8(truncatingIfNeeded: sourcePort)]
        bytes += [UInt8(destinationPort >> 8), UInt8(truncatingIfNeeded: destinationPort)]
        bytes += [ipProtocol, 0, 0, 0]
        return bytes
    }
}

/// Frames the kernel-side program handed to the stack itself ("PASS in kernel"), counted since it was loaded.
public struct KernelPassCounters: Hashable, Sendable, Codable {
    public var interface: String
    /// EtherType listed in `pass_ethertypes` (ARP by default).
    public var byEtherType: UInt64
    /// IPv4 flow listed in `pass_flows`.
    public var byFlow: UInt64
    /// No socket bound on the frame's queue (`bpf_redirect_map` fell back to XDP_PASS).
    public var noSocket: UInt64
}

/// Sluice's kernel-side program (`programs/sluice_redirect.c`) loaded with libbpf and attached through a bpf_link,
/// so that the kernel detaches it when the last reference goes away, including when the process is killed.
///
/// With `persist`, the link and maps are pinned under `/sys/fs/bpf/sluice/IFNAME/`: the program stays after Sluice
/// exits, and a later Sluice (persistent or not) finds the pins, re-inserts its sockets and does not re-attach.
/// `RedirectAttachment.detach(interface:)` removes the pins and thereby the program.
public final class RedirectAttachment {
    public let interface: InterfaceInfo
    public let attachedMode: XDPAttachedMode?
    /// True when the link and maps are pinned (this run pinned them, or an earlier one did).
    public let persistent: Bool
    /// True when an existing pinned attachment was taken over instead of attaching.
    public let reusedPinned: Bool
    /// Fallbacks and other things worth telling the user.
    public private(set) var notes: [String] = []
    /// The bpf_link id and program id (as `bpftool link` / `ip link` show them).
    public let linkID: UInt32
    public private(set) var programID: UInt32

    private var object: OpaquePointer?
    /// The libxdp program when attached through the dispatcher (multiprog); it owns the object and its maps.
    private var multiprogProgram: OpaquePointer?
    /// Attached as a program of libxdp's dispatcher, next to others.
    public let multiprog: Bool
    private var linkFD: Int32
    /// The maps' fds are this attachment's own (opened from pins, or duplicated from the loaded object), so they
    /// stay valid when `replaceProgram` swaps the object that loaded them; `close()` closes them.
    let xsksMapFD: Int32
    let passEtherTypesFD: Int32
    let passFlowsFD: Int32
    /// `pass_counters` (per-CPU array), or -1 when a pinned attachment from an older program has none.
    let passCountersFD: Int32
    private var closed = false

    /// The redirect program's maps, in the order of the four fds above (and of their pins).
    static let mapNames = ["xsks_map", "pass_ethertypes", "pass_flows", "pass_counters"]
    /// Each map's name and this attachment's fd for it.
    private var mapFDs: [(name: String, fd: Int32)] {
        Array(zip(Self.mapNames, [xsksMapFD, passEtherTypesFD, passFlowsFD, passCountersFD]))
    }

    /// bpffs directory of an interface's pins.
    public static func pinDirectory(interface name: String) -> String { "/sys/fs/bpf/sluice/\(name)" }

    /// Loads and attaches the program (or takes over a pinned one). `passEtherTypes` are host-order EtherTypes
    /// (ARP, 0x0806, by default) inserted before the program sees traffic.
    public init(
        interface: InterfaceInfo, objectPath: String, mode: XDPAttachMode = .auto, persist: Bool = false,
        passEtherTypes: [UInt16] = [0x0806], passFlows: [PassFlow] = [], multiprog: MultiprogChoice = .auto,
        logger: Logger
    ) throws(AFXDPError) {
        self.interface = interface
        let dir = Self.pinDirectory(interface: interface.name)
        var notes: [String] = []
        let pinned = try Self.openPinned(interface: interface, logger: logger)
        let hook = pinned == nil ? Self.hookState(interface) : .free
        if case .other(let name, let id) = hook {
            throw .interfaceBusy(
                interface: interface.name,
                detail: "XDP program \(name) (id \(id)) holds the interface without libxdp's dispatcher, so it "
                    + "cannot be shared (libxdp itself loads a single program like this when the kernel refuses its "
                    + "dispatcher); remove it (`ip link set dev \(interface.name) xdp off`) to run Sluice here")
        }
        var useDispatcher = multiprog == .always
        if multiprog == .auto, case .dispatcher = hook { useDispatcher = true }
        let maps: [Int32]  // this attachment's own fds, in `mapNames` order

        if let pinned {
            self.multiprog = false
            linkFD = pinned.link
            maps = [pinned.xsks, pinned.etherTypes, pinned.flows, pinned.counters]
            object = nil
            persistent = true
            reusedPinned = true
            attachedMode = nil
            notes.append("using the redirect program pinned at \(dir) (not re-attaching)")
            // This run's pass-through entries join those already in the pinned maps.
            for etherType in passEtherTypes { try Self.insertEtherType(etherType, fd: pinned.etherTypes) }
            for flow in passFlows { try Self.insertFlow(flow, fd: pinned.flows) }
            if !persist {
                notes.append("it stays attached after this run; `sluice detach \(interface.name)` removes it")
            }
        } else if useDispatcher {
            guard !persist else {
                throw .invalidConfiguration(
                    "--persist needs Sluice's own bpf_link; in libxdp's dispatcher (multiprog) the program is "
                        + "pinned by libxdp and removed with xdp-loader")
            }
            let attached = try Self.attachToDispatcher(
                interface: interface, objectPath: objectPath, mode: mode, hook: hook, logger: logger)
            multiprogProgram = attached.program
            self.multiprog = true
            object = nil
            linkFD = -1
            maps = try Self.duplicate(attached.maps, context: objectPath)
            attachedMode = attached.mode
            reusedPinned = false
            persistent = false
            for etherType in passEtherTypes { try Self.insertEtherType(etherType, fd: attached.maps[1]) }
            for flow in passFlows { try Self.insertFlow(flow, fd: attached.maps[2]) }
            let others = Self.hookState(interface)
            var note = "attached as a program of libxdp's dispatcher (multiprog, \(attached.mode.rawValue) mode)"
            if case .dispatcher(_, let programs) = others, programs.count > 1 {
                note += " with: " + programs.joined(separator: ", ")
            }
            notes.append(note)
            notes.append(
                "in the dispatcher the program is held by libxdp's pins, not by this process: after a crash, "
                    + "`xdp-loader unload \(interface.name) --id \(xdp_program__id(attached.program))` removes it")
        } else {
            self.multiprog = false
            guard access(objectPath, R_OK) == 0 else {
                throw .redirectProgramUnavailable(path: objectPath, reason: Errno.current.description)
            }
            // libbpf's messages go to the logger and are quoted when opening or loading fails.
            let (opened, messages) = LibbpfLog.capturing(logger: logger) { () -> (OpaquePointer?, Int32, Int32) in
                guard let obj = bpf_object__open_file(objectPath, nil) else { return (nil, Errno.current.rawValue, 0) }
                return (obj, 0, bpf_object__load(obj))
            }
            let quoted = messages.last.map { " (libbpf: \($0))" } ?? ""
            guard let obj = opened.0 else {
                throw .redirectProgramUnavailable(
                    path: objectPath, reason: Errno(rawValue: opened.1).description + quoted)
            }
            var ok = false
            defer { if !ok { bpf_object__close(obj) } }
            if opened.2 < 0 {
                throw .system(SystemError(call: "bpf_object__load", errno: -opened.2, context: objectPath + quoted))
            }
            guard let program = bpf_object__find_program_by_name(obj, "sluice_redirect") else {
                throw .redirectProgramIncomplete(path: objectPath, missing: "program sluice_redirect")
            }
            let progFD = bpf_program__fd(program)
            func mapFD(_ name: String) throws(AFXDPError) -> Int32 {
                let fd = bpf_object__find_map_fd_by_name(obj, name)
                guard fd >= 0 else { throw .redirectProgramIncomplete(path: objectPath, missing: "map \(name)") }
                return fd
            }
            let xsks = try mapFD("xsks_map")
            let etherTypes = try mapFD("pass_ethertypes")
            let flows = try mapFD("pass_flows")
            let counters = try mapFD("pass_counters")
            // Pass-through entries go in before the program sees its first frame.
            for etherType in passEtherTypes { try Self.insertEtherType(etherType, fd: etherTypes) }
            for flow in passFlows { try Self.insertFlow(flow, fd: flows) }

            let attempts: [XDPAttachedMode] =
                switch mode {
                case .auto: [.native, .skb]
                case .native: [.native]
                case .skb: [.skb]
                }
            var failures: [String] = []
            var attached: (fd: Int32, mode: XDPAttachedMode)?
            for attempt in attempts {
                var opts = bpf_link_create_opts()
                opts.sz = MemoryLayout<bpf_link_create_opts>.size
                opts.flags = attempt == .native ? UInt32(XDP_FLAGS_DRV_MODE) : UInt32(XDP_FLAGS_SKB_MODE)
                let fd = bpf_link_create(progFD, Int32(interface.ifindex), BPF_XDP, &opts)
                if fd >= 0 {
                    attached = (fd, attempt)
                    break
                }
                let code = -fd
                if code == EBUSY || code == EEXIST {
                    throw .interfaceBusy(
                        interface: interface.name,
                        detail: "another XDP program is attached (see `ip link show \(interface.name)`); "
                            + "remove it, or `sluice detach \(interface.name)` if it is a persistent Sluice redirect")
                }
                if code == ENODEV || code == ENXIO { throw .interfaceNotFound(interface.name) }
                failures.append("\(attempt): bpf_link_create: \(Errno(rawValue: code).description)")
                logger.debug("attach \(attempt) mode on \(interface.name) failed: \(Errno(rawValue: code).description)")
            }
            guard let attached else { throw .attachFailed(interface: interface.name, attempts: failures) }
            if mode == .auto && attached.mode == .skb {
                notes.append(
                    "native XDP not available on \(interface.name) (\(failures.joined(separator: "; "))); using skb (generic) mode"
                )
            }
            do { maps = try Self.duplicate([xsks, etherTypes, flows, counters], context: objectPath) } catch {
                Glibc.close(attached.fd)
                throw error
            }
            linkFD = attached.fd
            attachedMode = attached.mode
            reusedPinned = false
            persistent = persist
            object = obj
            if persist {
                if let note = try Self.ensureBPFFS() { notes.append(note) }
                do {
                    try Self.pin(
                        linkFD: attached.fd,
                        maps: Array(zip([xsks, etherTypes, flows, counters], Self.mapNames)),
                        dir: dir)
                } catch {
                    Glibc.close(attached.fd)
                    for fd in maps { Glibc.close(fd) }
                    throw error
                }
                notes.append("pinned at \(dir); the redirect stays after exit until `sluice detach \(interface.name)`")
            }
            ok = true
        }
        (xsksMapFD, passEtherTypesFD, passFlowsFD, passCountersFD) = (maps[0], maps[1], maps[2], maps[3])
        if let multiprogProgram {
            (linkID, programID) = (0, xdp_program__id(multiprogProgram))
        } else {
            (linkID, programID) = Self.linkIDs(linkFD)
        }
        self.notes = notes
        for note in notes { logger.info("\(note)") }
    }

    /// Puts `socketFD` into `xsks_map[queue]` (replacing a stale entry).
    public func insert(socketFD: Int32, queue: UInt32) throws(AFXDPError) {
        var key = queue
        var value = UInt32(bitPattern: socketFD)
        let rc = bpf_map_update_elem(xsksMapFD, &key, &value, UInt64(BPF_ANY))
        if rc < 0 {
            throw .system(SystemError(call: "bpf_map_update_elem", errno: -rc, context: "xsks_map[\(queue)]"))
        }
    }

    /// Adds a host-order EtherType to the pass-through set.
    public func addPassEtherType(_ etherType: UInt16) throws(AFXDPError) {
        try Self.insertEtherType(etherType, fd: passEtherTypesFD)
    }

    /// Adds an IPv4 flow to the pass-through set.
    public func addPassFlow(_ flow: PassFlow) throws(AFXDPError) { try Self.insertFlow(flow, fd: passFlowsFD) }

    /// What the kernel program passed to the stack itself (summed over CPUs); nil when unavailable.
    public func kernelPassCounters() -> KernelPassCounters? {
        guard passCountersFD >= 0, !closed else { return nil }
        let cpus = Int(libbpf_num_possible_cpus())
        guard cpus > 0 else { return nil }
        var values = [UInt64](repeating: 0, count: cpus)
        var sums: [UInt64] = []
        for index in UInt32(0)..<3 {
            var key = index
            guard bpf_map_lookup_elem(passCountersFD, &key, &values) == 0 else { return nil }
            sums.append(values.reduce(0, &+))
        }
        return KernelPassCounters(interface: interface.name, byEtherType: sums[0], byFlow: sums[1], noSocket: sums[2])
    }

    /// Replaces the kernel-side program with the one in `objectPath` (Sluice's redirect program, perhaps changed) through
    /// `bpf_link_update`: the kernel swaps it atomically, so no frame meets the hook without a program. The new program
    /// is loaded onto the running maps (`bpf_map__reuse_fd`: the sockets in `xsks_map` and the pass-through entries
    /// stay). Returns the new program's id. In libxdp's dispatcher (multiprog) see `replaceDispatcherProgram`.
    public func replaceProgram(objectPath: String, logger: Logger) throws(AFXDPError) -> UInt32 {
        guard !closed else { throw .invalidConfiguration("the redirect attachment is closed") }
        if let old = multiprogProgram {
            return try replaceDispatcherProgram(old, objectPath: objectPath, logger: logger)
        }
        guard access(objectPath, R_OK) == 0 else {
            throw .redirectProgramUnavailable(path: objectPath, reason: Errno.current.description)
        }
        guard let obj = bpf_object__open_file(objectPath, nil), libbpf_get_error(UnsafeRawPointer(obj)) == 0 else {
            throw .redirectProgramUnavailable(path: objectPath, reason: Errno.current.description)
        }
        var ok = false
        defer { if !ok { bpf_object__close(obj) } }
        try reuseRunningMaps(in: obj, objectPath: objectPath)
        let (loaded, messages) = LibbpfLog.capturing(logger: logger) { bpf_object__load(obj) }
        if loaded < 0 {
            let quoted = messages.last.map { " (libbpf: \($0))" } ?? ""
            throw .system(SystemError(call: "bpf_object__load", errno: -loaded, context: objectPath + quoted))
        }
        guard let program = bpf_object__find_program_by_name(obj, "sluice_redirect") else {
            throw .redirectProgramIncomplete(path: objectPath, missing: "program sluice_redirect")
        }
        let rc = bpf_link_update(linkFD, bpf_program__fd(program), nil)
        if rc < 0 {
            throw .system(SystemError(call: "bpf_link_update", errno: -rc, context: interface.name))
        }
        // The link holds the new program now; the old object (its program, its references to the maps) can go.
        if let object { bpf_object__close(object) }
        object = obj
        ok = true
        programID = Self.linkIDs(linkFD).1
        return programID
    }

    /// Points the maps of a not yet loaded replacement object at the running ones (`bpf_map__reuse_fd`), so the
    /// sockets in `xsks_map` and the pass-through entries carry over.
    private func reuseRunningMaps(in object: OpaquePointer, objectPath: String) throws(AFXDPError) {
        for (name, fd) in mapFDs where fd >= 0 {
            guard let map = bpf_object__find_map_by_name(object, name) else {
                throw .redirectProgramIncomplete(path: objectPath, missing: "map \(name)")
            }
            let rc = bpf_map__reuse_fd(map, fd)
            if rc < 0 {
                throw .system(SystemError(call: "bpf_map__reuse_fd", errno: -rc, context: "\(objectPath): map \(name)"))
            }
        }
    }

    /// Multiprog: the new program joins libxdp's dispatcher next to the old one, on the running maps, then the old
    /// one leaves. libxdp swaps the whole dispatcher atomically each time, and while both are in it the first of the
    /// two redirects every frame through the shared `xsks_map`, so every frame meets the old or the new program.
    private func replaceDispatcherProgram(
        _ old: OpaquePointer, objectPath: String, logger: Logger
    ) throws(AFXDPError) -> UInt32 {
        guard access(objectPath, R_OK) == 0 else {
            throw .redirectProgramUnavailable(path: objectPath, reason: Errno.current.description)
        }
        let (opened, messages) = LibbpfLog.capturing(logger: logger) { () -> OpaquePointer? in
            xdp_program__open_file(objectPath, nil, nil)
        }
        let quoted = messages.last.map { " (libxdp: \($0))" } ?? ""
        guard let program = opened, libxdp_get_error(UnsafeRawPointer(program)) == 0 else {
            throw .redirectProgramUnavailable(path: objectPath, reason: "cannot be opened" + quoted)
        }
        var ok = false
        defer { if !ok { xdp_program__close(program) } }
        guard String(cString: xdp_program__name(program)) == "sluice_redirect",
            let object = xdp_program__bpf_obj(program)
        else { throw .redirectProgramIncomplete(path: objectPath, missing: "program sluice_redirect") }
        try reuseRunningMaps(in: object, objectPath: objectPath)
        xdp_program__set_run_prio(program, xdp_program__run_prio(old))
        let mode: xdp_attach_mode = attachedMode == .skb ? XDP_MODE_SKB : XDP_MODE_NATIVE
        let (attached, attachMessages) = LibbpfLog.capturing(logger: logger) {
            xdp_program__attach(program, Int32(interface.ifindex), mode, 0)
        }
        if attached != 0 {
            let detail = attachMessages.last.map { " (libxdp: \($0))" } ?? ""
            throw .system(SystemError(call: "xdp_program__attach", errno: -attached, context: interface.name + detail))
        }
        let detached = xdp_program__detach(old, Int32(interface.ifindex), mode, 0)
        if detached != 0 {
            // Both are in the dispatcher and both redirect into the same sockets: take the new one out again, so the
            // running state stays as it was, and report.
            _ = xdp_program__detach(program, Int32(interface.ifindex), mode, 0)
            throw .system(SystemError(call: "xdp_program__detach", errno: -detached, context: interface.name))
        }
        xdp_program__close(old)
        multiprogProgram = program
        ok = true
        programID = xdp_program__id(program)
        return programID
    }

    /// Releases the attachment: closes the link (which detaches the program unless it is pinned) and the object.
    public func close() {
        guard !closed else { return }
        closed = true
        if let program = multiprogProgram {
            // Out of the dispatcher (libxdp removes the dispatcher with its last program); the object goes with it.
            let mode: xdp_attach_mode = attachedMode == .skb ? XDP_MODE_SKB : XDP_MODE_NATIVE
            _ = xdp_program__detach(program, Int32(interface.ifindex), mode, 0)
            xdp_program__close(program)
            multiprogProgram = nil
        } else {
            Glibc.close(linkFD)
            if let object { bpf_object__close(object) }  // the program and the object's own map fds
            object = nil
        }
        for (_, fd) in mapFDs where fd >= 0 { Glibc.close(fd) }
    }

    deinit { close() }

    /// Removes a persistent redirect: detaches the pinned link and deletes the pins.
    public static func detach(interface name: String) throws(AFXDPError) {
        let dir = pinDirectory(interface: name)
        let linkPath = dir + "/link"
        guard access(linkPath, F_OK) == 0 else { throw .notPersisted(interface: name, path: dir) }
        let fd = bpf_obj_get(linkPath)
        if fd >= 0 {
            let rc = bpf_link_detach(fd)
            Glibc.close(fd)
            // ENOLINK: the interface went away and the link is already defunct; the pins still need removing.
            if rc < 0 && -rc != ENOLINK && Errno.current != .noLink {
                throw .system(SystemError(call: "bpf_link_detach", errno: rc < 0 ? -rc : Errno.current.rawValue, context: linkPath))
            }
        }
        removePins(dir: dir)
    }

    // MARK: - Internals

    /// What is on the interface's XDP hook now (libxdp's view: dispatcher or not, and its programs).
    static func hookState(_ interface: InterfaceInfo) -> XDPHookState {
        guard let mp = xdp_multiprog__get_from_ifindex(Int32(interface.ifindex)),
            libxdp_get_error(UnsafeRawPointer(mp)) == 0
        else { return .free }
        defer { xdp_multiprog__close(mp) }
        if xdp_multiprog__is_legacy(mp) {
            guard let main = xdp_multiprog__main_prog(mp) else { return .free }
            return .other(name: String(cString: xdp_program__name(main)), id: xdp_program__id(main))
        }
        let mode: XDPAttachedMode = xdp_multiprog__attach_mode(mp) == XDP_MODE_SKB ? .skb : .native
        var programs: [String] = []
        var program = xdp_multiprog__next_prog(nil, mp)
        while let current = program {
            programs.append("\(String(cString: xdp_program__name(current))) (priority \(xdp_program__run_prio(current)))")
            program = xdp_multiprog__next_prog(current, mp)
        }
        return .dispatcher(mode, programs: programs)
    }

    /// Opens the redirect object with libxdp and adds it to the interface's dispatcher (created if there is none),
    /// in the dispatcher's mode when one is there; returns the program, the mode and the four map fds.
    private static func attachToDispatcher(
        interface: InterfaceInfo, objectPath: String, mode: XDPAttachMode, hook: XDPHookState, logger: Logger
    ) throws(AFXDPError) -> (program: OpaquePointer, mode: XDPAttachedMode, maps: [Int32]) {
        guard access(objectPath, R_OK) == 0 else {
            throw .redirectProgramUnavailable(path: objectPath, reason: Errno.current.description)
        }
        let (opened, messages) = LibbpfLog.capturing(logger: logger) { () -> OpaquePointer? in
            xdp_program__open_file(objectPath, nil, nil)
        }
        let quoted = messages.last.map { " (libxdp: \($0))" } ?? ""
        guard let program = opened else {
            throw .redirectProgramUnavailable(path: objectPath, reason: "cannot be opened" + quoted)
        }
        let openError = libxdp_get_error(UnsafeRawPointer(program))
        guard openError == 0 else {
            throw .redirectProgramUnavailable(path: objectPath, reason: Errno(negated: openError).description + quoted)
        }
        var ok = false
        defer { if !ok { xdp_program__close(program) } }
        let attempts: [XDPAttachedMode]
        if case .dispatcher(let existing, _) = hook {
            if mode == .native && existing == .skb || mode == .skb && existing == .native {
                throw .interfaceBusy(
                    interface: interface.name,
                    detail: "libxdp's dispatcher there runs in \(existing.rawValue) mode; --mode \(mode.rawValue) "
                        + "cannot join it (all programs of a dispatcher share one mode)")
            }
            attempts = [existing]
        } else {
            attempts = mode == .auto ? [.native, .skb] : mode == .native ? [.native] : [.skb]
        }
        var failures: [String] = []
        var attachedMode: XDPAttachedMode?
        for attempt in attempts {
            let (rc, messages) = LibbpfLog.capturing(logger: logger) { () -> Int32 in
                xdp_program__attach(
                    program, Int32(interface.ifindex), attempt == .skb ? XDP_MODE_SKB : XDP_MODE_NATIVE, 0)
            }
            if rc == 0 {
                attachedMode = attempt
                break
            }
            let detail = messages.last.map { " (libxdp: \($0))" } ?? ""
            failures.append("\(attempt) (multiprog): \(Errno(negated: rc).description)\(detail)")
        }
        guard let attachedMode else { throw .attachFailed(interface: interface.name, attempts: failures) }
        // libxdp falls back to a single program without its dispatcher when the kernel refuses the dispatcher's
        // extension programs (freplace); that is not sharing, so say so and leave nothing behind.
        guard case .dispatcher = hookState(interface) else {
            _ = xdp_program__detach(
                program, Int32(interface.ifindex), attachedMode == .skb ? XDP_MODE_SKB : XDP_MODE_NATIVE, 0)
            throw .multiprogUnavailable(
                interface: interface.name,
                detail: "libxdp could not use its dispatcher on this kernel (its freplace extension programs were "
                    + "refused; `xdp-loader load -vv` shows why) and fell back to a single program")
        }
        guard let object = xdp_program__bpf_obj(program) else {
            throw .redirectProgramIncomplete(path: objectPath, missing: "BPF object after loading")
        }
        var maps: [Int32] = []
        for name in mapNames {
            let fd = bpf_object__find_map_fd_by_name(object, name)
            guard fd >= 0 else {
                _ = xdp_program__detach(
                    program, Int32(interface.ifindex), attachedMode == .skb ? XDP_MODE_SKB : XDP_MODE_NATIVE, 0)
                throw .redirectProgramIncomplete(path: objectPath, missing: "map \(name)")
            }
            maps.append(fd)
        }
        ok = true
        return (program, attachedMode, maps)
    }

    /// Duplicates `fds` (close-on-exec), so they outlive the object that created them; all or none.
    static func duplicate(_ fds: [Int32], context: String) throws(AFXDPError) -> [Int32] {
        var copies: [Int32] = []
        for fd in fds {
            let copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)
            guard copy >= 0 else {
                let code = Errno.current.rawValue
                for opened in copies { Glibc.close(opened) }
                throw .system(SystemError(call: "fcntl(F_DUPFD_CLOEXEC)", errno: code, context: context))
            }
            copies.append(copy)
        }
        return copies
    }

    static func insertEtherType(_ etherType: UInt16, fd: Int32) throws(AFXDPError) {
        var key = etherType.bigEndian
        var value: UInt8 = 1
        let rc = bpf_map_update_elem(fd, &key, &value, UInt64(BPF_ANY))
        if rc < 0 {
            throw .system(
                SystemError(
                    call: "bpf_map_update_elem", errno: -rc,
                    context: "pass_ethertypes[0x\(String(etherType, radix: 16))]"))
        }
    }

    static func insertFlow(_ flow: PassFlow, fd: Int32) throws(AFXDPError) {
        var key = flow.keyBytes
        var value: UInt8 = 1
        let rc = bpf_map_update_elem(fd, &key, &value, UInt64(BPF_ANY))
        if rc < 0 { throw .system(SystemError(call: "bpf_map_update_elem", errno: -rc, context: "pass_flows")) }
    }

    /// Makes sure a bpf filesystem is mounted at /sys/fs/bpf (as `ip` and `bpftool` do when they need one).
    /// Returns a note when it had to mount it.
    static func ensureBPFFS() throws(AFXDPError) -> String? {
        let mounts = readSmallFile("/proc/self/mounts") ?? ""
        if mounts.split(separator: "\n").contains(where: {
            $0.split(separator: " ").dropFirst().prefix(2) == ["/sys/fs/bpf", "bpf"]
        }) {
            return nil
        }
        if mount("bpf", "/sys/fs/bpf", "bpf", 0, nil) != 0 {
            throw .system(
                SystemError(call: "mount", errno: Errno.current.rawValue, context: "bpffs at /sys/fs/bpf (needed by --persist)"))
        }
        return "mounted a bpf filesystem at /sys/fs/bpf (needed for pinning)"
    }

    static func pin(linkFD: Int32, maps: [(Int32, String)], dir: String) throws(AFXDPError) {
        if mkdir("/sys/fs/bpf/sluice", 0o700) != 0 && Errno.current != .exists {
            throw .system(SystemError(call: "mkdir", errno: Errno.current.rawValue, context: "/sys/fs/bpf/sluice"))
        }
        if mkdir(dir, 0o700) != 0 && Errno.current != .exists {
            throw .system(SystemError(call: "mkdir", errno: Errno.current.rawValue, context: dir))
        }
        // The link last: its presence marks a complete set of pins.
        for (fd, name) in maps + [(linkFD, "link")] {
            let rc = bpf_obj_pin(fd, dir + "/" + name)
            if rc < 0 {
                let code = rc == -1 ? Errno.current.rawValue : -rc
                removePins(dir: dir)
                throw .system(SystemError(call: "bpf_obj_pin", errno: code, context: dir + "/" + name))
            }
        }
    }

    static func removePins(dir: String) {
        for name in ["link"] + mapNames { unlink(dir + "/" + name) }
        rmdir(dir)
        rmdir("/sys/fs/bpf/sluice")  // only succeeds when no other interface has pins
    }

    /// Opens the pins of a persistent redirect on `interface`, if there are live ones. Stale pins (the link no
    /// longer points at this interface, e.g. it was deleted and re-created) are removed.
    static func openPinned(interface: InterfaceInfo, logger: Logger) throws(AFXDPError)
        -> (link: Int32, xsks: Int32, etherTypes: Int32, flows: Int32, counters: Int32)?
    {
        let dir = pinDirectory(interface: interface.name)
        guard access(dir + "/link", F_OK) == 0 else { return nil }
        let link = bpf_obj_get(dir + "/link")
        guard link >= 0 else {
            throw .system(SystemError(call: "bpf_obj_get", errno: Errno.current.rawValue, context: dir + "/link"))
        }
        var info = bpf_link_info()
        var length = UInt32(MemoryLayout<bpf_link_info>.size)
        let rc = bpf_obj_get_info_by_fd(link, &info, &length)
        if rc < 0 || info.xdp.ifindex != interface.ifindex {
            logger.info("removing stale Sluice pins at \(dir) (link no longer attached to \(interface.name))")
            Glibc.close(link)
            removePins(dir: dir)
            return nil
        }
        var fds: [Int32] = []
        for name in ["xsks_map", "pass_ethertypes", "pass_flows"] {
            let fd = bpf_obj_get(dir + "/" + name)
            if fd < 0 {
                let code = Errno.current.rawValue
                for opened in fds { Glibc.close(opened) }
                Glibc.close(link)
                throw .system(SystemError(call: "bpf_obj_get", errno: code, context: dir + "/" + name))
            }
            fds.append(fd)
        }
        return (link, fds[0], fds[1], fds[2], bpf_obj_get(dir + "/pass_counters"))
    }

    static func linkIDs(_ fd: Int32) -> (UInt32, UInt32) {
        var info = bpf_link_info()
        var length = UInt32(MemoryLayout<bpf_link_info>.size)
        guard bpf_obj_get_info_by_fd(fd, &info, &length) == 0 else { return (0, 0) }
        return (info.id, info.prog_id)
    }
}
