import ArgumentParser
import Foundation
import Testing

@testable import SluiceCLI

/// `sluice ctl` and the control options of `sluice run`: help, and bad input refused with a clear message before
/// (or without) any connection.
@Suite struct CtlCommandTests {
    private func error(_ arguments: [String]) -> String? {
        do {
            var command = try SluiceCommand.parseAsRoot(arguments)
            try command.run()
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func helpNamesTheCommandsAndOptions() {
        #expect(SluiceCommand.helpMessage().contains("  ctl "))
        let ctl = SluiceCommand.helpMessage(for: CtlCommand.self)
        for word in [
            "stats", "map dump", "map update", "map lookup", "map delete", "reload", "--keep-maps",
            "--fresh-maps", "--control", "hex 01 02",
        ] {
            #expect(ctl.contains(word), "sluice ctl --help does not mention \(word)")
        }
        let run = SluiceCommand.helpMessage(for: RunCommand.self)
        #expect(run.contains("--control"))
        #expect(run.contains("--metrics"))
    }

    @Test func badMetricsAddressesAreRefusedAtParse() {
        for bad in ["9417", "localhost:", "host:99999"] {
            #expect(throws: (any Error).self) {
                try SluiceCommand.parseAsRoot(["run", "--iface", "x", "p.o", "--metrics", bad])
            }
        }
        #expect(throws: Never.self) {
            try SluiceCommand.parseAsRoot(["run", "--iface", "x", "p.o", "--metrics", "127.0.0.1:0"])
        }
    }

    @Test func badCtlInputGetsAClearError() throws {
        let socket = "/nonexistent-\(UUID().uuidString)/ctl.sock"
        #expect(error(["ctl"])?.contains("name the interface") == true)
        #expect(error(["ctl", "veth0", "map", "--help"]) == nil, "help after the interface prints help")
        #expect(error(["ctl", "--control", socket])?.contains("no command given") == true)
        #expect(error(["ctl", "--control", socket, "frobnicate"])?.contains("unknown command 'frobnicate'") == true)
        #expect(error(["ctl", "--control", socket, "stats"])?.contains("no sluice instance is serving") == true)
        #expect(error(["ctl", "--control", socket, "map"])?.contains("expected list, dump") == true)
        #expect(error(["ctl", "--control", socket, "map", "update", "m", "hex", "01"])?.contains("KEY VALUE") == true)
        #expect(error(["ctl", "--control", socket, "map", "lookup", "m", "0x123"])?.contains("odd number") == true)
        #expect(error(["ctl", "--control", socket, "reload"])?.contains("expected the object") == true)
        #expect(error(["ctl", "--control", socket, "reload", "/nonexistent.o"])?.contains("cannot read") == true)
        #expect(
            error(["ctl", "--control", socket, "reload", "a.o", "--keep-maps", "--fresh-maps"])?.contains("exclude")
                == true)
        #expect(error(["ctl", "--control", socket, "stats", "--interval", "0"])?.contains("--interval") == true)
    }

    @Test func keyAndValueAreSplitLikeBpftool() throws {
        #expect(
            try CtlCommand.splitKeyValue(["hex", "01", "02", "hex", "03"]) == (["hex", "01", "02"], ["hex", "03"]))
        #expect(try CtlCommand.splitKeyValue(["0x0102", "0x03"]) == (["0x0102"], ["0x03"]))
        #expect(try CtlCommand.splitKeyValue(["key", "1", "2", "value", "3"]) == (["1", "2"], ["3"]))
        #expect(try CtlCommand.splitKeyValue(["0x01", "hex", "02", "03"]) == (["0x01"], ["hex", "02", "03"]))
        #expect(throws: (any Error).self) { try CtlCommand.splitKeyValue(["1", "2", "3"]) }
    }
}
