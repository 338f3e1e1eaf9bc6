import BPFVM
import Foundation
import Testing

@testable import Sluice

/// The control socket and its protocol in-process (no network, no root): replies, bad requests, versions, socket
/// mode, live and stale sockets, removal on close.
struct ControlSocketTests {
    private func service() throws -> ControlService {
        let (_, _, spec) = try ProgramSource.open(objectPath: try Repository.object("firewall"))
        let loaded = try ProgramLoader.load(spec, possibleCPUs: 1, engine: .interpreter)
        let live = LiveProgram(
            loaded: loaded, objectPath: try Repository.object("firewall"), budget: RunBudget.defaultInstructions,
            engineChoice: .interpreter)
        _ = live.processor(worker: 0)
        return ControlService(interface: "test0", program: live, stats: { LiveStats(queues: [], endReasons: []) })
    }

    /// Sends raw bytes on a fresh connection and returns the reply line.
    private func raw(_ path: String, _ text: String) throws -> String {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        #expect(try UnixSocket.connect(fd, path) == 0)
        #expect(UnixSocket.writeAll(fd, Array(text.utf8)))
        shutdown(fd, Int32(SHUT_WR))
        var reader = LineReader(fd: fd, limit: 1 << 20)
        guard case .line(let line) = reader.next() else { return "" }
        return String(decoding: line, as: UTF8.self)
    }

    @Test func servesRequestsAndRefusesBadOnes() throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/s.sock"
        let service = try service()
        let server = try ControlServer(path: path, createDirectory: false) { service.handle($0) }
        defer { server.close() }
        try server.start()

        var info = stat()
        #expect(lstat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)

        let list = try ControlClient.send(ControlRequest(command: "map.list"), to: path)
        #expect(list.ok)
        #expect(list.maps?.map(\.name) == ["blocked_ports", "verdicts", "parse_stats"])

        var update = ControlRequest(command: "map.update")
        update.map = "blocked_ports"
        update.key = "611e"
        update.value = "01"
        #expect(try ControlClient.send(update, to: path).ok)
        var dump = ControlRequest(command: "map.dump")
        dump.map = "blocked_ports"
        let dumped = try ControlClient.send(dump, to: path)
        #expect(
            dumped.dumps?.first?.entries == [
                ControlMapEntry(map: service.program.program.maps[0], key: [0x61, 0x1e], values: [[1]])
            ])
        #expect(dumped.dumps?.first?.entries.first?.key == ["0x61", "0x1e"])

        update.key = "61"
        let short = try ControlClient.send(update, to: path)
        #expect(!short.ok)
        #expect(short.error?.contains("the key is 2 byte(s)") == true, "\(short)")

        var old = ControlRequest(command: "stats")
        old.version = 2
        let refused = try ControlClient.send(old, to: path)
        #expect(!refused.ok)
        #expect(refused.error?.contains("version 2") == true)

        #expect(try raw(path, "this is not json\n").contains("\"ok\":false"))
        #expect(try raw(path, "{\"command\": 5}\n").contains("bad request"))
        #expect(try raw(path, "{\"version\":1,\"command\":\"nope\"}\n").contains("unknown command"))
        // Several requests on one connection, one reply line each.
        let two = try raw(path, "{\"version\":1,\"command\":\"map.list\"}\n{\"version\":1,\"command\":\"map.list\"}\n")
        #expect(two.contains("\"ok\":true"))

        let stats = try ControlClient.send(ControlRequest(command: "stats"), to: path)
        #expect(stats.stats?.program == "xdp_firewall")
        #expect(stats.stats?.generations.count == 1)
    }

    @Test func aLiveSocketIsRefusedAStaleOneReplacedAndCloseRemovesIt() throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/s.sock"
        let service = try service()
        let first = try ControlServer(path: path, createDirectory: false) { service.handle($0) }
        try first.start()
        #expect(throws: ControlSocketError.self) { try ControlServer.checkAvailable(path) }
        #expect(throws: ControlSocketError.self) {
            _ = try ControlServer(path: path, createDirectory: false) { service.handle($0) }
        }
        #expect(try ControlClient.send(ControlRequest(command: "map.list"), to: path).ok, "the first still serves")
        first.close()
        #expect(!FileManager.default.fileExists(atPath: path))

        // Stale: bound, nobody listening.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = try UnixSocket.address(path)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        close(fd)
        #expect(FileManager.default.fileExists(atPath: path))
        let second = try ControlServer(path: path, createDirectory: false) { service.handle($0) }
        #expect(second.replacedStale)
        try second.start()
        #expect(try ControlClient.send(ControlRequest(command: "map.list"), to: path).ok)
        second.close()

        #expect(throws: ControlSocketError.self) {
            try ControlClient.send(ControlRequest(command: "stats"), to: path)
        }
        let long = directory + "/" + String(repeating: "x", count: 120)
        #expect(throws: ControlSocketError.self) {
            _ = try ControlServer(path: long, createDirectory: false) { service.handle($0) }
        }
    }

    @Test func theDefaultDirectoryIsCreatedPrivate() throws {
        let parent = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let path = parent + "/run/sluice.sock"
        let service = try service()
        let server = try ControlServer(path: path, createDirectory: true) { service.handle($0) }
        defer { server.close() }
        var info = stat()
        #expect(lstat(parent + "/run", &info) == 0)
        #expect(info.st_mode & 0o777 == 0o700)
        // It goes with the last socket in it, and stays while another instance's socket is there.
        let other = try ControlServer(path: parent + "/run/other.sock", createDirectory: true) { service.handle($0) }
        server.close()
        #expect(FileManager.default.fileExists(atPath: parent + "/run"), "another instance's socket is still there")
        other.close()
        #expect(!FileManager.default.fileExists(atPath: parent + "/run"), "the empty socket directory was left behind")
    }

    @Test func anIdleClientDoesNotHoldUpShutdown() throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/s.sock"
        let service = try service()
        let server = try ControlServer(path: path, createDirectory: false) { service.handle($0) }
        try server.start()
        let idle = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(idle) }
        #expect(try UnixSocket.connect(idle, path) == 0)
        #expect(UnixSocket.writeAll(idle, Array("{\"version\":1,".utf8)))  // half a request, then silence
        usleep(200_000)
        let start = ContinuousClock.now
        server.close()
        #expect(ContinuousClock.now - start < .seconds(2), "close() waited for the idle client")
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func frozenReadOnlyDataCannotBeChangedButDataCan() throws {
        let path = try Repository.object("globals")
        let (_, _, spec) = try ProgramSource.open(objectPath: path)
        let live = LiveProgram(
            loaded: try ProgramLoader.load(spec, possibleCPUs: 1, engine: .interpreter), objectPath: path,
            budget: RunBudget.defaultInstructions, engineChoice: .interpreter)
        _ = live.processor(worker: 0)
        let service = ControlService(interface: "t", program: live, stats: { LiveStats(queues: [], endReasons: []) })
        let rodata = try #require(live.program.maps.first { $0.name.hasSuffix(".rodata") })
        let data = try #require(live.program.maps.first { $0.name.hasSuffix(".data") })
        var update = ControlRequest(command: "map.update")
        update.map = rodata.name
        update.key = "00000000"
        update.value = String(repeating: "00", count: rodata.spec.valueSize)
        let refused = service.handle(update)
        #expect(!refused.ok)
        #expect(refused.error?.contains("frozen") == true, "\(refused)")
        update.map = data.name
        update.value = String(repeating: "07", count: data.spec.valueSize)
        #expect(service.handle(update).ok)
        #expect(data.lookup(key: [0, 0, 0, 0]) == [UInt8](repeating: 7, count: data.spec.valueSize))
    }
}
