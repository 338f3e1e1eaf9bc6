import BPFObject
import BPFVM
import Foundation
import Testing

/// Every BPF object Debian's xdp-tools package ships must load.
@Suite("xdp-tools objects")
struct ShippedObjectTests {
    /// `/usr/lib/*/bpf/*.o` and `/usr/lib/bpf/*.o`.
    static let objects: [String] = {
        var directories = ["/usr/lib/bpf"]
        let lib = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib")) ?? []
        directories += lib.map { "/usr/lib/\($0)/bpf" }
        return directories.flatMap { directory in
            ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
                .filter { $0.hasSuffix(".o") }.sorted().map { "\(directory)/\($0)" }
        }
    }()

    @Test("xdp-tools is installed and ships objects")
    func objectsExist() {
        #expect(Self.objects.count >= 10, "xdp-tools objects under /usr/lib/*/bpf: \(Self.objects)")
    }

    @Test("every shipped object loads and every XDP program links", arguments: objects)
    func loads(path: String) throws {
        let object = try BPFObjectFile(path: path)
        #expect(!object.programs.isEmpty)
        #expect(object.license.contains("GPL"))
        for info in object.programs {
            if info.isXDP {
                let program = try object.program(named: info.name, section: info.section)
                #expect(program.instructions.count >= info.instructionCount)
                try expectDecodes(program)
            } else {
                // Tracing programs (xdpdump's fentry/fexit) use CO-RE: refused with the reason, not a crash.
                do {
                    try expectDecodes(try object.program(named: info.name, section: info.section))
                } catch let error as ObjectLoadError {
                    #expect(error.isUnsupportedFeature && error.reason.contains("not supported"), "\(error)")
                }
            }
        }
    }

    @Test("the dispatcher links its ten freplace slots and compat_test as .text sub-programs")
    func dispatcher() throws {
        let path = try #require(Self.objects.first { $0.hasSuffix("/xdp-dispatcher.o") })
        let object = try BPFObjectFile(path: path)
        #expect(object.programs.map(\.name) == ["xdp_dispatcher", "xdp_pass"])
        let conf = try #require(object.globals.first { $0.name == "conf" })
        #expect(conf.section == ".rodata" && conf.offset == 0 && conf.size == 124)
        let program = try object.program()
        #expect(program.name == "xdp_dispatcher")
        let calls = program.calls(.local)
        #expect(calls.count == 11)
        // Each slot function is appended once; each call lands right after an exit (a function start).
        let targets = Set(calls.map(program.target(of:)))
        #expect(targets.count == 11)
        #expect(targets.allSatisfy { program.instructions[$0 - 1].opcode == 0x95 })
        #expect(program.siblings.keys.sorted() == ["xdp_pass"])
    }

    @Test("xdpdump's tracing object lists its fentry/fexit programs, has no XDP program, and refuses CO-RE")
    func tracingObject() throws {
        let path = try #require(Self.objects.first { $0.hasSuffix("/xdpdump_bpf.o") })
        let object = try BPFObjectFile(path: path)
        #expect(object.programs.map(\.section) == ["fentry/func", "fexit/func"])
        #expect(object.maps.map(\.name) == ["xdpdump_perf_map", ".data"])
        let none = try #require(throws: ObjectLoadError.self) { try object.program() }
        #expect(none.reason.hasPrefix("no XDP program"))
        let core = try #require(throws: ObjectLoadError.self) { try object.program(named: "trace_on_entry") }
        #expect(core.isUnsupportedFeature)
        #expect(core.reason.contains("CO-RE relocation against struct xdp_buff (field byte offset of xdp_buff.data)"))
    }
}
