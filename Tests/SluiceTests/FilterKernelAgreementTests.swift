import Foundation
import Sluice
import Testing

/// The kernel's own classic-BPF path as a second reference: the classic program libpcap compiled is attached to an
/// AF_PACKET socket with SO_ATTACH_FILTER (the kernel validates it with bpf_check_classic and translates it with
/// bpf_convert_filter), the capture's frames are sent over a veth pair in a namespace the test makes, and the
/// frames that arrive through the filter must be the ones Sluice's translation matches.
@Suite(
    .serialized,
    .enabled(if: Repository.isRoot, "skipped: needs root (a network namespace, AF_PACKET sockets)"),
    .enabled(
        if: FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"),
        "skipped: scripts/kernel-socket-filter.py needs /usr/bin/python3"))
struct FilterKernelAgreementTests {
    static let expressions = [
        "udp", "tcp", "icmp", "ip6", "arp", "tcp[13] & 2 != 0", "greater 100", "less 64", "udp port 53",
        "portrange 1000-2000", "ip[6:2] & 0x1fff != 0", "ether proto 0x86dd", "icmp[icmptype] == icmp-echo",
        "not (tcp or udp)", "net 10.0.0.0/8 and not icmp", "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420",
    ]

    @Test(arguments: ["firewall", "icmp_echo"])
    func kernelSocketFilterPassesTheSameFrames(capture name: String) throws {
        let capture = Repository.path("pcaps/\(name).pcap")
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let namespace = "sluice-flt-\(getpid() % 100_000)-\(UInt32.random(in: 0..<1_000_000))"
        let (a, b) = ("sfa\(getpid() % 10_000)", "sfb\(getpid() % 10_000)")
        try #require(Shell.run(["ip", "netns", "add", namespace]).status == 0)
        defer { _ = try? Shell.run(["ip", "netns", "del", namespace]) }
        let setup = """
            ip -n \(namespace) link add \(a) type veth peer name \(b) &&
            ip netns exec \(namespace) sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 &&
            ip -n \(namespace) link set \(a) mtu 9000 up && ip -n \(namespace) link set \(b) mtu 9000 up
            """
        let made = try Shell.run(["/bin/sh", "-c", setup])
        try #require(made.status == 0, "namespace setup: \(made.stderr)")

        // The frames the helper sends: not runts, not VLAN-tagged (see the script).
        var reader = try PcapReader(path: capture)
        var sendable: Set<Int> = []
        while let record = try reader.next() {
            let bytes = Array(record.bytes)
            if bytes.count >= 14 && !(bytes[12] == 0x81 && bytes[13] == 0) && !(bytes[12] == 0x88 && bytes[13] == 0xa8)
            {
                sendable.insert(record.index)
            }
        }
        for expression in Self.expressions {
            var ours: [Int] = []
            var classic: ClassicProgram? = nil
            _ = try CaptureFilter.run(
                capturePath: capture,
                makeFilter: { snapshotLength in
                    let filter = try PacketFilter(expression: expression, snapshotLength: snapshotLength)
                    classic = filter.classic
                    return filter
                },
                onMatch: { if sendable.contains($0.index) { ours.append($0.index) } })
            let program = directory + "/program.txt"
            try (try #require(classic)).decimalListing.joined(separator: "\n").write(
                toFile: program, atomically: true, encoding: .utf8)
            let run = try Shell.run(
                [
                    "ip", "netns", "exec", namespace, "/usr/bin/python3",
                    Repository.path("scripts/kernel-socket-filter.py"),
                    program, capture, a, b,
                ], timeoutSeconds: 30)
            try #require(run.status == 0, "'\(expression)': \(run.stderr)")
            let lines = run.stdout.split(separator: "\n")
            #expect(lines.last == "sent \(sendable.count)", "every sendable frame was sent: \(run.stdout)")
            let kernel = lines.dropLast().compactMap { Int($0) }
            #expect(kernel == ours, "\(name) '\(expression)': kernel \(kernel), Sluice \(ours)")
        }
    }
}
