import BPFVM
import Foundation
import Testing

@testable import Sluice

/// Final maps compared with the kernel's: every differing entry counted and shown with both values, ignored maps and
/// keys left out, time stamps reported as differing by design.
struct MapComparisonTests {
    static func u64(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
    static func key(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

    static let spec: MapSpec = {
        var spec = MapSpec(name: "stamps", type: .hash, keySize: 4, valueSize: 16, maxEntries: 8)
        spec.keyType = .integer(name: "u32", size: 4, encoding: .unsigned)
        spec.valueType = .structure(
            name: "stamp", size: 16,
            members: [
                .init(name: "count", bitOffset: 0, type: .integer(name: "u64", size: 8, encoding: .unsigned)),
                .init(name: "seen", bitOffset: 64, type: .integer(name: "u64", size: 8, encoding: .unsigned)),
            ])
        return spec
    }()

    static func snapshot(_ entries: [(UInt32, UInt64, UInt64)]) -> MapSnapshot {
        MapSnapshot(
            name: "stamps", type: MapType.hash.rawValue, keySize: 4, valueSize: 16,
            entries: entries.map { .init(key: key($0.0), values: [u64($0.1) + u64($0.2)]) })
    }

    static func compare(
        _ ours: [(UInt32, UInt64, UInt64)], _ theirs: [(UInt32, UInt64, UInt64)],
        configure: (inout MapComparison.Options) -> Void = { _ in }
    ) -> MapComparison.Report {
        var options = MapComparison.Options()
        options.programReadsTime = true
        options.timeWindow = MapComparison.TimeWindow(ranges: [1_000...2_000])
        configure(&options)
        return MapComparison.compare(
            specs: ["stamps": spec], sluice: [snapshot(ours)], kernel: [snapshot(theirs)], options: options)
    }

    @Test func everyDifferingEntryIsCountedWithBothValuesDecoded() {
        let report = Self.compare([(1, 5, 0), (2, 1, 0), (3, 9, 0)], [(1, 7, 0), (2, 1, 0), (4, 9, 0)])
        #expect(report.differences.count == 3, "\(report.differences)")
        #expect(
            report.differences.contains {
                $0.contains(
                    "key 1 (hex 01000000): value differs: Sluice {\"count\":5,\"seen\":0}, kernel {\"count\":7,\"seen\":0}"
                )
            })
        #expect(report.differences.contains { $0.contains("key 3 (hex 03000000): only in Sluice") })
        #expect(report.differences.contains { $0.contains("key 4 (hex 04000000): only in the kernel") })
        #expect(report.byDesign.isEmpty && report.differingMaps == ["stamps"])
    }

    @Test func ignoredMapsAndKeysAreLeftOut() {
        let byMap = Self.compare([(1, 5, 0), (2, 1, 0)], [(1, 7, 0), (2, 2, 0)]) { $0.ignoredMaps = ["stamps"] }
        #expect(byMap.differences.isEmpty && byMap.ignored == 2)
        let byKey = Self.compare([(1, 5, 0), (2, 1, 0)], [(1, 7, 0), (2, 2, 0)]) {
            $0.ignoredKeys = ["stamps": [Self.key(1)]]
        }
        #expect(byKey.differences.count == 1 && byKey.differences[0].contains("key 2 ") && byKey.ignored == 1)
    }

    @Test func aKernelClockReadingDiffersByDesignAndAnythingElseIsCounted() {
        // `seen` is a kernel clock reading (inside the window): by design, named by its field.
        let stamp = Self.compare([(1, 5, 1_700_000_000)], [(1, 5, 1_500)])
        #expect(stamp.differences.isEmpty && stamp.byDesign.count == 1)
        #expect(stamp.byDesign.first?.contains("field seen differs by design (time)") == true)
        // Outside the window, or another word differing too, or a program that reads no clock: a real difference.
        let outside = Self.compare([(1, 5, 1_700_000_000)], [(1, 5, 5_000)])
        #expect(outside.differences.count == 1)
        // A clock-reading program with differences left gets the options that would leave them out.
        #expect(outside.hint?.contains("--ignore-map stamps") == true)
        #expect(stamp.hint == nil)
        #expect(Self.compare([(1, 5, 1_700_000_000)], [(1, 6, 1_500)]).differences.count == 1)
        #expect(
            Self.compare([(1, 5, 1_700_000_000)], [(1, 5, 1_500)]) { $0.programReadsTime = false }.differences.count
                == 1)
    }

    @Test func programsThatCallATimeHelperAreRecognised() {
        let exit = Instruction(opcode: 0x95)
        let ktime = Instruction(opcode: 0x85, imm: 5)
        let prandom = Instruction(opcode: 0x85, imm: 7)
        #expect(MapComparison.readsTime(ProgramSpec(name: "t", instructions: [ktime, exit])))
        #expect(!MapComparison.readsTime(ProgramSpec(name: "r", instructions: [prandom, exit])))
    }
}

/// The same against the real kernel (BPF_PROG_TEST_RUN): programs that store `bpf_ktime_get_ns` in maps.
@Suite(
    .enabled(
        if: KernelPrivileges.sufficient,
        "comparing with the kernel needs CAP_BPF and CAP_NET_ADMIN to load programs (run the tests as root)"))
struct KernelTimeStampTests {
    static func replay(
        object: String, capture: String, results: String? = nil, mapComparison: MapComparison.Options = .init()
    ) throws -> Replay.Summary {
        let (source, _, spec) = try ProgramSource.open(objectPath: object, mapsJSON: nil)
        var options = Replay.Options()
        options.resultsPath = results
        return try Replay.run(
            source: source, spec: spec, capture: capture, options: options, againstKernel: true,
            mapComparison: mapComparison)
    }

    /// flow_clock stores ktime in two fields of each flow and in a .bss variable: no differences, three entries that
    /// differ by design, named by field; the per-packet results carry the kernel's verdict.
    @Test func flowClockTimeStampsAreNotDifferences() throws {
        let directory = try TemporaryDirectory()
        let capture = try MapDumpTests.flowClockCapture(in: directory)
        let results = directory.path + "/results.jsonl"
        let summary = try Self.replay(object: try Repository.object("flow_clock"), capture: capture, results: results)
        #expect(summary.differenceCount == 0, "\(summary.differences)")
        #expect(summary.byDesignCount == 3, "\(summary.byDesignDifferences)")
        #expect(
            summary.byDesignDifferences.filter { $0.contains("fields first_seen, last_seen differ by design") }.count
                == 2)
        #expect(
            summary.byDesignDifferences.contains {
                $0.hasPrefix("map .bss key 0") && $0.contains("field last_packet_ns")
            })
        let lines = try String(contentsOfFile: results, encoding: .utf8).split(separator: "\n").dropLast()
        #expect(lines.count == 4)
        #expect(lines.allSatisfy { $0.contains(#""verdict":"pass","kernel_ret":2,"kernel_verdict":"pass""#) })

        var ignoring = MapComparison.Options()
        ignoring.ignoredMaps = ["flows"]
        ignoring.ignoredKeys = [".bss": [[0, 0, 0, 0]]]
        let ignored = try Self.replay(
            object: try Repository.object("flow_clock"), capture: capture, mapComparison: ignoring)
        #expect(ignored.differenceCount == 0 && ignored.byDesignCount == 0 && ignored.ignoredEntries == 3)
    }

    /// A random number is not a time stamp: next to a ktime entry (by design), a prandom entry is one difference.
    @Test func aRandomValueIsStillADifferenceNextToATimeStamp() throws {
        let object = try BPFCompiler.compile(
            source: """
                #include <linux/bpf.h>
                #include <bpf/bpf_helpers.h>
                char _license[] SEC("license") = "GPL";
                struct {
                    __uint(type, BPF_MAP_TYPE_ARRAY);
                    __uint(max_entries, 3);
                    __type(key, __u32);
                    __type(value, __u64);
                } values SEC(".maps");
                SEC("xdp") int stamp(struct xdp_md *ctx) {
                    __u32 random = 0, stamp = 1;
                    __u64 r = bpf_get_prandom_u32() | 1, t = bpf_ktime_get_ns();
                    bpf_map_update_elem(&values, &random, &r, 0);
                    bpf_map_update_elem(&values, &stamp, &t, 0);
                    return XDP_PASS;
                }
                """, name: "stamp_random")
        let directory = try TemporaryDirectory()
        var pcap = ClassicPcapBytes(nanosecond: false)
        pcap.record(seconds: 1_700_000_000, fraction: 0, sampleFrame(length: 64, seed: 1))
        let summary = try Self.replay(object: object, capture: try directory.file("one.pcap", pcap.bytes))
        #expect(summary.differenceCount == 1, "\(summary.differences)")
        #expect(summary.differences.first?.hasPrefix("map values key 0 (hex 00000000): value differs: Sluice ") == true)
        #expect(summary.byDesignCount == 1 && summary.byDesignDifferences.first?.hasPrefix("map values key 1 ") == true)
        #expect(summary.mapHint?.contains("--ignore-map values") == true)
    }
}
