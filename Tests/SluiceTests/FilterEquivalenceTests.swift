import Foundation
import Sluice
import Testing

private let tcpdumpPath = ["/usr/bin/tcpdump", "/usr/sbin/tcpdump"].first(where: FileManager.default.isExecutableFile)

/// `sluice filter` against tcpdump: for every expression and capture, the translated eBPF filter must match exactly
/// the records tcpdump's libpcap matches (same count, same records, in order), and return what libpcap's own
/// classic interpreter returns for every record.
@Suite struct FilterEquivalenceTests {
    /// Expressions that match nothing in any of the captures (checked, so that the test notices if one starts to).
    static let matchNothing: Set<String> = [
        "tcp port 65000", "host 203.0.113.99", "ip6 host ::1", "vlan 4000", "ip proto 89", "greater 20000",
        "net 192.168.0.0/16", "dst net 172.16.0.0/12", "udp src port 53", "tcp[13] & 0x12 == 0x12",
    ]

    static let expressions: [String] = [
        // protocols
        "tcp", "udp", "icmp", "icmp6", "arp", "ip", "ip6", "ip proto 47", "ip proto 89", "ip6 and tcp", "ip6 and udp",
        // VLAN
        "vlan", "vlan and udp", "vlan 100", "vlan and ip6", "vlan 4000", "vlan and vlan",
        // ports
        "tcp port 80", "udp port 53", "port 443", "tcp dst port 22", "udp src port 53", "udp src port 40000",
        "portrange 1000-2000",
        "tcp portrange 1-1024", "tcp port 65000", "tcp[0:2] > 1024",
        // byte offsets and flags
        "tcp[13] & 2 != 0", "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", "tcp[13] & 0x12 == 0x12",
        "tcp[13] & 0x10 != 0",
        "ip[8] < 64", "ip[2:2] > 100", "ip[6:2] & 0x1fff != 0", "ip[0] & 0xf > 5", "udp[8:4] == 0",
        "ip[16] == 10 or ip[12] == 10", "icmp[icmptype] == icmp-echo", "icmp[icmptype] == icmp-echoreply",
        "icmp[icmptype] != icmp-echo and icmp", "ip6[6] == 58", "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420",
        // lengths
        "greater 100", "less 64", "greater 1000", "less 1500 and greater 60", "len > 200 and udp", "greater 20000",
        "len - 14 > 40 and len * 2 < 400", "len / 3 > 20 and len % 7 != 0",
        // link layer
        "ether proto 0x0800", "ether proto 0x86dd", "ether proto 0x0806", "ether broadcast", "ether multicast",
        "ether host ff:ff:ff:ff:ff:ff", "ether[12:2] == 0x8100", "ether src 02:00:00:00:00:01",
        // addresses
        "net 10.0.0.0/8", "net 192.168.0.0/16", "host 10.0.0.1", "src host 10.0.0.1", "dst net 172.16.0.0/12",
        "dst net 10.0.0.0/24",
        "host 203.0.113.99", "ip6 net fd00::/8", "ip6 host ::1", "ip multicast", "ip broadcast",
        // logic
        "not tcp", "not ip and not ip6", "tcp or udp", "(tcp and port 80) or (udp and port 53)", "ip and not udp",
        "udp and ip[9] == 17", "not (tcp or udp or icmp)",
    ]

    static let captures = ["counters", "firewall", "rss_toeplitz", "vlan", "icmp_echo"]

    /// The records of a capture: timestamp and bytes.
    static func records(_ path: String) throws -> [(timestamp: UInt64, bytes: [UInt8], wire: Int)] {
        var reader = try PcapReader(path: path)
        var result: [(UInt64, [UInt8], Int)] = []
        while let record = try reader.next() {
            result.append((record.timestampNanos, Array(record.bytes), record.originalLength))
        }
        return result
    }

    /// The same records (timestamp and bytes), in the same order. `tcpdump -w` writes microsecond timestamps.
    static func same(_ a: [(UInt64, [UInt8])], _ b: [(UInt64, [UInt8])]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { x, y in x.0 / 1000 == y.0 / 1000 && x.1 == y.1 }
    }

    /// tcpdump's matches, read back from `tcpdump -w`.
    static func tcpdumpMatches(_ capture: String, _ expression: String, tcpdump: String) throws -> [(UInt64, [UInt8])] {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let output = directory + "/matches.pcap"
        let run = try Shell.run([tcpdump, "-r", capture, "-n", "-w", output, expression])
        try #require(run.status == 0, "tcpdump failed for '\(expression)': \(run.stderr)")
        return try records(output).map { ($0.timestamp, $0.bytes) }
    }

    @Test(
        .enabled(if: tcpdumpPath != nil, "skipped: tcpdump is not installed (scripts/setup.sh installs it)"),
        arguments: captures)
    func matchesEqualTcpdumps(capture name: String) throws {
        let tcpdump = try #require(tcpdumpPath)
        let capture = Repository.path("pcaps/\(name).pcap")
        let all = try Self.records(capture)
        var matchedSomething = 0
        for expression in Self.expressions {
            var indexes: [Int] = []
            let summary = try CaptureFilter.run(
                capturePath: capture,
                makeFilter: { try PacketFilter(expression: expression, snapshotLength: $0) },
                onMatch: { indexes.append($0.index) })
            let ours = indexes.map { (all[$0].timestamp, all[$0].bytes) }
            let theirs = try Self.tcpdumpMatches(capture, expression, tcpdump: tcpdump)
            #expect(summary.packets == all.count)
            #expect(
                summary.matched == theirs.count,
                "\(name): '\(expression)': \(summary.matched) vs tcpdump's \(theirs.count)")
            let same = Self.same(ours, theirs)
            #expect(same, "\(name): '\(expression)': matches \(indexes) differ from tcpdump's")
            if Self.matchNothing.contains(expression) {
                #expect(theirs.isEmpty, "'\(expression)' was meant to match nothing in \(name)")
            } else if !theirs.isEmpty {
                matchedSomething += 1
            }
        }
        // The captures are varied enough that most expressions select something (not all the same verdict).
        #expect(matchedSomething >= Self.expressions.count / 2, "\(name): only \(matchedSomething) expressions matched")
    }

    /// Every non-empty expression matches somewhere, and never everything, so the comparison above tells apart.
    @Test func expressionsAreDiscriminating() throws {
        #expect(Self.expressions.count >= 45)
        #expect(Set(Self.expressions).count == Self.expressions.count, "duplicate expressions")
        var matchedAnywhere: Set<String> = []
        for name in Self.captures {
            let capture = Repository.path("pcaps/\(name).pcap")
            for expression in Self.expressions {
                let summary = try CaptureFilter.run(
                    capturePath: capture, makeFilter: { try PacketFilter(expression: expression, snapshotLength: $0) })
                if summary.matched > 0 { matchedAnywhere.insert(expression) }
                if !["not tcp", "not ip and not ip6", "not (tcp or udp or icmp)"].contains(expression) {
                    #expect(summary.matched < summary.packets, "'\(expression)' matches all of \(name)")
                }
            }
        }
        #expect(matchedAnywhere == Set(Self.expressions).subtracting(Self.matchNothing))
    }

    /// The translated program returns exactly what libpcap's classic interpreter returns (the snapshot length on a
    /// match), on every record of every capture, on each engine.
    @Test(arguments: [EngineChoice.interpreter, .auto])
    func returnValuesEqualLibpcapsInterpreter(engine: EngineChoice) throws {
        for name in Self.captures {
            let all = try Self.records(Repository.path("pcaps/\(name).pcap"))
            for expression in Self.expressions {
                let filter = try PacketFilter(expression: expression, snapshotLength: 65535, engine: engine)
                for (index, record) in all.enumerated() {
                    record.bytes.withUnsafeBytes { bytes in
                        let ours = filter.returnValue(bytes, wireLength: record.wire)
                        let theirs = filter.classic.libpcapResult(bytes, wireLength: record.wire)
                        #expect(ours == theirs, "\(name) record \(index) '\(expression)': \(ours) vs libpcap \(theirs)")
                    }
                }
            }
        }
    }

    /// Captures shaped like ones from elsewhere (snapshot length 96, jumbo frames, runts, zero-length records,
    /// pcapng): generated by scripts/make-pcaps.py --held-out, which needs /usr/bin/python3 with scapy.
    @Test(
        .enabled(if: tcpdumpPath != nil, "skipped: tcpdump is not installed (scripts/setup.sh installs it)"),
        .enabled(
            if: FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"),
            "skipped: /usr/bin/python3 (with scapy) is needed to generate the held-out captures"))
    func heldOutCapturesMatchTcpdump() throws {
        let tcpdump = try #require(tcpdumpPath)
        let directory = try Repository.heldOutCaptures.get()
        let expressions = [
            "greater 100", "less 80", "len > 96 and udp", "udp", "tcp[13] & 2 != 0", "ip6 and tcp", "vlan",
            "udp[8:4] == 0", "ip[2:2] > 1000", "not ip",
        ]
        for name in ["snaplen-96.pcap", "jumbo.pcap", "runts.pcap", "zero-length.pcap", "comments.pcapng"] {
            let capture = directory + "/" + name
            let all = try Self.records(capture)
            for expression in expressions {
                var indexes: [Int] = []
                _ = try CaptureFilter.run(
                    capturePath: capture, makeFilter: { try PacketFilter(expression: expression, snapshotLength: $0) },
                    onMatch: { indexes.append($0.index) })
                let theirs = try Self.tcpdumpMatches(capture, expression, tcpdump: tcpdump)
                let ours = indexes.map { (all[$0].timestamp, all[$0].bytes) }
                let same = Self.same(ours, theirs)
                #expect(same, "\(name): '\(expression)': \(ours.count) matches \(indexes), tcpdump \(theirs.count)")
            }
        }
    }
}
