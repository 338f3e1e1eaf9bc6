import ArgumentParser
import Foundation
import Sluice

/// `sluice ctl IFACE COMMAND`: talks to a running `sluice run` over its control socket (docs/CONTROL.md).
struct CtlCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctl",
        abstract: "Control a running 'sluice run': statistics, maps, live program reload.",
        discussion: """
            sluice ctl IFACE COMMAND, or sluice ctl --control PATH COMMAND. Commands:
              stats [--json] [--interval SECONDS]   (with --interval: rates over that interval)
              map list [--json]
              map dump [NAME] [--json]
              map lookup NAME KEY [--json]
              map update NAME KEY VALUE [--noexist | --exist]
              map delete NAME KEY
              reload OBJECT.o [--section S] [--program P] [--maps FILE] [--set NAME=VALUE]... \
            [--keep-maps | --fresh-maps] [--json]
              redirect-reload REDIRECT.o   (replace the kernel-side redirect program: bpf_link_update, or libxdp's dispatcher in multiprog mode)
              trace [--follow]   (bpf_trace_printk lines as the kernel's trace_pipe shows them; --follow keeps \
            printing new ones until Ctrl-C or the run ends)
            KEY and VALUE are bytes as bpftool takes them: 'hex 01 02', '0x0102' or decimal '1 2' (when both \
            are several words, write 'key ... value ...'). Sizes are checked against the map. A reload keeps maps \
            whose name, type, key and value size, max entries and flags match (--keep-maps, the default); the \
            reply lists kept and new maps. A program the verifier refuses is not loaded; the old one keeps running.
            """)

    @Option(
        help: ArgumentHelp(
            "The control socket (default: \(ControlServer.defaultDirectory)/IFACE.sock).", valueName: "path"))
    var control: String?

    @Argument(parsing: .captureForPassthrough, help: "IFACE (unless --control) and the command with its arguments.")
    var words: [String] = []

    func run() throws {
        var words = words
        if words.contains("--help") || words.contains("-h") {
            print(Self.helpMessage())
            return
        }
        var controlPath = control
        if let i = words.firstIndex(of: "--control") {
            guard i + 1 < words.count else { throw CLIError("--control needs a path") }
            controlPath = words[i + 1]
            words.removeSubrange(i...i + 1)
        }
        if controlPath == nil {
            guard let iface = words.first, !iface.hasPrefix("-") else {
                throw CLIError("name the interface (sluice ctl IFACE COMMAND) or the socket (--control PATH)")
            }
            controlPath = ControlServer.defaultPath(interface: iface)
            words.removeFirst()
        }
        var json = false
        if let i = words.firstIndex(of: "--json") {
            json = true
            words.remove(at: i)
        }
        guard let command = words.first else {
            throw CLIError("no command given (stats, map, reload; see sluice ctl --help)")
        }
        let arguments = Array(words.dropFirst())
        let path = controlPath!
        switch command {
        case "stats":
            var rest = arguments
            var interval: Double?
            if let i = rest.firstIndex(of: "--interval") {
                guard i + 1 < rest.count, let seconds = Double(rest[i + 1]), seconds > 0, seconds <= 3600 else {
                    throw CLIError("stats --interval: expected seconds, 0 < S <= 3600")
                }
                interval = seconds
                rest.removeSubrange(i...i + 1)
            }
            try noMore(rest, "stats")
            var previous: ControlStats?
            if let interval {
                previous = try send(ControlRequest(command: "stats"), path).stats
                usleep(UInt32(interval * 1_000_000))
            }
            let reply = try send(ControlRequest(command: "stats"), path)
            guard let stats = reply.stats else { throw CLIError("the server sent no statistics") }
            if json {
                try printJSON(stats)
            } else {
                CtlReport.printStats(stats)
                if let previous {
                    print(LiveStatsReport.rateLines(from: previous.live, to: stats.live).joined(separator: "\n"))
                }
            }
        case "map":
            try runMap(arguments, path: path, json: json)
        case "reload":
            try runReload(arguments, path: path, json: json)
        case "trace":
            try runTrace(arguments, path: path, json: json)
        case "redirect-reload":
            guard arguments.count == 1 else { throw CLIError("redirect-reload: expected the redirect object (REDIRECT.o)") }
            var request = ControlRequest(command: "redirect.reload")
            request.object = RunCommand.absolutePath(arguments[0])
            let reply = try send(request, path)
            let ids = reply.redirectProgramIDs ?? []
            if json {
                try printJSON(ids)
            } else {
                let through = reply.redirectReplacedThrough ?? "bpf_link_update"
                print("redirect program replaced (\(through)): program id \(ids.map(String.init).joined(separator: ", "))")
            }
        default:
            throw CLIError("unknown command '\(command)' (stats, map, reload, redirect-reload, trace; see sluice ctl --help)")
        }
    }

    /// `trace [--follow]`: what the running program printed (the kept lines), then, with `--follow`, new lines as
    /// they come (polled every 200 ms) until Ctrl-C or until the run ends (the socket goes away).
    private func runTrace(_ arguments: [String], path: String, json: Bool) throws {
        var rest = arguments
        let follow = rest.contains("--follow") || rest.contains("-f")
        rest.removeAll { $0 == "--follow" || $0 == "-f" }
        try noMore(rest, "trace")
        var since: UInt64 = 0
        var first = true
        let stop = StopSignal()
        if follow { stop.stopOnSignals() }
        repeat {
            var request = ControlRequest(command: "trace")
            request.since = since
            let reply: ControlReply
            do { reply = try send(request, path) } catch {
                if first { throw error }
                return  // the run ended: nothing more will come
            }
            first = false
            guard let trace = reply.trace else { throw CLIError("the server sent no trace") }
            if json {
                try printJSON(trace)
            } else {
                for line in trace.lines { print(line) }
                if trace.dropped > 0 && since > 0 {
                    StandardError.write("note: \(trace.dropped) line(s) were lost (printed faster than read)\n")
                }
            }
            fflush(nil)
            since = trace.next
            if follow { usleep(200_000) }
        } while follow && !stop.isRequested
    }

    private func runMap(_ arguments: [String], path: String, json: Bool) throws {
        guard let sub = arguments.first else {
            throw CLIError("map: expected list, dump, lookup, update or delete")
        }
        var rest = Array(arguments.dropFirst())
        switch sub {
        case "list":
            try noMore(rest, "map list")
            let reply = try send(ControlRequest(command: "map.list"), path)
            let maps = reply.maps ?? []
            if json { try printJSON(maps) } else { CtlReport.printMapList(maps) }
        case "dump":
            var request = ControlRequest(command: "map.dump")
            if let name = rest.first {
                request.map = name
                try noMore(Array(rest.dropFirst()), "map dump NAME")
            }
            let dumps = try send(request, path).dumps ?? []
            if json {
                if request.map != nil { try printJSON(dumps.first?.entries ?? []) } else { try printJSON(dumps) }
            } else {
                CtlReport.printDumps(dumps, headers: request.map == nil)
            }
        case "lookup", "delete":
            guard let name = rest.first else { throw CLIError("map \(sub): expected NAME KEY") }
            rest.removeFirst()
            if rest.first == "key" { rest.removeFirst() }
            let key = try bytes(rest, what: "key")
            var request = ControlRequest(command: "map.\(sub)")
            request.map = name
            request.key = MapBytes.compact(key)
            let reply = try send(request, path)
            if sub == "lookup", let entry = reply.entry {
                if json { try printJSON(entry) } else { CtlReport.printEntry(entry) }
            }
        case "update":
            guard let name = rest.first else { throw CLIError("map update: expected NAME KEY VALUE") }
            rest.removeFirst()
            var flags = "any"
            if let i = rest.firstIndex(of: "--noexist") {
                flags = "noexist"
                rest.remove(at: i)
            }
            if let i = rest.firstIndex(of: "--exist") {
                flags = "exist"
                rest.remove(at: i)
            }
            let (keyWords, valueWords) = try Self.splitKeyValue(rest)
            var request = ControlRequest(command: "map.update")
            request.map = name
            request.key = MapBytes.compact(try bytes(keyWords, what: "key"))
            request.value = MapBytes.compact(try bytes(valueWords, what: "value"))
            request.flags = flags
            _ = try send(request, path)
        default:
            throw CLIError("map \(sub): expected list, dump, lookup, update or delete")
        }
    }

    /// `key K… value V…`, or two groups each starting with `hex` or being one word.
    static func splitKeyValue(_ words: [String]) throws -> (key: [String], value: [String]) {
        var words = words
        if words.first == "key" { words.removeFirst() }
        if let i = words.firstIndex(of: "value") {
            return (Array(words[..<i]), Array(words[(i + 1)...]))
        }
        // Groups: each `hex` starts one; any other word outside a hex group is a group of its own.
        var groups: [[String]] = []
        for word in words {
            if word == "hex" || groups.isEmpty || groups.last?.first != "hex" {
                groups.append([word])
            } else {
                groups[groups.count - 1].append(word)
            }
        }
        guard groups.count == 2 else {
            throw CLIError(
                "map update: expected KEY VALUE (e.g. 'hex 01 00 hex 01', '0x0100 0x01', or 'key 1 0 value 1'), got "
                    + "\(groups.count) group(s) of bytes")
        }
        return (groups[0], groups[1])
    }

    private func runReload(_ arguments: [String], path: String, json: Bool) throws {
        var request = ControlRequest(command: "reload")
        var globals: [String] = []
        var keep: Bool?
        var i = 0
        func value(_ option: String) throws -> String {
            guard i + 1 < arguments.count else { throw CLIError("reload: \(option) needs a value") }
            i += 1
            return arguments[i]
        }
        while i < arguments.count {
            let word = arguments[i]
            switch word {
            case "--section": request.section = try value(word)
            case "--program": request.program = try value(word)
            case "--maps":
                let file = try value(word)
                do { request.mapsJSON = try String(contentsOfFile: file, encoding: .utf8) } catch {
                    throw CLIError("reload --maps \(file): cannot read it (\(error.localizedDescription))")
                }
            case "--set": globals.append(try value(word))
            case "--keep-maps", "--fresh-maps":
                let wanted = word == "--keep-maps"
                if let keep, keep != wanted {
                    throw CLIError("reload: --keep-maps and --fresh-maps exclude each other")
                }
                keep = wanted
            default:
                guard !word.hasPrefix("-") else { throw CLIError("reload: unknown option \(word)") }
                guard request.object == nil else { throw CLIError("reload: one object only (got \(word) too)") }
                request.object = RunCommand.absolutePath(word)
            }
            i += 1
        }
        guard let object = request.object else { throw CLIError("reload: expected the object file (NEW.o)") }
        guard FileManager.default.isReadableFile(atPath: object) else {
            throw CLIError("reload: cannot read \(object)")
        }
        request.globals = globals.isEmpty ? nil : globals
        request.keepMaps = keep ?? true
        let reply = try send(request, path)
        guard let report = reply.reload else { throw CLIError("the server sent no reload report") }
        if json { try printJSON(report) } else { CtlReport.printReload(report) }
    }

    private func bytes(_ words: [String], what: String) throws -> [UInt8] {
        do { return try MapBytes.parse(words, what: what) } catch { throw CLIError(error.description) }
    }

    private func noMore(_ words: [String], _ command: String) throws {
        guard words.isEmpty else { throw CLIError("\(command): unexpected \(words.joined(separator: " "))") }
    }

    private func send(_ request: ControlRequest, _ path: String) throws -> ControlReply {
        let reply: ControlReply
        do { reply = try ControlClient.send(request, to: path) } catch { throw CLIError(error.description) }
        guard reply.ok else { throw CLIError(reply.error ?? "the server refused the request") }
        return reply
    }

    private func printJSON<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}

/// Human output of `sluice ctl`, in the shapes of `sluice run`'s statistics and bpftool's map dumps.
enum CtlReport {
    static func printStats(_ stats: ControlStats) {
        print(
            "\(stats.interface): program \(stats.program) (\(stats.engine.rawValue)), generation \(stats.generation), "
                + "\(stats.reloads) reload(s), up \(String(format: "%.1f", stats.uptimeSeconds)) s")
        LiveStatsReport.print(stats.live, json: false, final: false)
        for g in stats.generations {
            print(
                "  generation \(g.generation)\(g.active ? " (running)" : ""): \(g.program) (\(g.engine.rawValue)) "
                    + "processed \(g.processed)")
        }
        if let h = stats.runTime, h.samples > 0 {
            // Percentiles as bucket bounds (power-of-two buckets): "at most" this long.
            func percentile(_ p: Double) -> String {
                let target = UInt64((Double(h.samples) * p).rounded(.up))
                var seen: UInt64 = 0
                for (i, count) in h.counts.enumerated() {
                    seen &+= count
                    if seen >= target { return i < h.boundsNanos.count ? "≤ \(h.boundsNanos[i]) ns" : "> 16 ms" }
                }
                return "-"
            }
            print(
                "  program run time (1 frame in \(h.sampleEvery) timed, \(h.samples) samples): mean "
                    + "\(h.sumNanos / max(h.samples, 1)) ns, p50 \(percentile(0.5)), p99 \(percentile(0.99))")
        }
    }

    static func printMapList(_ maps: [ControlMapInfo]) {
        for m in maps {
            print(
                "\(m.name): \(m.type)  key \(m.keySize)B  value \(m.valueSize)B  max_entries \(m.maxEntries)  "
                    + "flags 0x\(String(m.flags, radix: 16))  entries \(m.entries)")
        }
    }

    static func printDumps(_ dumps: [ControlMapDump], headers: Bool) {
        for dump in dumps {
            if headers { print("map \(dump.map.name) (\(dump.map.type)):") }
            for entry in dump.entries { printEntry(entry) }
            print("Found \(dump.entries.count) element\(dump.entries.count == 1 ? "" : "s")")
        }
    }

    /// bpftool's plain form: `key: 00 00 00 00  value: 01 00 …`; per-CPU maps one `value (CPU NN)` line each.
    static func printEntry(_ entry: ControlMapEntry) {
        let key = MapBytes.format(entry.keyBytes)
        if let values = entry.values {
            print("key:\n\(key)")
            for v in values {
                let cpu = v.cpu < 10 ? "0\(v.cpu)" : "\(v.cpu)"
                print(
                    "value (CPU \(cpu)): \(MapBytes.format(v.value.compactMap { UInt8($0.dropFirst(2), radix: 16) }))")
            }
        } else {
            print("key: \(key)  value: \(MapBytes.format(entry.valueBytes.first ?? []))")
        }
        // With BTF, the decoded entry (struct fields by name), as bpftool shows BTF-typed maps.
        if let formatted = entry.formatted {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            if let data = try? encoder.encode(formatted) { print("formatted: \(String(decoding: data, as: UTF8.self))") }
        }
    }

    static func printReload(_ r: LiveProgram.ReloadReport) {
        print(
            "reloaded: generation \(r.generation), program \(r.program) (\(r.engine.rawValue)); the previous program "
                + "processed \(r.previousProcessed) frame(s)")
        print("  kept maps: \(r.keptMaps.isEmpty ? "none" : r.keptMaps.joined(separator: ", "))")
        print("  new maps: \(r.newMaps.isEmpty ? "none" : r.newMaps.joined(separator: ", "))")
        print(String(format: "  load+verify+compile %.1f ms, switch %.2f ms", r.loadMilliseconds, r.switchMilliseconds))
        if let note = r.engineNote { print("  note: the interpreter runs: \(note)") }
    }
}
