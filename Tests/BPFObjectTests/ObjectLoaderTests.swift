import BPFObject
import BPFVM
import Foundation
import Testing

/// Objects compiled at test time with clang, loaded, and checked instruction by instruction.
@Suite("BPFObject loader")
struct ObjectLoaderTests {
    static let mapsAndGlobalsSource = """
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>

        struct {
            __uint(type, BPF_MAP_TYPE_HASH);
            __type(key, __u32);
            __type(value, __u64);
            __uint(max_entries, 128);
            __uint(map_flags, BPF_F_NO_PREALLOC);
        } flows SEC(".maps");

        // Declared after the BTF map, ordered before it (libbpf: legacy maps first).
        struct bpf_map_def { unsigned int type, key_size, value_size, max_entries, map_flags; };
        struct bpf_map_def SEC("maps") legacy_counts = {
            .type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 8, .max_entries = 16,
        };

        const volatile __u32 threshold = 7;
        const volatile __u16 port = 0x1234;
        __u64 packets = 3;
        __u32 dropped;
        __u64 bytes_seen;

        SEC("xdp")
        int count(struct xdp_md *ctx) {
            __u32 key = 1;
            __u64 *v = bpf_map_lookup_elem(&flows, &key);
            if (v) *v += 1;
            __u64 *c = bpf_map_lookup_elem(&legacy_counts, &key);
            if (c) *c += 1;
            packets++;
            bytes_seen += ctx->data_end - ctx->data;
            const char *m = ctx->ingress_ifindex == 3 ? "first literal" : "second";
            bpf_trace_printk(m, 7);
            if (ctx->ingress_ifindex > threshold) { dropped++; return XDP_DROP; }
            return port == 80 ? XDP_TX : XDP_PASS;
        }
        char _license[] SEC("license") = "Dual MIT/GPL";
        """

    @Test("legacy and BTF maps come first, in libbpf's order, with their definitions")
    func mapDefinitions() throws {
        let object = try BPFCompiler.load(Self.mapsAndGlobalsSource)
        try #require(object.maps.count >= 2)
        #expect(
            object.maps[0] == MapSpec(name: "legacy_counts", type: .array, keySize: 4, valueSize: 8, maxEntries: 16))
        // A BTF-defined map also carries its key and value types (for MapDump); legacy definitions have none.
        var flows = MapSpec(name: "flows", type: .hash, keySize: 4, valueSize: 8, maxEntries: 128, flags: 1)
        flows.keyType = .integer(name: "unsigned int", size: 4, encoding: .unsigned)
        flows.valueType = .integer(name: "unsigned long long", size: 8, encoding: .unsigned)
        #expect(object.maps[1] == flows)
        #expect(object.license == "Dual MIT/GPL")
        #expect(object.programs.map(\.name) == ["count"])
    }

    @Test("global-data sections become one-element array maps in section order, .rodata read-only")
    func globalDataMaps() throws {
        let path = try BPFCompiler.compile(Self.mapsAndGlobalsSource)
        let object = try BPFObjectFile(path: path)
        let elf = try ELFPatcher(path: path)
        let dataSections = (0..<elf.sectionCount).map(elf.name(ofSection:)).filter {
            $0.hasPrefix(".rodata") || $0.hasPrefix(".data") || $0.hasPrefix(".bss")
        }
        #expect(Set(dataSections) == [".rodata", ".rodata.str1.1", ".data", ".bss"])
        #expect(object.maps.dropFirst(2).map(\.name) == dataSections)
        for map in object.maps.dropFirst(2) {
            #expect(map.type == .array && map.keySize == 4 && map.maxEntries == 1, "\(map.name)")
            #expect(map.initialValue?.count == map.valueSize, "\(map.name)")
            #expect(map.readOnlyForProgram == map.name.hasPrefix(".rodata"), "\(map.name)")
        }

        func global(_ name: String) throws -> GlobalVariable {
            try #require(object.globals.first { $0.name == name }, "global \(name)")
        }
        func initial(_ variable: GlobalVariable) -> [UInt8] {
            let value = object.maps[variable.mapIndex].initialValue ?? []
            return Array(value[variable.offset..<(variable.offset + variable.size)])
        }
        let threshold = try global("threshold")
        let port = try global("port")
        let packets = try global("packets")
        #expect(threshold.section == ".rodata" && threshold.size == 4 && initial(threshold) == [7, 0, 0, 0])
        #expect(port.section == ".rodata" && port.size == 2 && initial(port) == [0x34, 0x12])
        #expect(packets.section == ".data" && packets.size == 8 && initial(packets) == [3, 0, 0, 0, 0, 0, 0, 0])
        let dropped = try global("dropped")
        let bytesSeen = try global("bytes_seen")
        #expect(dropped.section == ".bss" && dropped.size == 4 && initial(dropped) == [0, 0, 0, 0])
        #expect(bytesSeen.section == ".bss" && bytesSeen.size == 8 && dropped.offset != bytesSeen.offset)
        #expect(object.maps[dropped.mapIndex].name == ".bss")
    }

    @Test("lddw of maps and global data become pseudo-loads by map index (+ offset)")
    func mapPseudoLoads() throws {
        let object = try BPFCompiler.load(Self.mapsAndGlobalsSource)
        let program = try object.program()
        #expect(program.name == "count" && program.section == "xdp" && program.maps == object.maps)

        let mapLoads = program.loads(.mapByIndex)
        #expect(Set(mapLoads.map { program.instructions[$0].imm }) == [0, 1])
        #expect(mapLoads.allSatisfy { program.instructions[$0 + 1].imm == 0 })

        let valueLoads = program.loads(.mapValueByIndex).map {
            (map: Int(program.instructions[$0].imm), offset: Int(program.instructions[$0 + 1].imm))
        }
        let globals = Dictionary(uniqueKeysWithValues: object.globals.map { ($0.name, $0) })
        for name in ["packets", "bytes_seen", "dropped", "threshold", "port"] {
            let variable = try #require(globals[name])
            #expect(valueLoads.contains { $0.map == variable.mapIndex && $0.offset == variable.offset }, "\(name)")
        }
        // The two string literals are loaded from .rodata.str1.1 at their own offsets.
        let stringMap = try #require(object.maps.firstIndex { $0.name == ".rodata.str1.1" })
        let strings = try #require(object.maps[stringMap].initialValue)
        let literals = valueLoads.filter { $0.map == stringMap }.map { load in
            String(decoding: strings[load.offset...].prefix { $0 != 0 }, as: UTF8.self)
        }
        #expect(Set(literals) == ["first literal", "second"])
    }

    static let subprogramSource = """
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>

        static __noinline int scale(int v) { return v * 3; }
        __noinline int shared(int v) { return scale(v) + 1; }

        SEC("xdp")
        int one(struct xdp_md *ctx) { return shared(ctx->ingress_ifindex) > 10 ? XDP_DROP : XDP_PASS; }

        SEC("xdp.frags")
        int two(struct xdp_md *ctx) { return scale(ctx->rx_queue_index) == 6 ? XDP_DROP : XDP_PASS; }
        char _license[] SEC("license") = "GPL";
        """

    /// Whether the function starting at `start` (up to its `exit`) multiplies by 3, i.e. is `scale`.
    static func isScale(_ program: ProgramSpec, at start: Int) -> Bool {
        for index in start..<program.instructions.count {
            let insn = program.instructions[index]
            if case .alu(.mul, _, .immediate)? = try? BPFVM.Operation(decoding: insn), insn.imm == 3 { return true }
            if insn.opcode == 0x95 { return false }
        }
        return false
    }

    @Test(".text sub-programs are appended after each caller and calls land on their first instruction")
    func subprograms() throws {
        let object = try BPFCompiler.load(Self.subprogramSource)
        let info = Dictionary(uniqueKeysWithValues: object.programs.map { ($0.name, $0) })
        let oneCount = try #require(info["one"]).instructionCount
        let twoCount = try #require(info["two"]).instructionCount
        #expect(info["two"]?.section == "xdp.frags")

        let one = try object.program(named: "one")
        let oneCalls = one.calls(.local)
        try #require(oneCalls.count == 2, "one calls shared, shared calls scale")
        // one's own call → shared, appended right after one.
        let toShared = try #require(oneCalls.first { $0 < oneCount })
        #expect(one.target(of: toShared) == oneCount)
        // shared's call → scale, appended after shared, whose last instruction is exit.
        let toScale = try #require(oneCalls.first { $0 >= oneCount })
        let scaleStart = one.target(of: toScale)
        #expect(scaleStart > oneCount && scaleStart < one.instructions.count)
        #expect(one.instructions[scaleStart - 1].opcode == 0x95)
        #expect(Self.isScale(one, at: scaleStart))
        #expect(!Self.isScale(one, at: oneCount))

        let two = try object.program(named: "two")
        let twoCalls = two.calls(.local)
        try #require(twoCalls.count == 1)
        #expect(two.target(of: twoCalls[0]) == twoCount)
        #expect(Self.isScale(two, at: twoCount))
        #expect(two.instructions.last?.opcode == 0x95)

        // Line info follows the appended function.
        let scaleLine =
            try #require(
                Self.subprogramSource.split(separator: "\n", omittingEmptySubsequences: false)
                    .firstIndex { $0.contains("return v * 3") }) + 1
        let appended = (twoCount..<two.instructions.count).compactMap { two.lineInfo[$0] }
        #expect(!appended.isEmpty && appended.allSatisfy { $0.line == scaleLine && $0.file.hasSuffix("prog.c") })
        #expect((0..<twoCount).compactMap { two.lineInfo[$0] }.allSatisfy { $0.line != scaleLine })
    }

    @Test("bpf_loop callbacks become BPF_PSEUDO_FUNC loads of the appended function")
    func loopCallback() throws {
        let object = try BPFCompiler.load(
            """
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>
            static int step(__u32 index, void *data) { *(__u64 *)data += index * 5; return 0; }
            SEC("xdp")
            int looper(struct xdp_md *ctx) {
                __u64 sum = 0;
                bpf_loop(8, step, &sum, 0);
                return sum == 140 ? XDP_PASS : XDP_DROP;
            }
            char _license[] SEC("license") = "GPL";
            """)
        let program = try object.program()
        let ownCount = try #require(object.programs.first).instructionCount
        let callbacks = program.loads(.codeAddress)
        try #require(callbacks.count == 1)
        #expect(program.target(of: callbacks[0]) == ownCount)
        #expect(program.instructions[callbacks[0] + 1].imm == 0)
        #expect(program.calls(.helper).map { program.instructions[$0].imm } == [181])
        // The callback multiplies by 5 and returns 0.
        let callback = program.instructions[ownCount...]
        #expect(callback.contains { $0.imm == 5 } && callback.last?.opcode == 0x95)
    }

    static let tailCallSource = """
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>

        SEC("xdp") int stage_a(struct xdp_md *ctx) { return XDP_PASS; }
        SEC("xdp") int stage_b(struct xdp_md *ctx) { return XDP_DROP; }

        struct {
            __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
            __uint(max_entries, 4);
            __uint(key_size, sizeof(__u32));
            __array(values, int (void *));
        } jumps SEC(".maps") = { .values = { [0] = (void *)&stage_a, [2] = (void *)&stage_b } };

        SEC("xdp") int entry(struct xdp_md *ctx) { bpf_tail_call(ctx, &jumps, 2); return XDP_ABORTED; }
        char _license[] SEC("license") = "GPL";
        """

    @Test("PROG_ARRAY values initialisers name programs, and siblings carry them")
    func tailCalls() throws {
        let object = try BPFCompiler.load(Self.tailCallSource)
        try #require(object.maps.count == 1)
        let jumps = object.maps[0]
        #expect(jumps.name == "jumps" && jumps.type == .progArray)
        #expect(jumps.keySize == 4 && jumps.valueSize == 4 && jumps.maxEntries == 4)
        #expect(jumps.initialPrograms == [0: "stage_a", 2: "stage_b"])

        let entry = try object.program(named: "entry")
        #expect(Set(entry.siblings.keys) == ["stage_a", "stage_b"])
        #expect(entry.siblings["stage_b"]?.maps == entry.maps)
        #expect(entry.siblings["stage_b"]?.instructions.first?.imm == 1)  // r0 = XDP_DROP
        let mapLoads = entry.loads(.mapByIndex)
        #expect(mapLoads.map { entry.instructions[$0].imm } == [0])
        #expect(entry.calls(.helper).map { entry.instructions[$0].imm } == [12])  // bpf_tail_call
    }

    @Test("programs are chosen by name, by section, or the first XDP program")
    func programSelection() throws {
        let object = try BPFCompiler.load(Self.tailCallSource)
        #expect(object.programs.map(\.name) == ["stage_a", "stage_b", "entry"])
        #expect(try object.program().name == "stage_a")
        #expect(try object.program(section: "xdp").name == "stage_a")
        #expect(try object.program(named: "entry", section: "xdp").name == "entry")
        let missing = try #require(throws: ObjectLoadError.self) { try object.program(named: "nope") }
        #expect(missing.reason.contains("no program nope") && missing.reason.contains("entry (section xdp)"))
        let noSection = try #require(throws: ObjectLoadError.self) { try object.program(section: "xdp/missing") }
        #expect(noSection.reason.contains("section xdp/missing") && noSection.reason.contains("stage_b (section xdp)"))
    }

    @Test("a weak kfunc extern becomes a kfunc call and, under bpf_ksym_exists, an extern address")
    func weakKfunc() throws {
        let object = try BPFCompiler.load(
            """
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>
            #define bpf_ksym_exists(sym) ({ \\
                _Static_assert(!__builtin_constant_p(!!sym), #sym " should be marked as __weak"); !!sym; })
            extern int bpf_sluice_v2(int value) __ksym __weak;
            extern int bpf_sluice_v1(int value) __ksym;
            SEC("xdp")
            int probe(struct xdp_md *ctx) {
                if (bpf_ksym_exists(bpf_sluice_v2)) return bpf_sluice_v2(1);
                return bpf_sluice_v1(2);
            }
            char _license[] SEC("license") = "GPL";
            """)
        let program = try object.program()
        let v2 = ExternReference(name: "bpf_sluice_v2", isWeak: true)
        let v1 = ExternReference(name: "bpf_sluice_v1", isWeak: false)
        #expect(Set(program.kfuncCalls.values) == [v1, v2])
        #expect(Set(program.kfuncCalls.keys) == Set(program.calls(.kfunc)))
        #expect(program.kfuncCalls.keys.allSatisfy { program.instructions[$0].imm == 0 })
        #expect(Array(program.externAddresses.values) == [v2])
        #expect(Array(program.externAddresses.keys) == program.loads(.variableAddress))
    }

    @Test("BTF line info names the source file, line, column and text of an instruction")
    func lineInfo() throws {
        let source = """
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>

            SEC("xdp")
            int lines(struct xdp_md *ctx) {
                __u64 now = bpf_ktime_get_ns();
                return now & 1 ? XDP_PASS : XDP_DROP;
            }
            """
        let object = try BPFCompiler.load(source, name: "lines")
        let program = try object.program()
        let call = try #require(program.calls(.helper).first { program.instructions[$0].imm == 5 })
        let location = try #require(program.lineInfo[call])
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
        let expectedLine = try #require(lines.firstIndex { $0.contains("bpf_ktime_get_ns") })
        #expect(location.line == expectedLine + 1)
        #expect(location.file.hasSuffix("/lines.c"))
        let column = try #require(lines[expectedLine].range(of: "bpf_ktime_get_ns")).lowerBound
        #expect(location.column == lines[expectedLine].distance(from: lines[expectedLine].startIndex, to: column) + 1)
        #expect(location.text == String(lines[expectedLine]))
        #expect(location.description.hasSuffix("lines.c:\(expectedLine + 1):\(location.column)"))
        // Every instruction has a location (records cover the instructions up to the next one).
        #expect((0..<program.instructions.count).allSatisfy { program.lineInfo[$0] != nil })
    }

    @Test("an object built by the Swift toolchain's clang with -mcpu=v4 loads and decodes")
    func cpuV4() throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: BPFCompiler.swiftToolchainClang),
            "the Swift toolchain's clang is needed for -mcpu=v4")
        let object = try BPFCompiler.load(
            """
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>
            static __noinline int divide(int a, int b) { return a / b; }
            SEC("xdp")
            int v4(struct xdp_md *ctx) {
                int q = divide((int)ctx->ingress_ifindex - 100, (int)ctx->rx_queue_index | 1);
                return q < -3 ? XDP_DROP : XDP_PASS;
            }
            char _license[] SEC("license") = "GPL";
            """, compiler: .swiftToolchain, flags: ["-mcpu=v4"])
        let program = try object.program()
        #expect(program.calls(.local).count == 1)
        #expect(
            !program.indices { _, operation in if case .alu(.sdiv, _, _) = operation { true } else { false } }.isEmpty)
        try expectDecodes(program)
    }

    @Test("CO-RE relocations and .kconfig externs are refused, naming the type or symbol")
    func unsupportedFeatures() throws {
        let core = try BPFCompiler.load(
            """
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>
            struct pkt_meta { int a; int b; } __attribute__((preserve_access_index));
            SEC("xdp")
            int core(struct xdp_md *ctx) {
                struct pkt_meta *m = (void *)(long)ctx->data;
                return m->b;
            }
            """)
        let coreError = try #require(throws: ObjectLoadError.self) { try core.program() }
        #expect(coreError.isUnsupportedFeature)
        #expect(coreError.reason.contains("CO-RE relocation against struct pkt_meta (field byte offset of pkt_meta.b)"))

        let kconfig = try BPFCompiler.load(
            """
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>
            extern unsigned int CONFIG_HZ __kconfig;
            SEC("xdp")
            int hz(struct xdp_md *ctx) { return CONFIG_HZ > 100 ? XDP_PASS : XDP_DROP; }
            """)
        let kconfigError = try #require(throws: ObjectLoadError.self) { try kconfig.program() }
        #expect(kconfigError.reason.contains("CONFIG_HZ") && kconfigError.reason.contains("not supported"))
        #expect(kconfigError.isUnsupportedFeature)

        let custom = try BPFCompiler.load(
            """
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>
            int config_value SEC(".custom") = 5;
            SEC("xdp")
            int custom(struct xdp_md *ctx) { return config_value; }
            """)
        let customError = try #require(throws: ObjectLoadError.self) { try custom.program() }
        #expect(customError.isUnsupportedFeature)
        #expect(customError.reason.contains("config_value in section .custom, which is neither a map nor global data"))

        let mapInMap = try #require(throws: ObjectLoadError.self) {
            try BPFCompiler.load(
                """
                #include <linux/bpf.h>
                #include <bpf/bpf_helpers.h>
                struct inner {
                    __uint(type, BPF_MAP_TYPE_ARRAY);
                    __uint(max_entries, 1);
                    __type(key, __u32);
                    __type(value, __u32);
                } inner_a SEC(".maps");
                struct {
                    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
                    __uint(max_entries, 2);
                    __type(key, __u32);
                    __array(values, struct inner);
                } outer SEC(".maps") = { .values = { &inner_a } };
                SEC("xdp")
                int uses(struct xdp_md *ctx) { return bpf_map_lookup_elem(&outer, &(__u32){0}) ? XDP_PASS : XDP_DROP; }
                """)
        }
        #expect(mapInMap.isUnsupportedFeature)
        #expect(mapInMap.reason.contains("map outer (map type 12) initialises slot 0 with inner_a"))
    }
}

/// Every instruction of a linked program decodes, and local calls and callbacks land inside it.
func expectDecodes(_ program: ProgramSpec) throws {
    var index = 0
    while index < program.instructions.count {
        let operation = try BPFVM.Operation(decoding: program.instructions[index])
        if operation == .call(.local) || operation == .loadImmediate64(.codeAddress) {
            let target = program.target(of: index)
            #expect(target >= 0 && target < program.instructions.count, "\(program.name) insn \(index)")
        }
        index += operation.isWide ? 2 : 1
    }
    #expect(index == program.instructions.count, "\(program.name) ends inside an lddw")
}
