import BPFObject
import Foundation
import Testing

@testable import Sluice

/// Bad input gets a clear error that says what is wrong and where, exits non-zero and writes nothing.
@Suite(.serialized) struct BadInputTests {
    @Test func jsonSyntaxErrorsGiveTheLineAndColumn() throws {
        func error(_ text: String) -> StrictJSON.SyntaxError? {
            do {
                _ = try StrictJSON.parse(Array(text.utf8))
                return nil
            } catch { return error }
        }
        #expect(error("{\"a\": {\"01\": \"02\",}\n}")?.description == "line 1, column 19: expected a string key, found '}'")
        #expect(error("{\n  \"a\": 01\n}")?.position == .init(line: 2, column: 8))
        #expect(error("{\"a\": \"x")?.message == "unterminated string")
        #expect(error("{\"a\": 1} x")?.message == "unexpected 'x' after the JSON value")
        #expect(error("")?.message == "expected a value, found the end of input")
        #expect(error(String(repeating: "[", count: 100))?.message == "nested deeper than 64 levels")
        #expect(error("{\"k\": 1,\n \"k\": 2}")?.description == "line 2, column 2: duplicate key \"k\" (first at line 1, column 2)")
        #expect(
            try StrictJSON.parse(Array(#"{"a":{"b":"\u00e9\ud83d\ude00\n"},"c":[1,-2.5e3,true,null]}"#.utf8))
                == .object([
                    .init(key: "a", value: .object([.init(key: "b", value: .string("é😀\n"), position: .init(line: 1, column: 7))]), position: .init(line: 1, column: 2)),
                    .init(key: "c", value: .array([.number("1"), .number("-2.5e3"), .bool(true), .null]), position: .init(line: 1, column: 35)),
                ]))
    }

    @Test func mapsFilesRefuseDuplicateMapsAndKeys() throws {
        func error(_ text: String) -> String? {
            var state = InitialState()
            do {
                try state.addMaps(json: Array(text.utf8), source: "m.json")
                return nil
            } catch { return error.description }
        }
        #expect(error(#"{"m": {"01": "02"}, "m": {}}"#) == #"m.json: not valid JSON: line 1, column 21: duplicate key "m" (first at line 1, column 2)"#)
        #expect(error(#"{"m": {"0a": "02", "0x0A": "03"}}"#) == "m.json: line 1, column 20: map 'm': key '0x0A' is the same key as '0a'")
        #expect(error(#"{"m": {"zz": "02"}}"#) == "m.json: line 1, column 8: map 'm': key 'zz' is not hex")
        #expect(error(#"{"m": {"01": 2}}"#) == "m.json: line 1, column 8: map 'm' key 01: value must be a hex string")
        #expect(error(#"[1]"#)?.hasPrefix("m.json: expected an object of maps") == true)
        var state = InitialState()
        try state.addMaps(json: Array(#"{"m": {"02": "bb", "01": "aa"}}"#.utf8), source: "m.json")
        #expect(state.maps["m"]?.map(\.key) == [[1], [2]])
    }

    /// `--set` takes the variable's BTF type: signed and unsigned of every width, bool, enum.
    @Test func setIsRangeCheckedAgainstTheBTFType() throws {
        let object = try BPFCompiler.compile(
            source: """
                #include <linux/bpf.h>
                #include <bpf/bpf_helpers.h>
                enum mode { OFF, ON };
                volatile const __s8 s8 = 0;
                volatile const __u8 u8 = 0;
                volatile const __s16 s16 = 0;
                volatile const __u32 u32 = 0;
                volatile const __s64 s64 = 0;
                volatile const _Bool flag = 0;
                volatile const enum mode mode = OFF;
                SEC("xdp") int prog(struct xdp_md *ctx) { return s8 + u8 + s16 + u32 + s64 + flag + mode > 0 ? XDP_PASS : XDP_DROP; }
                char _license[] SEC("license") = "GPL";
                """, name: "setrange")
        let file = try BPFObjectFile(path: object)
        func set(_ assignment: String) -> String? {
            var state = InitialState()
            do {
                try state.addGlobal(assignment, object: file)
                return nil
            } catch { return error.description }
        }
        for accepted in ["s8=-128", "s8=127", "u8=255", "u8=0", "s16=-32768", "u32=4294967295", "s64=-9223372036854775808",
                         "s64=9223372036854775807", "flag=1", "mode=1", "u8=0xff"] {
            #expect(set(accepted) == nil, "--set \(accepted)")
        }
        #expect(set("s8=-1000") == "--set s8: -1000 is out of range for a signed 8-bit integer (-128...127)")
        #expect(set("s8=128") == "--set s8: 128 is out of range for a signed 8-bit integer (-128...127)")
        #expect(set("u8=-1") == "--set u8: -1 is out of range for an unsigned 8-bit integer (0...255)")
        #expect(set("u8=256") == "--set u8: 256 is out of range for an unsigned 8-bit integer (0...255)")
        #expect(set("s16=32768")?.contains("(-32768...32767)") == true)
        #expect(set("u32=4294967296")?.contains("(0...4294967295)") == true)
        #expect(set("s64=9223372036854775808")?.contains("signed 64-bit") == true)
        #expect(set("flag=2") == "--set flag: 2 is out of range for a bool (0...1)")
        #expect(set("mode=-1")?.contains("unsigned 32-bit") == true)
        var state = InitialState()
        try state.addGlobal("s8=-2", object: file)
        #expect(state.globals["s8"] == [0xfe])
    }

    /// Runs `sluice ARGS` in a fresh directory and checks that it failed with `message` and wrote nothing there.
    func refuses(_ arguments: [String], saying message: String, stdin: String = "/dev/null") throws {
        let directory = try TemporaryDirectory()
        let out = try Shell.run(
            ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\" < \"\(stdin)\"", directory.path, BenchCommandTests.sluice]
                + arguments + ["--results", "r.jsonl", "--out", "v"], timeoutSeconds: 60)
        #expect(out.status != 0, "sluice \(arguments.joined(separator: " ")) succeeded")
        #expect(out.stderr.contains(message), "sluice \(arguments.joined(separator: " ")): \(out.stderr)")
        #expect(!out.stderr.contains("Fatal error") && out.status < 128, "crashed: \(out.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }

    @Test func devicesDirectoriesAndBadNumbersAreRefusedBeforeAnythingIsWritten() throws {
        let object = try Repository.object("firewall")
        let capture = Repository.path("pcaps/firewall.pcap")
        try refuses(["replay", object, capture, "--maps", "/dev/zero"], saying: "/dev/zero: is a device, not a file")
        try refuses(["replay", object, capture, "--maps", "/tmp"], saying: "/tmp: is a directory, not a file")
        try refuses(["replay", "/dev/zero", capture], saying: "/dev/zero: is a device, not an object file")
        try refuses(["replay", "/tmp", capture], saying: "/tmp: is a directory, not an object file")
        try refuses(["replay", object, "/tmp"], saying: "/tmp): Is a directory")
        try refuses(["replay", object, capture, "--limit", "-5"], saying: "'-5' is negative")
        try refuses(["replay", object, capture, "--seed", "-1"], saying: "'-1' is negative: a seed is 0...")
        try refuses(["replay", object, capture, "--limit", "99999999999999999999"], saying: "is more than the limit")
        let globals = try Repository.object("globals")
        try refuses(["replay", globals, capture, "--set", "verbose=-1000"], saying: "out of range for an unsigned 8-bit")
        let directory = try TemporaryDirectory()
        let dup = try directory.file("dup.json", Array("{\"blocked_ports\": {\"01\": \"01\"},\n \"blocked_ports\": {}}".utf8))
        try refuses(["replay", object, capture, "--maps", dup], saying: "line 2, column 2: duplicate key \"blocked_ports\"")
    }

    @Test func disasmSaysWhatIsWrongWithItsInput() throws {
        for (input, message) in [("/dev/null", "/dev/null: is a device"), ("/tmp", "/tmp: is a directory")] {
            let out = try Shell.run([BenchCommandTests.sluice, "disasm", input], timeoutSeconds: 30)
            #expect(out.status != 0 && out.stderr.contains(message), "\(input): \(out.status) \(out.stderr)")
        }
        let directory = try TemporaryDirectory()
        let empty = try directory.file("empty.bin", [])
        let out = try Shell.run([BenchCommandTests.sluice, "disasm", empty], timeoutSeconds: 30)
        #expect(out.status != 0 && out.stderr.contains("empty.bin: is empty"), "\(out.stderr)")
    }

    @Test func benchRefusesHugeCountsAndNonFiniteDurationsWithTheReason() throws {
        let object = try Repository.object("parse_bench")
        for (arguments, message) in [
            (["bench", object, "--packets", "999999999999"], "is more than the limit of 2000000"),
            (["bench", object, "--packets", "-1"], "'-1' is negative"),
            (["bench", "live", "--duration", "nan"], "'nan' is not a finite number of seconds"),
            (["bench", "live", "--duration", "inf"], "'inf' is not a finite number of seconds"),
            (["run", "--iface", "lo", object, "--batch", "-3"], "'-3' is negative"),
            (["run", "--iface", "lo", object, "--duration", "inf"], "not a finite number"),
        ] {
            let out = try Shell.run([BenchCommandTests.sluice] + arguments, timeoutSeconds: 30)
            #expect(out.status != 0 && out.status < 128, "\(arguments): exit \(out.status)")
            #expect(out.stderr.contains(message), "\(arguments): \(out.stderr)")
        }
    }
}
