import ArgumentParser
import BPFVM
import Foundation
import Logging
import Sluice
import SluiceMetrics

/// `sluice run --iface IFACE PROG.o`: the program on the wire, through AF_XDP.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run an XDP program on a live interface through AF_XDP sockets.",
        discussion: """
            Sluice attaches its redirect program (sluice_redirect.o) through a bpf_link, so nothing \
            stays attached if Sluice dies; --persist pins it instead (remove with 'sluice detach IFACE'). Stops \
            after --duration, or on SIGINT/SIGTERM, and prints final statistics.
            """)

    @Option(help: "The interface to receive on.")
    var iface: String

    @OptionGroup var programOptions: ProgramOptions

    @OptionGroup var budget: BudgetOptions

    @Option(help: "RX queues to open sockets on, comma-separated (default: all).")
    var queues: String?

    @Option(help: "Attach mode: auto (native, falling back to skb), native, skb.")
    var mode: XDPAttachMode = .auto

    @Flag(help: "Copy mode (no zero-copy attempt).")
    var copy = false

    @Flag(help: "Require zero-copy (fail if the driver cannot).")
    var zeroCopy = false

    @Option(
        parsing: .unconditional, help: "Frames per batch, 1...1024.",
        transform: { try NumberArgument.count($0, in: 1...1024, what: "frames per batch") })
    var batch: Int = 64

    @Option(
        parsing: .unconditional, help: "Stop after this many seconds.",
        transform: { try NumberArgument.seconds($0, in: 0...31_536_000) })
    var duration: Double?

    @Option(
        help: ArgumentHelp(
            "Frames whose verdict is XDP_PASS go to the kernel stack through this TAP device ('auto': IFACE-tap, "
                + "created with the interface's MAC address). Without it, passed frames are dropped (and counted).",
            valueName: "name|auto"))
    var passToTap: String?

    @Option(
        help: ArgumentHelp(
            "Run the program only on frames matching this tcpdump expression (see 'sluice filter').",
            discussion: "The others are not run: they are handled as XDP_PASS (to the kernel stack through --pass-to-tap; without a TAP device counted and recycled, as XDP_PASS frames are) and counted (filtered out: N).",
            valueName: "expression"))
    var filter: String?

    @Option(help: "Also open sockets on this interface, so XDP_REDIRECT can forward to it.")
    var redirectIface: String?

    @Flag(help: "Pin the redirect program and its maps under /sys/fs/bpf so they stay across restarts.")
    var persist = false

    @Option(
        parsing: .unconditional, help: "Print statistics every this many seconds (0: only at the end).",
        transform: { try NumberArgument.seconds($0, in: 0...86_400, allowZero: true) })
    var statsInterval: Double = 0

    @Flag(help: "Statistics as JSON lines.")
    var json = false

    @OptionGroup var engineOptions: EngineOptions

    @Flag(
        inversion: .prefixedNo,
        help: ArgumentHelp(
            "Attach the redirect program as one of libxdp's dispatcher programs (multiprog), so that xdp-filter "
                + "and other xdp-loader programs can run on the same interface.",
            discussion: "Default: multiprog when a libxdp dispatcher is already on the interface, Sluice's own "
                + "bpf_link otherwise; --no-multiprog never joins a dispatcher. An interface held by a program that "
                + "is not libxdp's dispatcher is refused either way."))
    var multiprog: Bool?

    @Option(
        help: ArgumentHelp(
            "The kernel-side redirect program (default: sluice_redirect.o next to the sluice binary, in "
                + "../lib/sluice, in the source tree it was built in, or $\(RedirectProgramLocation.environmentVariable))."))
    var redirectProgram: String?

    @Option(
        help: ArgumentHelp(
            "The control socket for 'sluice ctl' (default: \(ControlServer.defaultDirectory)/IFACE.sock, directory "
                + "created mode 0700; the socket is mode 0600).", valueName: "path"))
    var control: String?

    @Option(
        help: ArgumentHelp(
            "Serve Prometheus metrics at http://HOST:PORT/metrics (port 0: any free port; docs/CONTROL.md lists "
                + "the names).", valueName: "host:port"))
    var metrics: String?

    func validate() throws {
        if let metrics {
            do { _ = try MetricsServer.parse(metrics) } catch { throw ValidationError(error.description) }
        }
        if copy && zeroCopy { throw ValidationError("--copy and --zero-copy exclude each other") }
        if batch < 1 || batch > 1024 { throw ValidationError("--batch must be between 1 and 1024") }
        if let duration, duration <= 0 { throw ValidationError("--duration must be positive") }
    }

    func run() throws {
        let (source, _, spec) = try programOptions.load()
        let session: ProgramSession
        do { session = try ProgramSession(source: source, spec: spec, engine: engineOptions.choice) } catch {
            throw CLIError(error.description)
        }
        if let note = session.engineNote { StandardError.write("note: the interpreter runs: \(note)\n") }

        var configuration = LiveConfiguration(interface: iface)
        if let queues {
            let list = queues.split(separator: ",").compactMap { UInt32($0.trimmingCharacters(in: .whitespaces)) }
            guard !list.isEmpty else { throw CLIError("--queues: expected a comma-separated list of queue numbers") }
            configuration.queues = list
        }
        configuration.mode = mode
        configuration.batchSize = batch
        configuration.socket.zeroCopy = copy ? .off : (zeroCopy ? .required : .auto)
        configuration.persist = persist
        configuration.multiprog = multiprog.map { $0 ? .always : .never } ?? .auto
        configuration.passToTap = passToTap.map { $0 == "auto" ? TapDevice.automaticName(for: iface) : $0 }
        configuration.redirectInterface = redirectIface
        configuration.redirectProgramPath = try redirectProgram ?? Self.locateRedirectProgram(interface: iface)

        var logger = Logger(label: "sluice")
        logger.logLevel = .notice
        // One runner (machine) per worker; the program and its maps are shared, as in the kernel. The live program
        // owns the runners and can replace them while the engine runs (control plane: `sluice ctl IFACE reload`).
        let packetFilter: PacketFilter?
        do {
            packetFilter = try filter.map {
                try PacketFilter(expression: $0, engine: session.engine == .native ? .auto : .interpreter)
            }
        } catch { throw CLIError("\(error)") }
        let live = LiveProgram(
            loaded: session.loaded, objectPath: Self.absolutePath(programOptions.object), budget: budget.instructions,
            engineChoice: engineOptions.choice, filter: packetFilter)
        let controlPath = control ?? ControlServer.defaultPath(interface: iface)
        // Before attaching anything: a live instance on the same socket is an error, not something to disturb.
        do { try ControlServer.checkAvailable(controlPath) } catch { throw CLIError("control socket: \(error)") }
        let engine: LiveEngine<ReloadableProcessor>
        do {
            engine = try LiveEngine(configuration: configuration, logger: logger) { live.processor(worker: $0) }
        } catch { throw CLIError("\(error)") }
        defer { engine.close() }
        live.workerFinished = { [unowned engine] in engine.workerFinished($0) }
        // Control plane (separate from the packet path): served from its own thread until the workers stop.
        let service = ControlService(interface: iface, program: live, stats: { [unowned engine] in engine.stats() })
        service.replaceRedirect = { [unowned engine] path in
            var ids: [UInt32] = []
            for attachment in engine.attachments { ids.append(try attachment.replaceProgram(objectPath: path, logger: logger)) }
            return (ids, engine.attachments.contains { $0.multiprog } ? "libxdp's dispatcher" : "bpf_link_update")
        }
        let server: ControlServer
        do {
            server = try ControlServer(path: controlPath, createDirectory: control == nil) { service.handle($0) }
        } catch { throw CLIError("control socket: \(error)") }
        defer { server.close() }
        var metricsServer: MetricsServer?
        if let metrics {
            let (host, port) = try MetricsServer.parse(metrics)
            do {
                metricsServer = try MetricsServer(
                    host: host, port: port, exporter: PrometheusExporter { service.currentStats() })
            } catch { throw CLIError(error.description) }
        }
        defer { metricsServer?.close() }
        if let metricsServer {
            StandardError.write("note: metrics at http://\(metricsServer.boundAddress)/metrics\n")
        }
        if server.replacedStale { StandardError.write("note: replaced a stale control socket at \(controlPath)\n") }
        for note in engine.notes { StandardError.write("note: \(note)\n") }
        if let tap = configuration.passToTap {
            StandardError.write("note: XDP_PASS frames go to the kernel stack through TAP device \(tap)\n")
        } else {
            StandardError.write(
                "warning: no --pass-to-tap: frames the program passes (XDP_PASS) are dropped and counted; "
                    + "--pass-to-tap auto hands them to the kernel stack\n")
        }
        engine.stopSignal.stopOnSignals()
        try withExtendedLifetime(live) {
            do { try engine.start() } catch { throw CLIError("\(error)") }
            do { try server.start() } catch { throw CLIError("control socket: \(error)") }
            if let tap = configuration.passToTap, let warning = TapDevice.reversePathFilterWarning(tap) {
                StandardError.write("warning: \(warning)\n")
            }
            StandardError.write(
                "running \(spec.name) on \(iface) (\(engine.sockets.count) queue(s), engine \(session.engine.rawValue)); "
                    + "control socket \(controlPath); Ctrl-C stops\n")
            var previousStats: LiveStats?
            do {
                _ = try engine.run(
                    duration: duration.map { .milliseconds(Int($0 * 1000)) },
                    reportInterval: statsInterval > 0 ? .milliseconds(Int(statsInterval * 1000)) : nil,
                    report: { snapshot in
                        LiveStatsReport.print(snapshot, json: json, final: false)
                        if !json, let previousStats {
                            Swift.print(LiveStatsReport.rateLines(from: previousStats, to: snapshot).joined(separator: "\n"))
                        }
                        previousStats = snapshot
                    },
                    // The control thread and the metrics server go first: they read the engine until they stop.
                    willStop: {
                        server.close()
                        metricsServer?.close()
                    })
            } catch { throw CLIError("\(error)") }
            let stats = engine.stats()
            engine.close()
            LiveStatsReport.print(stats, json: json, final: true)
            if !json { LiveStatsReport.printGenerations(live) }
            if let signal = engine.stopSignal.receivedSignal { StandardError.write("stopped by signal \(signal)\n") }
            for reason in stats.endReasons { StandardError.write("worker ended: \(reason)\n") }
        }
    }
}

extension RunCommand {
    static func absolutePath(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    /// The redirect object to attach. A persistent (pinned) attachment on the interface needs none: the engine takes
    /// it over, so a missing object is an error only without one.
    static func locateRedirectProgram(interface: String) throws -> String {
        let candidates = RedirectProgramLocation.candidates()
        if let found = RedirectProgramLocation.locate(in: candidates) { return found }
        if access(RedirectAttachment.pinDirectory(interface: interface), F_OK) == 0 { return candidates.last ?? "" }
        throw CLIError(
            "the redirect program \(RedirectProgramLocation.fileName) was not found (looked in: "
                + candidates.joined(separator: ", ")
                + "); build it with programs/build.sh, install it with scripts/install.sh, or pass --redirect-program")
    }
}

/// `sluice detach IFACE`: removes a persistent (pinned) redirect program.
struct DetachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detach", abstract: "Remove the redirect program that 'sluice run --persist' left on an interface.")

    @Argument(help: "The interface.")
    var iface: String

    func run() throws {
        do { try RedirectAttachment.detach(interface: iface) } catch { throw CLIError("\(error)") }
        print("detached \(iface)")
    }
}

enum LiveStatsReport {
    /// The programs that ran, with the frames each processed (only when a reload happened).
    static func printGenerations(_ live: LiveProgram) {
        guard live.reloads > 0 else { return }
        var lines = ["  programs (\(live.reloads) reload(s)):"]
        for g in live.generations() {
            lines.append("    generation \(g.generation): \(g.program) (\(g.engine.rawValue)) processed \(g.processed)")
        }
        Swift.print(lines.joined(separator: "\n"))
        fflush(nil)
    }

    static func print(_ stats: LiveStats, json: Bool, final: Bool) {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            if let data = try? encoder.encode(stats) { Swift.print(String(decoding: data, as: UTF8.self)) }
            return
        }
        var lines: [String] = [final ? "final statistics:" : "statistics:"]
        for queue in stats.queues {
            let c = queue.counters
            var line = "  \(queue.interface) queue \(queue.queue) (\(queue.bindMode.rawValue)): rx \(c.rx.packets) pkts \(c.rx.bytes) B"
            for action in XDPAction.allCases { line += ", \(action) \(c[action].packets)" }
            lines.append(line)
            if let s = queue.socket {
                lines.append(
                    "    socket: rx_dropped \(s.rxDropped), rx_invalid_descs \(s.rxInvalidDescriptors), rx_ring_full \(s.rxRingFull), fill_ring_empty \(s.rxFillRingEmpty), tx_invalid_descs \(s.txInvalidDescriptors), tx_ring_empty \(s.txRingEmpty)")
            }
        }
        let t = stats.total
        lines.append(
            "  total: rx \(t.rx.packets), tx \(t.tx.packets) (completed \(t.txCompleted)), drop \(t.drop.packets), pass \(t.pass.packets) (to TAP \(t.passReinjected)), redirect \(t.redirect.packets), aborted \(t.aborted.packets)"
                + (t.budgetExceeded > 0 ? " (\(t.budgetExceeded) over the instruction budget)" : ""))
        if t.filtered > 0 {
            lines.append("  filtered out: \(t.filtered) (did not match --filter: not run, handled as XDP_PASS, in pass)")
        }
        let passDropped = t.pass.packets &- min(t.passReinjected, t.pass.packets)
        if passDropped > 0 {
            lines.append(
                "  warning: \(passDropped) XDP_PASS frame(s) dropped: no TAP device took them (--pass-to-tap auto)")
        }
        Swift.print(lines.joined(separator: "\n"))
        fflush(nil)
    }
}

extension XDPAttachMode: ExpressibleByArgument {}
