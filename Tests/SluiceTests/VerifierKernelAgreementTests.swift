import BPFObject
import BPFVM
import Foundation
import Sluice
import Testing

/// The verifier against the real thing: every example program in programs/ and every XDP object of xdp-tools is
/// accepted by Sluice's verifier (and by the kernel's), and unsafe C programs are rejected by both.
@Suite("Verifier: real programs and kernel agreement")
struct VerifierKernelAgreementTests {
    static let programsDirectory: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path + "/programs"
    }()

    /// programs/build/*.o, building them first if needed.
    static let exampleObjects: [String] = {
        let build = programsDirectory + "/build"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [programsDirectory + "/build.sh"]
        process.standardOutput = FileHandle.nullDevice
        try? process.run()
        process.waitUntilExit()
        let names = (try? FileManager.default.contentsOfDirectory(atPath: build)) ?? []
        return names.filter { $0.hasSuffix(".o") }.sorted().map { build + "/" + $0 }
    }()

    static func xdpPrograms(_ path: String) throws -> [ProgramSpec] {
        let object = try BPFObjectFile(path: path)
        return try object.programs.filter(\.isXDP).map { try object.program(named: $0.name, section: $0.section) }
    }

    @Test("every example program in programs/ is accepted", arguments: exampleObjects)
    func examplesAreAccepted(path: String) throws {
        let programs = try Self.xdpPrograms(path)
        #expect(!programs.isEmpty)
        for program in programs {
            do {
                let report = try Verifier().verify(program)
                print("\(program.name): \(report.instructionsProcessed) insns, \(report.statesStored) states, \(report.statesPruned) pruned, stack \(report.stackDepth)")
            } catch {
                Issue.record("\(path) \(program.name):\n\(error)")
            }
        }
    }

    /// Debian's xdp-tools objects (`/usr/lib/*/bpf/*.o`, `/usr/lib/bpf/*.o`).
    static let xdpToolsObjects: [String] = {
        var directories = ["/usr/lib/bpf"]
        let lib = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib")) ?? []
        directories += lib.map { "/usr/lib/\($0)/bpf" }
        return directories.flatMap { directory in
            ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
                .filter { $0.hasSuffix(".o") }.sorted().map { "\(directory)/\($0)" }
        }
    }()

    @Test("every XDP program of xdp-tools is accepted", arguments: xdpToolsObjects)
    func xdpToolsAreAccepted(path: String) throws {
        for program in try Self.xdpPrograms(path) {
            do {
                let report = try Verifier().verify(program)
                print("\(path) \(program.name): \(report.instructionsProcessed) insns, \(report.statesStored) states")
            } catch {
                Issue.record("\(path) \(program.name):\n\(error)")
            }
        }
    }
}
