import Foundation
import Testing

@testable import Sluice

/// `sluice replay` as a Unix tool, run as a real process: every kind of output path (regular file, symbolic link,
/// FIFO, /dev/null, `-`), `-` as the capture, and SIGINT/SIGTERM during a long replay.
@Suite(.serialized) struct ReplayCommandLineTests {
    static func replay(_ arguments: [String], stdin: String? = nil, timeout: Double = 120) throws -> Shell.Output {
        let object = try Repository.object("firewall")
        var command = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"" + (stdin.map { " < '\($0)'" } ?? ""), Repository.root]
        command += [BenchCommandTests.sluice, "replay", object] + arguments
        return try Shell.run(command, timeoutSeconds: timeout)
    }

    static let capture = Repository.path("pcaps/firewall.pcap")
    static let maps = ["--maps", Repository.path("pcaps/firewall.maps.json")]

    /// The results of a replay to a plain new file, for comparison with the other kinds.
    static func reference(in directory: TemporaryDirectory) throws -> String {
        let out = try replay([capture, "--results", directory.path + "/reference.jsonl"] + maps)
        #expect(out.status == 0, "\(out.stderr)")
        let text = try String(contentsOfFile: directory.path + "/reference.jsonl", encoding: .utf8)
        #expect(text.hasSuffix("}}\n") && text.contains("{\"maps\":"))
        return text
    }

    static func temporaryFiles(_ directory: String) -> [String] {
        ((try? FileManager.default.subpathsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".tmp") }
    }

    @Test func aRegularFileIsReplacedAtomicallyKeepingItsModeAndNoOtherFileIsTouched() throws {
        let directory = try TemporaryDirectory()
        let expected = try Self.reference(in: directory)
        let path = try directory.file("r.jsonl", Array("old\n".utf8))
        chmod(path, 0o600)
        // Files that happen to have the temporary names belong to the user: they must survive.
        _ = try directory.file("r.jsonl.tmp", Array("mine\n".utf8))
        let out = try Self.replay([Self.capture, "--results", path] + Self.maps)
        #expect(out.status == 0, "\(out.stderr)")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == expected)
        #expect(try directory.contents("r.jsonl.tmp") == Array("mine\n".utf8))
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(Self.temporaryFiles(directory.path) == ["r.jsonl.tmp"])
    }

    @Test func aSymbolicLinkIsKeptAndItsTargetReplaced() throws {
        let directory = try TemporaryDirectory()
        let expected = try Self.reference(in: directory)
        _ = try directory.file("target.jsonl", Array("old\n".utf8))
        let link = directory.path + "/link.jsonl"
        #expect(symlink("target.jsonl", link) == 0)
        let dangling = directory.path + "/dangling.jsonl"
        #expect(symlink("created.jsonl", dangling) == 0)

        let out = try Self.replay([Self.capture, "--results", link] + Self.maps)
        #expect(out.status == 0, "\(out.stderr)")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == "target.jsonl")
        #expect(try String(contentsOfFile: directory.path + "/target.jsonl", encoding: .utf8) == expected)

        let second = try Self.replay([Self.capture, "--results", dangling] + Self.maps)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: dangling) == "created.jsonl")
        #expect(try String(contentsOfFile: directory.path + "/created.jsonl", encoding: .utf8) == expected)
        #expect(Self.temporaryFiles(directory.path).isEmpty)
    }

    @Test(.timeLimit(.minutes(2))) func aFIFOIsWrittenInPlace() throws {
        let directory = try TemporaryDirectory()
        let expected = try Self.reference(in: directory)
        let fifo = directory.path + "/results.fifo"
        #expect(mkfifo(fifo, 0o644) == 0)
        // The reader: cat copies what arrives to a regular file.
        let reader = try Shell.start(["/bin/sh", "-c", "cat \"$0\" > \"$1\"", fifo, directory.path + "/copied.jsonl"])
        let out = try Self.replay([Self.capture, "--results", fifo] + Self.maps)
        let catOut = reader.finish()
        #expect(out.status == 0 && catOut.status == 0, "\(out.stderr) \(catOut.stderr)")
        var info = stat()
        #expect(lstat(fifo, &info) == 0 && info.st_mode & S_IFMT == S_IFIFO, "the FIFO must still be a FIFO")
        #expect(try String(contentsOfFile: directory.path + "/copied.jsonl", encoding: .utf8) == expected)
        #expect(Self.temporaryFiles(directory.path).isEmpty)
    }

    @Test func devNullAndDevStdoutAreWrittenInPlace() throws {
        let directory = try TemporaryDirectory()
        let expected = try Self.reference(in: directory)
        let null = try Self.replay([Self.capture, "--results", "/dev/null", "--out", directory.path + "/v"] + Self.maps)
        #expect(null.status == 0, "\(null.stderr)")
        var info = stat()
        #expect(stat("/dev/null", &info) == 0 && info.st_mode & S_IFMT == S_IFCHR, "/dev/null must stay a device")
        #expect(Self.temporaryFiles("/dev").isEmpty)

        let stdout = try Self.replay([Self.capture, "--results", "/dev/stdout"] + Self.maps)
        #expect(stdout.status == 0, "\(stdout.stderr)")
        #expect(stdout.stdout == expected)
    }

    @Test func dashIsStandardOutputForResultsAndStandardInputForTheCapture() throws {
        let directory = try TemporaryDirectory()
        let expected = try Self.reference(in: directory)
        let out = try Self.replay(["-", "--results", "-"] + Self.maps, stdin: Self.capture)
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stdout == expected)
        #expect(out.stderr.contains("84 packets"), "the summary goes to standard error: \(out.stderr)")
        #expect(!FileManager.default.fileExists(atPath: Repository.path("-")), "no file named '-' may appear")
    }

    @Test func aDirectoryOrDashForTheVerdictDirectoryIsRefusedWithoutWritingAnything() throws {
        let directory = try TemporaryDirectory()
        let asResults = try Self.replay([Self.capture, "--results", directory.path] + Self.maps)
        #expect(asResults.status != 0)
        #expect(asResults.stderr.contains("Is a directory"), "\(asResults.stderr)")
        let dash = try Self.replay([Self.capture, "--out", "-"] + Self.maps)
        #expect(dash.status != 0)
        #expect(dash.stderr.contains("--out takes a directory"), "\(dash.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }

    /// A capture big enough that the replay is still running when the signal comes (2 M 60-byte frames, 152 MB):
    /// one block of 50 000 records, 1 µs apart, written over and over.
    static func writeLargeCapture(_ path: String, packets: Int) throws {
        let frame = sampleFrame(length: 60, seed: 3)
        let perBlock = 50_000
        var block = ClassicPcapBytes(nanosecond: true)
        for index in 0..<perBlock { block.record(seconds: 1_700_000_000, fraction: UInt32(index) * 1000, frame) }
        let header = Data(block.bytes.prefix(24))
        let records = Data(block.bytes.dropFirst(24))
        FileManager.default.createFile(atPath: path, contents: header)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        for _ in 0..<(packets / perBlock) { try handle.write(contentsOf: records) }
    }

    @Test(.timeLimit(.minutes(3)), arguments: [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")])
    func aSignalDuringALongReplayPrintsTheSummarySoFarAndFinishesTheOutputs(signal: Int32, name: String) throws {
        let directory = try TemporaryDirectory()
        let capture = directory.path + "/large.pcap"
        let total = 2_000_000
        try Self.writeLargeCapture(capture, packets: total)
        let results = directory.path + "/results.jsonl"
        let object = try Repository.object("firewall")
        let running = try Shell.start(
            [BenchCommandTests.sluice, "replay", object, capture, "--results", results, "--out", directory.path + "/v",
             "--bytes"] + Self.maps)
        // Wait until the replay is under way: its temporary results file has had a buffer written to it.
        let deadline = Date().addingTimeInterval(60)
        var size = 0
        while Date() < deadline && running.process.isRunning {
            size = ((try? FileManager.default.attributesOfItem(atPath: results + ".tmp"))?[.size] as? Int) ?? 0
            if size > 0 { break }
            usleep(20_000)
        }
        try #require(running.process.isRunning && size > 0, "the replay did not start: \(running.stderrSoFar)")
        #expect(kill(running.process.processIdentifier, signal) == 0)
        let out = running.finish()

        #expect(out.status == 128 + signal, "exit status \(out.status): \(out.stderr)")
        #expect(out.stderr.contains("interrupted by \(name)"), "\(out.stderr)")
        #expect(Self.temporaryFiles(directory.path).isEmpty, "left behind: \(Self.temporaryFiles(directory.path))")
        // The outputs are complete files: every packet line up to the stop, then the maps line.
        let lines = try String(contentsOfFile: results, encoding: .utf8).split(separator: "\n")
        let packetLines = lines.count - 1
        #expect(packetLines > 0 && packetLines < total, "\(packetLines) packet lines")
        #expect(lines.last?.hasPrefix("{\"maps\":") == true)
        #expect(out.stderr.contains("the outputs cover the first \(packetLines) packets"), "\(out.stderr)")
        let written = try XDPAction.allCases.reduce(0) {
            $0 + (try readAll(directory.path + "/v/" + VerdictPcapWriters.fileName(for: $1)).count)
        }
        #expect(written == packetLines)
    }
}

