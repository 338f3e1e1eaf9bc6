import BPFObject
import BPFVM
import Foundation
import Testing

@testable import SluiceCLI

/// `replay --maps-out`, `--ignore-map`, `--ignore-key`: named in the help, malformed values refused before anything runs.
struct MapOptionsCommandLineTests {
    @Test func replayHelpNamesTheMapOptions() {
        let help = SluiceCommand.helpMessage(for: ReplayCommand.self)
        for option in ["--maps-out", "--ignore-map", "--ignore-key", "--event-type"] {
            #expect(help.contains(option), "sluice replay --help does not mention \(option)")
        }
    }

    @Test func ignoreOptionsNeedTheKernelComparisonAndWellFormedKeys() {
        #expect(throws: (any Error).self) {
            try SluiceCommand.parseAsRoot(["replay", "p.o", "c.pcap", "--ignore-map", "m"])
        }
        #expect(throws: (any Error).self) {
            try SluiceCommand.parseAsRoot(["replay", "p.o", "c.pcap", "--ignore-key", "m:00"])
        }
        for key in ["m", "m:", ":00", "m:0", "m:zz", "m:0x"] {
            #expect(throws: (any Error).self, "--ignore-key \(key)") {
                try SluiceCommand.parseAsRoot(["replay", "p.o", "c.pcap", "--against-kernel", "--ignore-key", key])
            }
        }
        #expect(throws: Never.self) {
            try SluiceCommand.parseAsRoot(
                [
                    "replay", "p.o", "c.pcap", "--against-kernel", "--ignore-map", "a", "--ignore-map", "b",
                    "--ignore-key", ".bss:00000000", "--maps-out", "m.json",
                ])
        }
    }

    @Test func ignoredNamesAndKeySizesAreCheckedAgainstTheProgramsMaps() throws {
        let specs = [MapSpec(name: "flows", type: .hash, keySize: 4, valueSize: 8, maxEntries: 4)]
        let options = try MapIgnoreList.options(maps: ["flows"], keys: ["flows:0a000001"], in: specs)
        #expect(options.ignoredMaps == ["flows"] && options.ignoredKeys["flows"] == [[10, 0, 0, 1]])
        #expect(throws: MapIgnoreList.Problem.self) { try MapIgnoreList.options(maps: ["nosuch"], keys: [], in: specs) }
        #expect(throws: MapIgnoreList.Problem.self) {
            try MapIgnoreList.options(maps: [], keys: ["flows:0a00"], in: specs)
        }
    }

    @Test func debugNeedsAPacketAndACaptureFile() {
        #expect(throws: (any Error).self) { try SluiceCommand.parseAsRoot(["debug", "p.o", "c.pcap"]) }
        #expect(throws: (any Error).self) { try SluiceCommand.parseAsRoot(["debug", "p.o", "-", "--packet", "1"]) }
        #expect(throws: (any Error).self) {
            try SluiceCommand.parseAsRoot(["debug", "p.o", "c.pcap", "--packet", "-1"])
        }
        #expect(throws: Never.self) { try SluiceCommand.parseAsRoot(["debug", "p.o", "c.pcap", "--packet", "13"]) }
        #expect(SluiceCommand.helpMessage(for: DebugCommand.self).contains("break [FILE:]LINE"))
    }

    @Test func eventTypesAreCheckedAgainstTheObject() throws {
        #expect(EventTypeList.parse("events=struct a,b")! == ("events", ["a", "b"]))
        for bad in ["events", "=a", "events=", "events=a,,b"] {
            #expect(EventTypeList.parse(bad) == nil, "\(bad)")
            #expect(throws: (any Error).self) {
                try SluiceCommand.parseAsRoot(["replay", "p.o", "c.pcap", "--event-type", bad])
            }
        }
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        let path = root.path + "/programs/build/ringbuf_events.o"
        try #require(FileManager.default.fileExists(atPath: path), "run programs/build.sh first")
        let object = try BPFObjectFile(path: path)
        // ringbuf_events' record structs are used only inside its function, so its BTF lacks them: the error says how.
        #expect(throws: EventTypeList.Problem.self) { try EventTypeList.types(["events=ip_event"], in: object) }
        do {
            _ = try EventTypeList.types(["events=ip_event"], in: object)
        } catch {
            #expect(error.description.contains("__attribute__((unused))"))
        }
        #expect(throws: EventTypeList.Problem.self) { try EventTypeList.types(["lost=xdp_md"], in: object) }
        #expect(try EventTypeList.types(["events=xdp_md"], in: object)["events"]?.count == 1)
    }
}
