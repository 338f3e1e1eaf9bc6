import Foundation
import Testing

@testable import Sluice

/// `sluice run` finds its kernel-side object wherever it is started from.
@Suite struct RedirectProgramLocationTests {
    /// A scratch directory with `files` (relative paths) created empty.
    private func tree(_ files: [String]) throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-locate-\(UUID().uuidString)").path
        for file in files {
            let path = root + "/" + file
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            #expect(FileManager.default.createFile(atPath: path, contents: Data([0x7f])))
        }
        return root
    }

    @Test func installedLayoutIsFoundFromAnyDirectory() throws {
        let root = try tree(["bin/sluice", "lib/sluice/sluice_redirect.o"])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let candidates = RedirectProgramLocation.candidates(
            executablePath: root + "/bin/sluice", environmentValue: nil, currentDirectory: "/")
        #expect(RedirectProgramLocation.locate(in: candidates) == root + "/lib/sluice/sluice_redirect.o")
    }

    @Test func besideTheBinaryComesBeforeTheLibraryDirectory() throws {
        let root = try tree(["bin/sluice", "bin/sluice_redirect.o", "lib/sluice/sluice_redirect.o"])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let candidates = RedirectProgramLocation.candidates(
            executablePath: root + "/bin/sluice", environmentValue: nil, currentDirectory: nil)
        #expect(RedirectProgramLocation.locate(in: candidates) == root + "/bin/sluice_redirect.o")
    }

    @Test func aBuildTreeFindsItsOwnProgramsFolder() throws {
        let root = try tree([
            ".build/x86_64-unknown-linux-gnu/release/sluice", "programs/build/sluice_redirect.o",
        ])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let candidates = RedirectProgramLocation.candidates(
            executablePath: root + "/.build/x86_64-unknown-linux-gnu/release/sluice", environmentValue: nil,
            currentDirectory: "/tmp")
        #expect(RedirectProgramLocation.locate(in: candidates) == root + "/programs/build/sluice_redirect.o")
    }

    @Test func theEnvironmentVariableWinsAndNonFilesAreSkipped() throws {
        let root = try tree(["bin/sluice", "bin/sluice_redirect.o", "custom/redirect.o"])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let custom = RedirectProgramLocation.candidates(
            executablePath: root + "/bin/sluice", environmentValue: root + "/custom/redirect.o", currentDirectory: nil)
        #expect(RedirectProgramLocation.locate(in: custom) == root + "/custom/redirect.o")
        // A directory where the file should be is not a program.
        let directory = RedirectProgramLocation.candidates(
            executablePath: root + "/bin/sluice", environmentValue: root + "/custom", currentDirectory: nil)
        #expect(RedirectProgramLocation.locate(in: directory) == root + "/bin/sluice_redirect.o")
    }

    @Test func nothingFoundIsNil() throws {
        let root = try tree(["bin/sluice"])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let candidates = RedirectProgramLocation.candidates(
            executablePath: root + "/bin/sluice", environmentValue: nil, currentDirectory: root)
        #expect(RedirectProgramLocation.locate(in: candidates) == nil)
        #expect(candidates.contains(root + "/bin/sluice_redirect.o"))
    }

    @Test func theTestBinaryFindsThisCheckoutsProgram() throws {
        // The test bundle runs from .build/…/debug; programs/build.sh has built the object in this checkout.
        let found = try #require(RedirectProgramLocation.locate())
        #expect(found.hasSuffix("programs/build/sluice_redirect.o"))
    }

    @Test func automaticTapNamesFitIFNAMSIZ() {
        #expect(TapDevice.automaticName(for: "eth0") == "eth0-tap")
        let long = TapDevice.automaticName(for: "enp0s31f6abcdefg")
        #expect(long.utf8.count == 15)
        #expect(long.hasSuffix("-tap"))
        #expect(long.hasPrefix("enp0s31f6ab"))
    }
}
