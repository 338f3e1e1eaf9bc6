import BPFVM
import Testing

@testable import SluiceCLI

/// `replay --maps-out`, `--ignore-map`, `--ignore-key`: named in the help, malformed values refused before anything runs.
struct MapOptionsCommandLineTests {
    @Test func replayHelpNamesTheMapOptions() {
        let help = SluiceCommand.helpMessage(for: ReplayCommand.self)
        for option in ["--maps-out", "--ignore-map", "--ignore-key"] {
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
}
