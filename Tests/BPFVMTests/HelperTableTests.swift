import Testing

@testable import BPFVM

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Helper table")
struct HelperTableTests {
    static let helpers = HelperTable.all.filter { $0.id != nil }
    static let kfuncs = HelperTable.all.filter { $0.id == nil }

    @Test("ids and names are unique")
    func unique() {
        let ids = Self.helpers.compactMap(\.id)
        #expect(Set(ids).count == ids.count)
        let names = HelperTable.all.map(\.name)
        #expect(Set(names).count == names.count)
    }

    @Test("every helper issue 3 asks for is present under its kernel id")
    func required() {
        let required: [Int32: String] = [
            1: "bpf_map_lookup_elem", 2: "bpf_map_update_elem", 3: "bpf_map_delete_elem", 5: "bpf_ktime_get_ns",
            6: "bpf_trace_printk", 7: "bpf_get_prandom_u32", 8: "bpf_get_smp_processor_id", 12: "bpf_tail_call",
            23: "bpf_redirect", 28: "bpf_csum_diff", 44: "bpf_xdp_adjust_head", 51: "bpf_redirect_map",
            54: "bpf_xdp_adjust_meta", 65: "bpf_xdp_adjust_tail", 69: "bpf_fib_lookup", 130: "bpf_ringbuf_output",
            131: "bpf_ringbuf_reserve", 132: "bpf_ringbuf_submit", 133: "bpf_ringbuf_discard", 181: "bpf_loop",
            188: "bpf_xdp_get_buff_len", 189: "bpf_xdp_load_bytes", 190: "bpf_xdp_store_bytes",
        ]
        for (id, name) in required { #expect(HelperTable.spec(id: id)?.name == name, "helper \(id)") }
    }

    /// `FN(name)` entries of `__BPF_FUNC_MAPPER`, in order (id = position), from the installed UAPI header.
    static func kernelHelperNames() throws -> [String] {
        let header = try TestFiles.read("/usr/include/linux/bpf.h")
        guard
            let start = header.firstRange(of: "#define ___BPF_FUNC_MAPPER(FN, ctx...)")
                ?? header.firstRange(of: "#define __BPF_FUNC_MAPPER(FN)")
        else { throw TestFiles.Failure(description: "no __BPF_FUNC_MAPPER in bpf.h") }
        var names: [String] = []
        for line in header[start.upperBound...].split(separator: "\n") {
            guard let open = line.firstRange(of: "FN("),
                let close = line[open.upperBound...].firstIndex(where: { $0 == "," || $0 == ")" })
            else {
                if names.isEmpty { continue } else { break }
            }
            names.append(String(line[open.upperBound..<close]))
        }
        return names
    }

    @Test(
        "helper ids and names agree with the kernel's __BPF_FUNC_MAPPER",
        .enabled(if: access("/usr/include/linux/bpf.h", R_OK) == 0, "needs the UAPI header /usr/include/linux/bpf.h"))
    func matchesKernelHeader() throws {
        let names = try Self.kernelHelperNames()
        #expect(names.first == "unspec" && names.count > 200)
        for spec in Self.helpers {
            let id = Int(spec.id!)
            #expect(id < names.count && "bpf_" + names[id] == spec.name, "\(spec.name) is not helper \(id)")
        }
    }

    @Test("tail call and loop, which the translator special-cases, are in the table without an implementation")
    func interpreterHelpers() throws {
        for id in [ControlHelperID.tailCall, ControlHelperID.loop] {
            let spec = try #require(HelperTable.spec(id: id))
            #expect(spec.implementation == nil && spec.refusal == nil)
        }
    }

    @Test("every entry that is neither refused nor done by the interpreter has an implementation")
    func implementations() {
        for spec in HelperTable.all {
            let interpreter = spec.id == ControlHelperID.tailCall || spec.id == ControlHelperID.loop
            if spec.refusal != nil || interpreter {
                #expect(spec.implementation == nil, "\(spec.name)")
            } else {
                #expect(spec.implementation != nil, "\(spec.name) has no implementation")
            }
        }
    }

    @Test("refused helpers resolve to nil but keep their reason")
    func refusal() throws {
        let fib = try #require(HelperTable.spec(id: 69))
        #expect(fib.refusal == "bpf_fib_lookup needs the kernel's FIB; not available in user space")
        #expect(HelperTable.function(id: 69) == nil)
        #expect(HelperTable.translationContext.helper(69) == nil)
        #expect(HelperTable.spec(id: 4) == nil && HelperTable.function(id: 999) == nil)
    }

    @Test("only the three xdp_adjust helpers change the packet")
    func changesPacket() {
        #expect(Set(HelperTable.all.filter(\.changesPacket).compactMap(\.id)) == [44, 54, 65])
    }

    @Test("argument counts follow the kernel prototypes (at most 5; kfuncs too)")
    func argumentCounts() {
        for spec in HelperTable.all { #expect(spec.arguments.count <= 5, "\(spec.name)") }
        #expect(HelperTable.spec(id: 28)?.arguments.count == 5)
        #expect(HelperTable.spec(id: 6)?.arguments == [.readableMemory, .constantSize])
        #expect(HelperTable.spec(id: 1)?.returns == .mapValueOrNull)
        #expect(HelperTable.spec(id: 131)?.returns == .ringbufRecordOrNull)
    }

    @Test("the dense callx table agrees with function(id:)")
    func denseTable() {
        #expect(HelperTable.count == 191)
        for id in 0..<HelperTable.count {
            let dense = HelperTable.byID[id].map { unsafeBitCast($0, to: UnsafeRawPointer.self) }
            let lookedUp = HelperTable.function(id: Int32(id)).map { unsafeBitCast($0, to: UnsafeRawPointer.self) }
            #expect(dense == lookedUp, "id \(id)")
        }
        #expect(HelperTable.byID[5] != nil && HelperTable.byID[12] == nil && HelperTable.byID[69] == nil)
    }

    @Test("kfuncs are Sluice's, named sluice_*, versioned _vN except sluice_abi_version, found only by name")
    func kfuncNaming() throws {
        #expect(Self.kfuncs.count >= 4)
        for spec in Self.kfuncs {
            #expect(spec.name.hasPrefix("sluice_"))
            if spec.name != "sluice_abi_version" {
                let suffix = try #require(spec.name.split(separator: "_").last)
                #expect(suffix.first == "v" && Int(suffix.dropFirst()) != nil, "\(spec.name) has no _vN suffix")
            }
            #expect(HelperTable.kfunc(named: spec.name)?.name == spec.name)
            #expect(HelperTable.kfuncFunction(named: spec.name) != nil)
        }
        #expect(HelperTable.kfunc(named: "bpf_ktime_get_ns") == nil)
        #expect(HelperTable.kfuncFunction(named: "sluice_frame_timestamp_ns_v9") == nil)
    }

    @Test("helpers bound through the table run in the interpreter: adjust_head then a length computed from ctx")
    func runsInTheInterpreter() throws {
        let instructions = try Assembler.assemble(
            """
            mov %r6, %r1
            mov %r2, -14
            call 44
            jne %r0, 0, +4
            ldxw %r2, [%r6+0]
            ldxw %r3, [%r6+4]
            mov %r0, %r3
            sub %r0, %r2
            exit
            """)
        let program = try ExecutableProgram(instructions: instructions, context: HelperTable.translationContext)
        let machine = Machine()
        let frame = TestFrame(packet: TestFrame.countingPacket())
        machine.environment.pointee.setFrame(
            hardStart: frame.buffer, dataOffset: 256, length: 60, metaLength: 0, frameSize: TestFrame.usableEnd)
        let result = machine.runChecked(program, r1: machine.contextPointer)
        #expect(result.fault == nil)
        #expect(result.returnValue == 74)
        #expect(machine.environment.pointee.data == frame.buffer + 242)
    }
}

extension HelperTableTests {
    @Test("callx reaches helpers through the dense table; an id without an implementation faults")
    func callxUsesTheDenseTable() throws {
        let instructions = try Assembler.assemble(
            """
            mov %r3, 5
            call %r3
            exit
            """)
        let program = try ExecutableProgram(instructions: instructions, context: HelperTable.translationContext)
        let machine = Machine()
        machine.environment.pointee.helperTable = HelperTable.byID
        machine.environment.pointee.helperTableCount = HelperTable.count
        machine.environment.pointee.clockNanos = 123_456
        #expect(machine.run(program, r1: machine.contextPointer).returnValue == 123_456)

        let refused = try ExecutableProgram(
            instructions: try Assembler.assemble("mov %r3, 69\ncall %r3\nexit"), context: HelperTable.translationContext
        )
        let fault = try #require(machine.runChecked(refused, r1: machine.contextPointer).fault)
        #expect(fault.kind == .unknownHelper(id: 69))
    }
}

@Suite("docs/ABI.md")
struct HelperDocTests {
    static let path: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/") + "/docs/ABI.md"
    }()

    @Test("the reference section is exactly what the table generates")
    func referenceIsGenerated() throws {
        let text = try TestFiles.read(Self.path)
        let begin = try #require(text.firstRange(of: "<!-- BEGIN GENERATED: HelperTable.referenceMarkdown()"))
        let bodyStart = try #require(text[begin.upperBound...].firstIndex(of: "\n"))
        let end = try #require(text.firstRange(of: "<!-- END GENERATED -->"))
        let documented = String(text[text.index(after: bodyStart)..<end.lowerBound])
        let generated = HelperTable.referenceMarkdown()
        #expect(documented == generated, "docs/ABI.md is out of date; its reference section must be:\n\(generated)")
    }

    @Test("every helper and kfunc is named in docs/ABI.md, with a summary")
    func everyEntryDocumented() throws {
        let text = try TestFiles.read(Self.path)
        for spec in HelperTable.all {
            #expect(text.contains("`\(spec.name)`"), "\(spec.name) missing from docs/ABI.md")
            #expect(HelperTable.summaries[spec.name] != nil, "\(spec.name) has no summary")
        }
        for spec in HelperTable.all where spec.id == nil {
            #expect(HelperTable.kfuncDeclarations[spec.name]?.contains("__ksym __weak") == true, "\(spec.name)")
        }
    }
}
