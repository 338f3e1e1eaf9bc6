import Foundation
import Testing

@testable import Sluice

/// Captures shaped like the ones users bring from elsewhere (`scripts/make-pcaps.py --held-out`): runts, zero-length
/// records, jumbo frames, pcapng with comments and two interfaces, big-endian pcap and pcapng, micro- and
/// nanosecond resolution, a snapshot length, raw IP and Linux cooked captures. Every one replays in full, and, as
/// root, the kernel agrees on every packet.
@Suite(.serialized) struct HeldOutCaptureTests {
    static let python = "/usr/bin/python3"
    static let scapyAvailable: Bool = {
        (try? Shell.run([python, "-c", "import scapy"], timeoutSeconds: 60))?.status == 0
    }()

    struct Entry: Decodable {
        var records: Int
        var options: [String]
    }

    /// Generated once per run into a temporary directory.
    static let generated: Result<(directory: String, manifest: [String: Entry]), Error> = Result {
        let directory = try Repository.heldOutCaptures.get()
        let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/manifest.json"))
        return (directory, try JSONDecoder().decode([String: Entry].self, from: data))
    }

    static let names = [
        "nanosecond.pcap", "microsecond.pcap", "big-endian.pcap", "big-endian-ns.pcap", "runts.pcap",
        "zero-length.pcap", "jumbo.pcap", "snaplen-96.pcap", "comments.pcapng", "big-endian.pcapng", "raw-ip.pcap",
        "linux-sll.pcap", "linux-sll2.pcap",
    ]

    static func replay(_ name: String, format: CaptureFormat = .pcap, againstKernel: Bool) throws -> (Replay.Summary, String) {
        let (directory, manifest) = try generated.get()
        let entry = try #require(manifest[name], "make-pcaps.py did not write \(name)")
        let maps = try Array(Data(contentsOf: URL(fileURLWithPath: Repository.path("pcaps/firewall.maps.json"))))
        let (source, _, spec) = try ProgramSource.open(objectPath: try Repository.object("firewall"), mapsJSON: maps)
        let out = try Repository.temporaryDirectory()
        var options = Replay.Options()
        options.outputDirectory = out + "/verdicts"
        options.resultsPath = out + "/results.jsonl"
        options.synthesizeEthernet = entry.options.contains("--synthesize-ethernet")
        options.outputFormat = format
        let summary = try Replay.run(
            source: source, spec: spec, capture: directory + "/" + name, options: options, againstKernel: againstKernel)
        #expect(summary.packets == entry.records, "\(name): \(summary.packets) of \(entry.records) records replayed")
        return (summary, out)
    }

    @Test(.enabled(if: scapyAvailable, "skipped: scapy is missing (apt-get install python3-scapy)"), arguments: names)
    func replaysEveryRecord(name: String) throws {
        let (summary, out) = try Self.replay(name, againstKernel: Repository.isRoot)
        defer { try? FileManager.default.removeItem(atPath: out) }
        if Repository.isRoot {
            #expect(summary.differenceCount == 0, "\(name): \(summary.differences.joined(separator: "\n"))")
        }
        let lines = try String(contentsOfFile: out + "/results.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == summary.packets + 1)
        switch name {
        case "zero-length.pcap":
            #expect(lines.filter { $0.contains("zero-length record") }.count == 6)
        case "runts.pcap":
            #expect(summary.refused == 7)
        case "jumbo.pcap":
            #expect(summary.oversized == 3)
        default:
            break
        }
    }

    /// Micro- and nanosecond, little- and big-endian, pcap and pcapng: the same traffic gives the same results.
    @Test(.enabled(if: scapyAvailable, "skipped: scapy is missing (apt-get install python3-scapy)"))
    func resolutionAndByteOrderDoNotChangeTheResults() throws {
        var results: [String: String] = [:]
        for name in ["nanosecond.pcap", "microsecond.pcap", "big-endian.pcap", "big-endian-ns.pcap", "comments.pcapng",
                     "big-endian.pcapng"] {
            let (_, out) = try Self.replay(name, againstKernel: false)
            results[name] = try String(contentsOfFile: out + "/results.jsonl", encoding: .utf8)
            try? FileManager.default.removeItem(atPath: out)
        }
        // The capture time (`ts_ns`) keeps each file's own resolution: equal to the microsecond, and otherwise the
        // lines are identical.
        func split(_ text: String) -> (lines: String, microseconds: [UInt64]) {
            var stripped: [Substring] = []
            var times: [UInt64] = []
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                if let range = line.range(of: ",\"ts_ns\":") {
                    times.append((UInt64(line[range.upperBound...].prefix { $0.isNumber }) ?? 0) / 1000)
                    stripped.append(line[..<range.lowerBound] + "}")
                } else {
                    stripped.append(line)
                }
            }
            return (stripped.joined(separator: "\n"), times)
        }
        let reference = split(try #require(results["nanosecond.pcap"]))
        #expect(!reference.microseconds.isEmpty && reference.microseconds.allSatisfy { $0 > 0 })
        for (name, text) in results {
            let this = split(text)
            #expect(this.lines == reference.lines, "\(name) differs from nanosecond.pcap")
            #expect(this.microseconds == reference.microseconds, "\(name): capture times differ from nanosecond.pcap")
        }
    }

    @Test(.enabled(if: scapyAvailable, "skipped: scapy is missing (apt-get install python3-scapy)"))
    func pcapngCommentsAndInterfacesSurviveIntoPcapngVerdicts() throws {
        let (_, out) = try Self.replay("comments.pcapng", format: .pcapng, againstKernel: false)
        defer { try? FileManager.default.removeItem(atPath: out) }
        var interfaces = Set<UInt32>()
        var inputComments = 0
        var annotated = 0
        for action in XDPAction.allCases {
            let path = out + "/verdicts/" + VerdictPcapWriters.fileName(for: action, format: .pcapng)
            var reader = try PcapReader(path: path)
            while let record = try reader.next() {
                interfaces.insert(record.interfaceID)
                if String(decoding: record.comment, as: UTF8.self).hasPrefix("input ") { annotated += 1 }
            }
            let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
            inputComments += text.components(separatedBy: "frame ").count - 1
        }
        #expect(interfaces == [0, 1])
        #expect(annotated == 81, "every packet the program saw is annotated")
        #expect(inputComments > 20, "the input's comments are kept")
    }
}
