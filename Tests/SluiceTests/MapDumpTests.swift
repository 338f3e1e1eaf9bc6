import BPFObject
import BPFVM
import Foundation
import Testing

@testable import Sluice

/// BTF-decoded map dumps (`MapDump`, `replay --maps-out`): bpftool's entry shape, every BTF kind a value can hold,
/// every array entry, per-CPU values per CPU, global-data sections as variables — for every example program.
struct MapDumpTests {
    // MARK: - Fixtures

    /// An IPv4 frame of `length` bytes from 10.0.0.`host` with the given TTL, protocol and fragment field.
    static func ipv4Frame(host: UInt8, ttl: UInt8, proto: UInt8, fragment: UInt16 = 0, length: Int) -> [UInt8] {
        var frame: [UInt8] = [0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x08, 0x00]
        let total = UInt16(length - 14)
        frame += [0x45, 0, UInt8(total >> 8), UInt8(total & 0xff), 0, 1, UInt8(fragment >> 8), UInt8(fragment & 0xff)]
        frame += [ttl, proto, 0, 0, 10, 0, 0, host, 10, 0, 0, 99]
        while frame.count < length { frame.append(UInt8(truncatingIfNeeded: frame.count &* 7)) }
        return frame
    }

    /// flow_clock's test traffic: 10.0.0.1 (UDP, TTL 64) twice, one 60 and one 1200 bytes; 10.0.0.2 (TCP, TTL 200,
    /// more-fragments set) once, 300 bytes; one IPv6 frame. Seconds 1_700_000_000 + index, microsecond pcap.
    static func flowClockCapture(in directory: TemporaryDirectory) throws -> String {
        var pcap = ClassicPcapBytes(nanosecond: false)
        let frames = [
            ipv4Frame(host: 1, ttl: 64, proto: 17, length: 60),
            ipv4Frame(host: 2, ttl: 200, proto: 6, fragment: 0x2000, length: 300),
            ipv4Frame(host: 1, ttl: 64, proto: 17, length: 1200),
            [UInt8](repeating: 2, count: 12) + [0x86, 0xdd] + [UInt8](repeating: 0, count: 50),
        ]
        for (index, frame) in frames.enumerated() {
            pcap.record(seconds: 1_700_000_000 + UInt32(index), fraction: 0, frame)
        }
        return try directory.file("flow_clock.pcap", pcap.bytes)
    }

    /// Replays `object` over `capture` with `--maps-out` and returns the parsed document.
    static func dump(
        object: String, capture: String, mapsJSON: [UInt8]? = nil, in directory: TemporaryDirectory
    ) throws -> (document: [String: Any], maps: [String: [String: Any]], summary: Replay.Summary) {
        let (source, _, spec) = try ProgramSource.open(objectPath: object, mapsJSON: mapsJSON)
        var options = Replay.Options()
        options.mapsOutPath = directory.path + "/maps-\(UUID().uuidString).json"
        let summary = try Replay.run(source: source, spec: spec, capture: capture, options: options)
        let data = try Data(contentsOf: URL(fileURLWithPath: options.mapsOutPath!))
        let document = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let maps = try #require(document["maps"] as? [[String: Any]])
        var byName: [String: [String: Any]] = [:]
        for map in maps { byName[map["name"] as? String ?? ""] = map }
        return (document, byName, summary)
    }

    static func entries(_ map: [String: Any]?) -> [[String: Any]] { map?["entries"] as? [[String: Any]] ?? [] }

    static func formatted(_ entry: [String: Any]) -> [String: Any] { entry["formatted"] as? [String: Any] ?? [:] }

    /// The formatted value of the entry whose formatted key is `key`.
    static func value(_ map: [String: Any]?, key: Int) -> [String: Any]? {
        entries(map).first { (formatted($0)["key"] as? Int) == key }.flatMap {
            formatted($0)["value"] as? [String: Any]
        }
    }

    // MARK: - Every example program

    static let examplePrograms: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: Repository.path("programs"))) ?? []
        return names.filter { $0.hasSuffix(".c") }.map { String($0.dropLast(2)) }.sorted()
    }()

    @Test func everyExampleProgramIsCovered() {
        #expect(Self.examplePrograms.count >= 19 && Self.examplePrograms.contains("flow_clock"))
    }

    /// Each program's maps decode: the BTF layouts have the map's key and value sizes, the document has every map,
    /// each entry's hex has the declared sizes, BTF maps have `formatted` on every entry, arrays list every index
    /// (zeroed ones too), per-CPU maps one value per CPU.
    @Test(arguments: examplePrograms)
    func everyMapOfTheProgramDecodes(program: String) throws {
        let directory = try TemporaryDirectory()
        let object = try Repository.object(program)
        let file = try BPFObjectFile(path: object)
        let capturePath = Repository.path("pcaps/\(program).pcap")
        let capture: String
        if FileManager.default.fileExists(atPath: capturePath) {
            capture = capturePath
        } else {
            var pcap = ClassicPcapBytes(nanosecond: false)
            for index in 0..<4 {
                pcap.record(seconds: 1, fraction: UInt32(index), sampleFrame(length: 64 + index, seed: UInt8(index)))
            }
            capture = try directory.file("capture.pcap", pcap.bytes)
        }
        let mapsPath = Repository.path("pcaps/\(program).maps.json")
        let mapsJSON =
            FileManager.default.fileExists(atPath: mapsPath)
            ? try Array(Data(contentsOf: URL(fileURLWithPath: mapsPath))) : nil
        let (document, maps, _) = try Self.dump(object: object, capture: capture, mapsJSON: mapsJSON, in: directory)
        #expect(document["version"] as? Int == MapDump.schemaVersion)
        #expect(Set(maps.keys) == Set(file.maps.map(\.name)), "\(program): maps in the dump")

        for spec in file.maps {
            let map = try #require(maps[spec.name])
            let plainData = [MapType.hash, .array, .percpuHash, .percpuArray, .lruHash, .lruPercpuHash].contains(
                spec.type)
            // Mergeable string sections (.rodata.str1.1) have no DATASEC in clang's BTF: hex only, as with bpftool.
            if plainData && !spec.name.contains(".str") {
                // clang -g gives every BTF-defined map of these kinds key and value types (global data: a DATASEC).
                let valueType = try #require(spec.valueType, "\(program): map \(spec.name) has no BTF value type")
                #expect(valueType.size == spec.valueSize, "\(program): \(spec.name) value layout")
                #expect(spec.keyType?.size == spec.keySize, "\(program): \(spec.name) key layout")
            }
            #expect(map["btf"] as? Bool == (spec.valueType != nil))
            let entries = Self.entries(map)
            if spec.type == .array || spec.type == .percpuArray {
                #expect(entries.count == spec.maxEntries, "\(program): \(spec.name) lists every index")
            }
            for entry in entries {
                #expect((entry["key"] as? [String])?.count == spec.keySize)
                if spec.type.isPerCPU {
                    let values = try #require(entry["values"] as? [[String: Any]])
                    #expect(values.map { $0["cpu"] as? Int } == [0])  // replay has one CPU
                    #expect(values.allSatisfy { ($0["value"] as? [String])?.count == spec.valueSize })
                } else {
                    #expect((entry["value"] as? [String])?.count == spec.valueSize || spec.type == .progArray)
                }
                if spec.valueType != nil {
                    let formatted = Self.formatted(entry)
                    #expect(formatted["key"] != nil && (formatted["value"] != nil || formatted["values"] != nil))
                    if case .dataSection(_, _, let variables) = spec.valueType {
                        let value = try #require(formatted["value"] as? [String: Any])
                        #expect(Set(value.keys) == Set(variables.map(\.name)), "\(program): \(spec.name) variables")
                    }
                }
            }
        }
    }

    /// counters over its capture: the per-CPU frame count is what the replay ran, and it equals the per-protocol
    /// packet counts plus the non-IP frames.
    @Test func countersDumpMatchesWhatTheProgramCounted() throws {
        let directory = try TemporaryDirectory()
        let (_, maps, summary) = try Self.dump(
            object: try Repository.object("counters"), capture: Repository.path("pcaps/counters.pcap"), in: directory)
        let frames = Self.entries(maps["frames"])
        let all = try #require(frames.first { Self.formatted($0)["key"] as? Int == 0 })
        let perCPU = try #require(Self.formatted(all)["values"] as? [[String: Any]])
        let ran = summary.packets - summary.refused
        #expect(perCPU.first?["value"] as? Int == ran)
        let nonIP = (Self.formatted(frames[1])["values"] as? [[String: Any]])?.first?["value"] as? Int ?? -1
        let protocols = Self.entries(maps["proto_stats"]).compactMap {
            (Self.formatted($0)["value"] as? [String: Any])?["packets"] as? Int
        }
        #expect(protocols.count == 256)
        #expect(protocols.reduce(0, +) + nonIP == ran)
        // Zeroed entries are listed (no IP protocol 2 traffic in the capture), with their fields.
        let igmp = try #require(Self.value(maps["proto_stats"], key: 2))
        #expect(igmp["packets"] as? Int == 0 && igmp["bytes"] as? Int == 0)
    }

    /// globals: the data sections decode as their variables by name with the values the program sets.
    @Test func globalsDumpHasTheDataSectionVariables() throws {
        let directory = try TemporaryDirectory()
        let (_, maps, summary) = try Self.dump(
            object: try Repository.object("globals"), capture: Repository.path("pcaps/globals.pcap"), in: directory)
        let rodata = try #require(Self.value(maps[".rodata"], key: 0))
        #expect(rodata["verbose"] as? Int == 1 && rodata["min_len"] as? Int == 60)
        #expect((rodata["kind_names"] as? [[Int]])?.first == Array("runt".utf8).map(Int.init) + [0, 0, 0, 0])
        let data = try #require(Self.value(maps[".data"], key: 0))
        #expect(data["print_every"] as? Int == 16 && data["generation"] as? Int == 1)
        let bss = try #require(Self.value(maps[".bss"], key: 0))
        #expect(bss["frames"] as? Int == summary.packets - summary.refused)
        #expect(bss["last_ethertype"] as? Int != nil && bss["largest"] as? Int ?? 0 >= 60)
    }

    /// flow_clock: struct fields by name, bitfields (one signed), bool, char array as numbers, enum as a number,
    /// an array member, per-CPU values, signed and unsigned globals.
    @Test func flowClockDumpDecodesEveryKindOfField() throws {
        let directory = try TemporaryDirectory()
        let (_, maps, _) = try Self.dump(
            object: try Repository.object("flow_clock"), capture: try Self.flowClockCapture(in: directory),
            in: directory)
        // Keys are the source address in network byte order, read as the __u32 they are.
        let first = try #require(Self.value(maps["flows"], key: 0x0100_000a))
        #expect(first["packets"] as? Int == 2 && first["bytes"] as? Int == 1260)
        #expect(first["first_seen"] as? Int == 1_700_000_000_000_000_000)
        #expect(first["last_seen"] as? Int == 1_700_000_002_000_000_000)
        #expect(first["proto"] as? Int == 17 && first["fragmented"] as? Int == 0 && first["ttl_class"] as? Int == 2)
        #expect(first["bias"] as? Int == -3)
        #expect(first["large_seen"] as? Bool == true && first["last_class"] as? Int == 2)
        #expect(first["tag"] as? [Int] == [102, 108, 119, 0])
        #expect(first["lengths"] as? [Int] == [1200, 60, 0])
        let second = try #require(Self.value(maps["flows"], key: 0x0200_000a))
        #expect(second["fragmented"] as? Int == 1 && second["ttl_class"] as? Int == 6 && second["bias"] as? Int == -3)
        #expect(second["large_seen"] as? Bool == false && second["last_class"] as? Int == 1)
        #expect(Self.entries(maps["flows"]).count == 2)

        let classes = Self.entries(maps["by_class"]).map { entry in
            ((Self.formatted(entry)["values"] as? [[String: Any]]) ?? []).map { $0["value"] as? Int ?? -1 }
        }
        #expect(classes == [[2], [1], [1]])
        #expect(Self.value(maps[".data"], key: 0)?["adjust"] as? Int == -5)
        #expect(Self.value(maps[".rodata"], key: 0)?["medium_len"] as? Int == 200)
        let bss = try #require(Self.value(maps[".bss"], key: 0))
        #expect(bss["frames_seen"] as? Int == 4 && bss["last_packet_ns"] as? Int == 1_700_000_003_000_000_000)
    }

    /// Ring-buffer records decode as the types named for their map (`--event-type`), chosen by length.
    @Test func ringBufferRecordsDecodeAsTheirNamedTypes() throws {
        let object = try BPFCompiler.compile(
            source: """
                #include <linux/bpf.h>
                #include <bpf/bpf_helpers.h>
                char _license[] SEC("license") = "GPL";
                struct small { __u16 len; __u8 kind; __u8 odd : 1; };
                struct large { __u32 len; __u32 index; __u64 stamp; };
                // Types used only inside functions get no BTF: these globals put them there.
                struct small *small_btf __attribute__((unused));
                struct large *large_btf __attribute__((unused));
                struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } events SEC(".maps");
                __u32 seen;
                SEC("xdp") int emit(struct xdp_md *ctx) {
                    __u32 len = ctx->data_end - ctx->data;
                    __u32 index = seen++;
                    if (len & 1) {
                        struct small s = { .len = len, .kind = 7, .odd = 1 };
                        bpf_ringbuf_output(&events, &s, sizeof(s), 0);
                    } else {
                        struct large l = { .len = len, .index = index, .stamp = bpf_ktime_get_ns() };
                        bpf_ringbuf_output(&events, &l, sizeof(l), 0);
                    }
                    return XDP_PASS;
                }
                """, name: "typed_events")
        let file = try BPFObjectFile(path: object)
        let small = try #require(file.namedTypes["small"])
        let large = try #require(file.namedTypes["large"])
        let directory = try TemporaryDirectory()
        var pcap = ClassicPcapBytes(nanosecond: false)
        pcap.record(seconds: 5, fraction: 0, sampleFrame(length: 61, seed: 1))
        pcap.record(seconds: 6, fraction: 0, sampleFrame(length: 64, seed: 2))
        let capture = try directory.file("two.pcap", pcap.bytes)
        let (source, _, spec) = try ProgramSource.open(objectPath: object, mapsJSON: nil)
        var options = Replay.Options()
        options.resultsPath = directory.path + "/results.jsonl"
        options.eventTypes = ["events": [small, large]]
        _ = try Replay.run(source: source, spec: spec, capture: capture, options: options)
        let lines = try String(contentsOfFile: options.resultsPath!, encoding: .utf8).split(separator: "\n")
        func event(_ line: Substring) throws -> [String: Any] {
            let json = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let events = try #require(json["events"] as? [[String: Any]])
            return try #require(events.first?["formatted"] as? [String: Any])
        }
        let first = try event(lines[0])
        #expect(first["len"] as? Int == 61 && first["kind"] as? Int == 7 && first["odd"] as? Int == 1)
        let second = try event(lines[1])
        #expect(second["len"] as? Int == 64 && second["index"] as? Int == 1)
        #expect(second["stamp"] as? Int == 6_000_000_000)
    }

    // MARK: - The decoder on hand-made layouts

    static let u8 = BTFType.integer(name: "u8", size: 1, encoding: .unsigned)
    static let u16 = BTFType.integer(name: "u16", size: 2, encoding: .unsigned)
    static let s32 = BTFType.integer(name: "int", size: 4, encoding: .signed)

    @Test func bitfieldsAcrossByteBoundariesAndSignedOnesDecode() {
        // struct { u16 a:3; u16 b:9 (bits 3..11, across the byte boundary); int c:4 (bits 12..15, signed) }
        let layout = BTFType.structure(
            name: "bits", size: 2,
            members: [
                .init(name: "a", bitOffset: 0, bitfieldSize: 3, type: Self.u16),
                .init(name: "b", bitOffset: 3, bitfieldSize: 9, type: Self.u16),
                .init(name: "c", bitOffset: 12, bitfieldSize: 4, type: Self.s32),
            ])
        let a: UInt16 = 5
        let b: UInt16 = 0x1a5
        let c: UInt16 = 0xd  // -3 in four bits
        let raw = a | b << 3 | c << 12
        let value = MapDump.decode([UInt8(raw & 0xff), UInt8(raw >> 8)], as: layout)
        #expect(value == .object([.init("a", .unsigned(5)), .init("b", .unsigned(0x1a5)), .init("c", .signed(-3))]))
    }

    @Test func integersEnumsBoolsFloatsAndWideIntegersDecode() {
        #expect(MapDump.decode([0xfe, 0xff, 0xff, 0xff], as: Self.s32) == .signed(-2))
        #expect(
            MapDump.decode([0xfe, 0xff, 0xff, 0xff], as: .integer(name: "u32", size: 4, encoding: .unsigned))
                == .unsigned(0xffff_fffe))
        #expect(MapDump.decode([0, 2], as: .integer(name: "_Bool", size: 2, encoding: .bool)) == .bool(true))
        #expect(
            MapDump.decode([0xff, 0xff, 0xff, 0xff], as: .enumeration(name: "e", size: 4, signed: true)) == .signed(-1))
        #expect(
            MapDump.decode(Array(withUnsafeBytes(of: Float(1.5)) { Array($0) }), as: .float(name: "float", size: 4))
                == .double(1.5))
        let wide = [UInt8](repeating: 0, count: 15) + [0x80]
        #expect(
            MapDump.decode(wide, as: .integer(name: "__int128", size: 16, encoding: .unsigned))
                == .string("0x80" + String(repeating: "00", count: 15)))
        // Fewer bytes than the type: the bytes that are there, as hex, never invented zeros.
        #expect(MapDump.decode([1, 2], as: Self.s32) == .string("0x0102"))
    }

    @Test func arraysUnionsAndNestedStructsDecodeEveryElement() {
        let pair = BTFType.structure(
            name: "pair", size: 3,
            members: [.init(name: "x", bitOffset: 0, type: Self.u8), .init(name: "y", bitOffset: 8, type: Self.u16)])
        let layout = BTFType.union(
            name: "u", size: 6,
            members: [
                .init(name: "pairs", bitOffset: 0, type: .array(element: pair, count: 2)),
                .init(name: "first", bitOffset: 0, type: Self.u8),
            ])
        let value = MapDump.decode([1, 2, 0, 3, 4, 0], as: layout)
        #expect(value["pairs"]?[1]?["y"] == .unsigned(4))
        #expect(value["pairs"]?[0]?["x"] == .unsigned(1))
        #expect(value["first"] == .unsigned(1))
        #expect(layout.fieldPath(atByteOffset: 4) == "pairs[1].y")
        #expect(value.json == #"{"pairs":[{"x":1,"y":2},{"x":3,"y":4}],"first":1}"#)
    }

    /// Layouts no compiler emits (a hostile object's BTF): sizes saturate, members out of range decode as "", and
    /// nothing traps or loops for long.
    @Test func absurdLayoutsDecodeWithoutTrapping() {
        let huge = BTFType.array(element: .array(element: Self.u8, count: Int.max / 2), count: 4)
        #expect(huge.size == Int.max)
        #expect(MapDump.decode([1, 2], as: huge) == .string("0x0102"))
        let outside = BTFType.structure(
            name: "s", size: 2,
            members: [
                .init(name: "far", bitOffset: Int.max - 7, type: Self.u16),
                .init(name: "big", bitOffset: 0, type: huge),
                .init(name: "bits", bitOffset: 1 << 40, bitfieldSize: 3, type: Self.u16),
            ])
        #expect(
            MapDump.decode([0, 0], as: outside)
                == .object([.init("far", .string("")), .init("big", .string("")), .init("bits", .string(""))]))
        let empty = BTFType.array(element: .structure(name: "e", size: 0, members: []), count: Int.max)
        #expect(MapDump.decode([], as: empty) == .array([]))
        #expect(huge.fieldPath(atByteOffset: 5) == "[0][5]" && outside.fieldPath(atByteOffset: 1) == "big[0][1]")
    }

    @Test func anEntryWithoutBTFHasHexOnlyAndPerCPUEntriesListEveryCPU() {
        let plain = MapSpec(name: "legacy", type: .hash, keySize: 2, valueSize: 1, maxEntries: 4)
        #expect(
            MapDump.entry(spec: plain, key: [1, 2], values: [[0xab]]).json
                == #"{"key":["0x01","0x02"],"value":["0xab"]}"#)
        var perCPU = MapSpec(name: "pc", type: .percpuArray, keySize: 4, valueSize: 1, maxEntries: 1)
        perCPU.valueType = Self.u8
        let entry = MapDump.entry(spec: perCPU, key: [0, 0, 0, 0], values: [[7], [9]])
        #expect(
            entry.json
                == #"{"key":["0x00","0x00","0x00","0x00"],"values":[{"cpu":0,"value":["0x07"]},{"cpu":1,"value":["0x09"]}],"formatted":{"key":0,"values":[{"cpu":0,"value":7},{"cpu":1,"value":9}]}}"#
        )
    }
}
