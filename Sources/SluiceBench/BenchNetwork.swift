import Sluice
#if canImport(Glibc)
    import Glibc
#endif

/// The live benchmark's own network namespace and veth pair: `NAME` (namespace), `NAME-h` (root namespace end, where
/// the receiver under test listens) and `NAME-n` (inside the namespace, where the generator sends from). Made with
/// `ip(8)`; `destroy()` removes the namespace (and with it both ends) and is safe to call more than once.
public final class BenchNetwork {
    public let namespace: String
    public let hostInterface: String
    public let namespaceInterface: String
    private var destroyed = false

    public struct Error: Swift.Error, CustomStringConvertible {
        public var description: String
    }

    /// A unique name for this process: `slb<pid><n>` (at most 13 characters, so the interface names fit in 15).
    nonisolated(unsafe) private static var counter = 0
    public static func uniqueName() -> String {
        counter += 1
        return String("slb\(getpid() % 10_000_000)x\(counter)".prefix(13))
    }

    public init(name: String = BenchNetwork.uniqueName()) throws(Error) {
        namespace = name
        hostInterface = name + "-h"
        namespaceInterface = name + "-n"
        do {
            try Self.ip(["netns", "add", name])
            try Self.ip([
                "link", "add", hostInterface, "type", "veth", "peer", "name", namespaceInterface, "netns", name,
            ])
            // No IPv6 on the host end: no router or neighbour solicitations among the measured frames.
            Self.write("/proc/sys/net/ipv6/conf/\(hostInterface)/disable_ipv6", "1")
            try Self.ip(["link", "set", hostInterface, "up"])
            try Self.ip(["-n", name, "link", "set", namespaceInterface, "up"])
        } catch {
            destroy()
            throw error
        }
    }

    /// Path of the namespace for `setns`.
    public var namespacePath: String { "/var/run/netns/\(namespace)" }

    /// True while either end or the namespace still exists.
    public static func exists(namespace: String) -> Bool {
        access("/var/run/netns/\(namespace)", F_OK) == 0 || if_nametoindex(namespace + "-h") != 0
    }

    public func destroy() {
        guard !destroyed else { return }
        destroyed = true
        _ = try? Self.ip(["netns", "delete", namespace], quiet: true)
        // Deleting the namespace deletes the pair, asynchronously; remove the host end ourselves if it lingers.
        for _ in 0..<50 where if_nametoindex(hostInterface) != 0 { usleep(10_000) }
        if if_nametoindex(hostInterface) != 0 { _ = try? Self.ip(["link", "delete", hostInterface], quiet: true) }
    }

    deinit { destroy() }

    /// Runs `ip ARGS`, waits; throws with its exit status when it fails.
    static func ip(_ arguments: [String], quiet: Bool = false) throws(Error) {
        let argv = ["ip"] + arguments
        var pid: pid_t = 0
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if quiet { posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0) }
        let rc = posix_spawnp(&pid, "ip", &actions, nil, &cArgs, environ)
        guard rc == 0 else {
            throw Error(description: "cannot run ip(8): \(Errno(rawValue: rc).description) (install iproute2)")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && Errno.current == .interrupted {}
        let exited = status & 0x7f == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            throw Error(description: "'\(argv.joined(separator: " "))' failed (exit status \(exited ? code : -1))")
        }
    }

    static func write(_ path: String, _ text: String) {
        let fd = open(path, O_WRONLY)
        guard fd >= 0 else { return }
        _ = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        close(fd)
    }
}
