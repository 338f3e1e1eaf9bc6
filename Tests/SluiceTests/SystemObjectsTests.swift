import BPFObject
import BPFVM
import Foundation
import Testing

@testable import Sluice

/// Every XDP object Debian ships for libxdp/xdp-tools (`/usr/lib/<multiarch>/bpf/*.o`) loads into Sluice and runs
/// with the same results as the kernel.
@Suite(.serialized) struct SystemObjectsTests {
    static let directory = "/usr/lib/" + BPFCompiler.multiarch + "/bpf"

    static let objects: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".o") }.sorted()
    }()

    /// Objects with no XDP program at all (tracing programs only): nothing to load.
    static let withoutXDPProgram: Set<String> = ["xdpdump_bpf.o"]

    @Test func systemObjectsArePresent() {
        #expect(Self.objects.count >= 14, "expected libxdp/xdp-tools objects in \(Self.directory) (scripts/setup.sh installs xdp-tools)")
    }

    @Test(arguments: objects)
    func loadsAndMatchesTheKernel(object: String) throws {
        let path = Self.directory + "/" + object
        let file = try BPFObjectFile(path: path)
        if Self.withoutXDPProgram.contains(object) {
            #expect(!file.programs.contains { $0.isXDP })
            return
        }
        let (source, _, spec) = try ProgramSource.open(objectPath: path)
        _ = try ProgramLoader.load(spec, possibleCPUs: 1, verify: true)
        guard Repository.isRoot else { return }  // the kernel comparison below needs root; loading was checked
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var options = Replay.Options()
        options.resultsPath = directory + "/results.jsonl"
        let summary = try Replay.run(
            source: source, spec: spec, capture: Repository.path("pcaps/firewall.pcap"), options: options,
            againstKernel: true)
        #expect(summary.packets > 0)
        #expect(summary.differenceCount == 0, "\(summary.differences.joined(separator: "\n"))")
    }
}
