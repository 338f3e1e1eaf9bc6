import Foundation
import Sluice
import Testing

/// `sluice filter` and `--filter` on replay and bench from the command line.
@Suite struct FilterCommandTests {
    static func run(_ arguments: [String]) throws -> Shell.Output { try BenchCommandTests.run(arguments, timeout: 120) }

    static let capture = Repository.path("pcaps/firewall.pcap")

    /// The match count of `expression` on the capture, from the library (the reference for the CLI's output).
    static func count(_ expression: String, _ capture: String = capture) throws -> (matched: Int, packets: Int) {
        let summary = try CaptureFilter.run(
            capturePath: capture, makeFilter: { try PacketFilter(expression: expression, snapshotLength: $0) })
        return (summary.matched, summary.packets)
    }

    @Test func printsOneLinePerMatchThenTheCountLast() throws {
        let out = try Self.run(["filter", "udp", Self.capture])
        #expect(out.status == 0, "\(out.stderr)")
        let lines = out.stdout.split(separator: "\n")
        let (matched, packets) = try Self.count("udp")
        #expect(matched > 0 && matched < packets)
        #expect(lines.count == matched + 1)
        #expect(lines.last == "\(matched) matched of \(packets) packets")
        let first = try #require(lines.first).split(separator: " ")
        #expect(
            first.count == 3 && Int(first[0]) != nil && first[1].contains(".") && Int(first[2]) != nil, "\(lines[0])")
        let counted = try Self.run(["filter", "udp", Self.capture, "--count"])
        #expect(counted.stdout == "\(matched) matched of \(packets) packets\n")
    }

    @Test func helpDescribesTheOutputAndTheFilterOptions() throws {
        let help = try Self.run(["filter", "--help"])
        for text in [
            "pcap_compile", "N matched of M packets", "--count", "--write <out.pcap>", "--disasm", "docs/FILTERS.md",
        ] {
            #expect(help.stdout.contains(text), "missing \(text) in:\n\(help.stdout)")
        }
        for command in [["replay"], ["run"], ["bench", "offline"]] {
            let out = try Self.run(command + ["--help"])
            #expect(out.stdout.contains("--filter <expression>"), "\(command) --help:\n\(out.stdout)")
        }
    }

    @Test func writeKeepsExactlyTheMatches() throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let output = directory + "/udp.pcap"
        let out = try Self.run(["filter", "udp port 53 or icmp", Self.capture, "--write", output, "--count"])
        #expect(out.status == 0, "\(out.stderr)")
        var reader = try PcapReader(path: output)
        var written = 0
        while try reader.next() != nil { written += 1 }
        #expect(written == (try Self.count("udp port 53 or icmp")).matched)
        // Filtering the output again keeps all of it; the complement keeps none.
        #expect(try Self.count("udp port 53 or icmp", output).matched == written)
        #expect(try Self.count("not (udp port 53 or icmp)", output).matched == 0)
        #expect(!FileManager.default.fileExists(atPath: output + ".tmp"))
    }

    @Test func writeToStandardOutputMovesTheTextToStandardError() throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let output = directory + "/stdout.pcap"
        let out = try Shell.run(
            [
                "/bin/sh", "-c", "exec \"$0\" filter tcp \"$1\" --write - --count > \"$2\"", BenchCommandTests.sluice,
                Self.capture, output,
            ], timeoutSeconds: 60)
        #expect(out.status == 0, "\(out.stderr)")
        let (matched, packets) = try Self.count("tcp")
        #expect(out.stderr == "\(matched) matched of \(packets) packets\n", "\(out.stderr)")
        var reader = try PcapReader(path: output)
        var written = 0
        while try reader.next() != nil { written += 1 }
        #expect(written == matched)
    }

    @Test func disasmShowsTheClassicAndTheTranslatedProgram() throws {
        let out = try Self.run(["filter", "tcp[13] & 2 != 0", "--disasm"])
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stdout.contains("; classic BPF (libpcap)"))
        #expect(out.stdout.contains("(000) ldh      [12]"), "tcpdump -d style:\n\(out.stdout)")
        #expect(out.stdout.contains("ret      #262144"))
        #expect(out.stdout.contains("; eBPF (translated, verified"))
        #expect(out.stdout.contains("ldxw %r9, [%r1+0]"))
        #expect(out.stdout.contains("jgt %r2, %r6"))
        // With a capture, the listing comes first and the count still last; the snapshot length is the capture's.
        let both = try Self.run(["filter", "icmp", Self.capture, "--disasm", "--count"])
        #expect(both.stdout.contains("ret      #65535"), "\(both.stdout)")
        #expect(both.stdout.split(separator: "\n").last?.hasSuffix("matched of 84 packets") == true)
    }

    @Test(
        arguments: [
            (["filter", "tcp port", capture], "bad filter expression 'tcp port': can't parse filter expression"),
            (["filter", "host 1.2.3.4.5", capture], "bad filter expression"),
            (["filter", "udp", "/nonexistent/x.pcap"], "No such file"),
            (["filter", "udp"], "give a capture"),
            (["filter", "inbound", capture], "SKF_AD_PKTTYPE) needs the kernel's socket buffer"),
            (["filter", "ifindex 3", "--disasm"], "SKF_AD_IFINDEX"),
            (["filter", "udp", capture, "--engine", "checked"], "always runs verified"),
            (["replay", "programs/build/firewall.o", capture, "--filter", "port 99999"], "bad filter expression"),
            (["bench", "programs/build/parse_bench.o", "--filter", "udp", "--against-kernel"], "cannot be compared"),
        ] as [([String], String)])
    func badInputGetsAClearError(_ arguments: [String], _ message: String) throws {
        let out = try Self.run(arguments)
        #expect(out.status != 0)
        #expect(out.stderr.contains(message), "\(arguments): \(out.stderr)")
    }

    @Test func nonEthernetCapturesNameTheLinkType() throws {
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A classic pcap header with link type 101 (raw IP) and one 20-byte IPv4 header.
        var bytes: [UInt8] = [0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0] + [UInt8](repeating: 0, count: 8)
        bytes += [0xff, 0xff, 0, 0, 101, 0, 0, 0]
        bytes += [1, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 20, 0, 0, 0] + [0x45] + [UInt8](repeating: 0, count: 19)
        let path = directory + "/raw.pcap"
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        let out = try Self.run(["filter", "ip", path])
        #expect(out.status != 0)
        #expect(out.stderr.contains("link type 101"), "\(out.stderr)")
        let synthesized = try Self.run(["filter", "ip", path, "--synthesize-ethernet", "--count"])
        #expect(synthesized.stdout == "1 matched of 1 packets\n", "\(synthesized.stderr)")
    }

    /// replay --filter: the matching records run, the others are "filtered" in the results and in filtered.pcap, and
    /// the counts add up to the capture.
    @Test func replayFilterCountsAddUp() throws {
        let object = try Repository.object("firewall")
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let results = directory + "/results.jsonl"
        let out = try Self.run([
            "replay", object, Self.capture, "--filter", "udp", "--out", directory, "--results", results,
            "--maps", Repository.path("pcaps/firewall.maps.json"),
        ])
        #expect(out.status == 0, "\(out.stderr)")
        let (matched, packets) = try Self.count("udp")
        let filtered = packets - matched
        #expect(out.stderr.contains("filtered out: \(filtered) "), "\(out.stderr)")
        let lines = try String(contentsOfFile: results, encoding: .utf8).split(separator: "\n").filter {
            $0.hasPrefix("{\"i\":")
        }
        #expect(lines.count == packets)
        #expect(lines.filter { $0.contains("\"verdict\":\"filtered\"") }.count == filtered)
        var inVerdictCaptures = 0
        for name in ["pass", "drop", "tx", "redirect", "aborted"] {
            var reader = try PcapReader(path: directory + "/\(name).pcap")
            while try reader.next() != nil { inVerdictCaptures += 1 }
        }
        var reader = try PcapReader(path: directory + "/filtered.pcap")
        var filteredRecords = 0
        while try reader.next() != nil { filteredRecords += 1 }
        #expect(filteredRecords == filtered)
        #expect(inVerdictCaptures == matched, "every matching record has a verdict (none of firewall's are refused)")
        // The filtered capture holds the records that do not match, unchanged.
        #expect(try Self.count("udp", directory + "/filtered.pcap").matched == 0)
    }

    @Test func benchFilterReportsTheFilteredPackets() throws {
        let object = try Repository.object("parse_bench")
        let pcap = Repository.path("pcaps/parse_bench.pcap")
        let out = try Self.run(["bench", object, "--pcap", pcap, "--filter", "udp", "--repeat", "1", "--json"])
        #expect(out.status == 0, "\(out.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any])
        let filtered = try #require(json["filteredOut"] as? Int, "\(out.stdout)")
        let verdicts = try #require(json["verdicts"] as? [String: Int])
        let packets = try #require(json["packets"] as? Int)
        #expect(filtered > 0)
        #expect(verdicts.values.reduce(0, +) + filtered == packets)
    }
}
