import BPFObject
import BPFVM
import Foundation
import Sluice
import Testing

/// The verifier corpus (`VerifierCorpus/*.cases`): small XDP programs in C and inline assembly, each recorded with
/// the decision of the 6.18 kernel's verifier and, for refusals, the kernel's message. Sluice's verifier must make
/// the same decision on every one and name the same message; as root the test also loads every case into the
/// running kernel through libbpf and checks that it still decides, and says, what is recorded.
///
/// Case format: `=== name`, then `key: value` lines — `expect: accept|refuse`, `kernel: <message>` (refusals),
/// optionally `caps: bpf` (the kernel half loads it with only CAP_BPF and CAP_NET_ADMIN, see `ReducedCapabilities`)
/// and `cc: v4` (the Swift toolchain's clang, -mcpu=v4) — then `---` and the source, which follows `prelude.h`. The
/// XDP function is always `prog`.
@Suite("Verifier: corpus compared with the kernel's verifier")
struct VerifierCorpusTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var file: String
        var accept: Bool
        var kernel: String
        var reducedCapabilities: Bool
        var mcpu: String
        var body: String
        var testDescription: String { "\(file): \(name)" }
    }

    static let directory: String = {
        var url = URL(fileURLWithPath: #filePath)
        url.deleteLastPathComponent()
        return url.path + "/VerifierCorpus"
    }()

    static let prelude: String = (try? String(contentsOfFile: directory + "/prelude.h", encoding: .utf8)) ?? ""

    static let cases: [Case] = {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasSuffix(".cases") }.sorted()
        var result: [Case] = []
        for file in files {
            guard let text = try? String(contentsOfFile: directory + "/" + file, encoding: .utf8) else { continue }
            var current: Case? = nil
            var inBody = false
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix("=== ") {
                    if let current { result.append(current) }
                    current = Case(
                        name: String(line.dropFirst(4)), file: file, accept: false, kernel: "",
                        reducedCapabilities: false, mcpu: "v3", body: "")
                    inBody = false
                    continue
                }
                guard current != nil else { continue }
                if inBody {
                    current!.body += line + "\n"
                } else if line == "---" {
                    inBody = true
                } else if let colon = line.firstIndex(of: ":") {
                    let key = line[..<colon].trimmingCharacters(in: .whitespaces)
                    let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                    switch key {
                    case "expect": current!.accept = value == "accept"
                    case "kernel": current!.kernel = value
                    case "caps": current!.reducedCapabilities = value == "bpf"
                    case "cc": current!.mcpu = value
                    default: break
                    }
                }
            }
            if let current { result.append(current) }
        }
        return result
    }()

    static func compile(_ c: Case) throws -> String {
        let base = "corpus_" + c.name.map { $0.isLetter || $0.isNumber ? $0 : "_" }.map(String.init).joined()
        return try BPFCompiler.compile(source: prelude + c.body, name: String(base.prefix(48)), mcpu: c.mcpu)
    }

    /// Sluice's verdict: nil when accepted, else the refusal.
    static func sluiceVerdict(_ path: String) throws -> VerifierError? {
        let program = try BPFObjectFile(path: path).program(named: "prog")
        do {
            _ = try Verifier().verify(program)
            return nil
        } catch {
            return error
        }
    }

    @Test("the corpus has at least 150 unsafe and 40 safe programs, each refusal with the kernel's message")
    func corpusShape() {
        let refused = Self.cases.filter { !$0.accept }
        let safe = Self.cases.filter(\.accept)
        #expect(refused.count >= 150, "\(refused.count) unsafe cases")
        #expect(safe.count >= 40, "\(safe.count) safe cases")
        for c in refused where c.kernel.isEmpty { Issue.record("\(c.file): \(c.name) records no kernel message") }
        let names = Self.cases.map(\.name)
        #expect(Set(names).count == names.count, "case names must be unique")
    }

    @Test("Sluice's verifier decides as recorded and names the kernel's message", arguments: cases)
    func sluiceDecides(_ c: Case) throws {
        let verdict = try Self.sluiceVerdict(try Self.compile(c))
        if c.accept {
            if let verdict { Issue.record("refused, but the kernel accepts it:\n\(verdict)") }
        } else if let verdict {
            #expect(
                verdict.kernelReason?.contains(c.kernel) == true,
                "the refusal lacks the kernel's message '\(c.kernel)':\n\(verdict)")
        } else {
            Issue.record("accepted, but the kernel refuses it with '\(c.kernel)'")
        }
    }

    @Test(
        "the kernel's verifier decides the same, in the recorded words",
        .enabled(
            if: KernelPrivileges.sufficient, "loading into the kernel needs CAP_BPF and CAP_NET_ADMIN (run as root)"),
        arguments: cases)
    func kernelDecides(_ c: Case) throws {
        let path = try Self.compile(c)
        let load: @Sendable () throws -> KernelVerdict = {
            try KernelRunner.verify(objectPath: path, program: .function("prog"))
        }
        let kernel = c.reducedCapabilities ? try ReducedCapabilities.run(load) : try load()
        let sluice = try Self.sluiceVerdict(path)
        switch kernel {
        case .accepted:
            #expect(c.accept, "the kernel accepts it, but the corpus records a refusal")
            #expect(sluice == nil, "the kernel accepts it, Sluice refuses:\n\(sluice.map(String.init(describing:)) ?? "")")
        case .rejected(let log):
            #expect(!c.accept, "the kernel refuses it:\n\(log.suffix(600))")
            #expect(sluice != nil, "the kernel refuses it, Sluice accepts it")
            if !c.kernel.isEmpty {
                #expect(log.contains(c.kernel), "the kernel's log lacks '\(c.kernel)':\n\(log.suffix(600))")
            }
        }
    }
}
