import Foundation
import Sluice
import Testing

/// The kernel runner is the oracle: these tests pin down that it reports what the kernel does, using small XDP
/// programs compiled from inline C. They load programs into the kernel, so they need root (CAP_BPF + CAP_NET_ADMIN).
@Suite(
    "Kernel runner",
    .enabled(
        if: KernelPrivileges.sufficient,
        "the kernel runner needs CAP_BPF and CAP_NET_ADMIN to load programs (run the tests as root)"))
struct KernelRunnerTests {
    static let prelude = """
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>
        char _license[] SEC("license") = "GPL";

        """

    static func object(_ name: String, _ body: String) throws -> String {
        try BPFCompiler.compile(source: prelude + body, name: name)
    }

    /// An Ethernet frame of `length` bytes with the given EtherType and a recognisable payload.
    static func frame(length: Int, etherType: UInt16 = 0x0800) -> [UInt8] {
        var bytes: [UInt8] = [
            0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, UInt8(etherType >> 8), UInt8(etherType & 0xff),
        ]
        while bytes.count < length { bytes.append(UInt8(truncatingIfNeeded: bytes.count &* 7)) }
        return Array(bytes.prefix(length))
    }

    static func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }

    // MARK: - Verdicts and packets

    static let dropShort = """
        SEC("xdp") int drop_short(struct xdp_md *ctx) {
            void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
            return data_end - data < 60 ? XDP_DROP : XDP_PASS;
        }
        """

    @Test("returns the kernel's verdict: frames shorter than 60 bytes are dropped, others pass")
    func verdicts() throws {
        let runner = try KernelRunner(objectPath: try Self.object("drop_short", Self.dropShort), program: "xdp")
        #expect(runner.programName == "drop_short")
        #expect(runner.sectionName == "xdp")
        for length in [14, 42, 59] {
            let outcome = try runner.run(packet: Self.frame(length: length))
            #expect(outcome.action == .drop, "length \(length)")
            #expect(outcome.packet == Self.frame(length: length))
            #expect(outcome.metadata.isEmpty)
        }
        for length in [60, 61, 1514] {
            #expect(try runner.run(packet: Self.frame(length: length)).action == .pass, "length \(length)")
        }
    }

    @Test("returns the bytes the program rewrote")
    func rewrittenBytes() throws {
        let source = """
            SEC("xdp") int swap_macs(struct xdp_md *ctx) {
                unsigned char *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
                if (data + 14 > end) return XDP_ABORTED;
                for (int i = 0; i < 6; i++) { unsigned char t = data[i]; data[i] = data[6 + i]; data[6 + i] = t; }
                data[13] = ~data[13];
                return XDP_TX;
            }
            """
        let runner = try KernelRunner(objectPath: try Self.object("swap_macs", source), program: "swap_macs")
        let input = Self.frame(length: 64)
        let outcome = try runner.run(packet: input)
        var expected = input
        expected.replaceSubrange(0..<6, with: input[6..<12])
        expected.replaceSubrange(6..<12, with: input[0..<6])
        expected[13] = ~input[13]
        #expect(outcome.action == .tx)
        #expect(outcome.packet == expected)
    }

    @Test("splits the output into metadata and packet after adjust_head grows the frame and adjust_meta adds metadata")
    func adjustHeadAndMeta() throws {
        let source = """
            SEC("xdp") int grow(struct xdp_md *ctx) {
                if (bpf_xdp_adjust_head(ctx, -4)) return XDP_ABORTED;
                if (bpf_xdp_adjust_meta(ctx, -8)) return XDP_ABORTED;
                unsigned char *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
                unsigned char *meta = (void *)(long)ctx->data_meta;
                if (data + 4 > end || meta + 8 > data) return XDP_ABORTED;
                data[0] = 0xde; data[1] = 0xad; data[2] = 0xbe; data[3] = 0xef;
                for (int i = 0; i < 8; i++) meta[i] = 0x10 + i;
                return XDP_PASS;
            }
            """
        let runner = try KernelRunner(objectPath: try Self.object("grow", source), program: .function("grow"))
        let input = Self.frame(length: 60)
        let outcome = try runner.run(packet: input)
        #expect(outcome.action == .pass)
        #expect(outcome.packet == [0xde, 0xad, 0xbe, 0xef] + input)
        #expect(outcome.metadata == Array(0x10...0x17))
    }

    @Test("passes metadata in through xdp_md and returns it")
    func metadataIn() throws {
        let source = """
            SEC("xdp") int meta_echo(struct xdp_md *ctx) {
                unsigned char *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
                unsigned char *meta = (void *)(long)ctx->data_meta;
                if (meta + 4 > data || data + 1 > end) return XDP_ABORTED;
                data[0] = meta[0] + meta[3];
                meta[1] = 0x55;
                return XDP_PASS;
            }
            """
        let runner = try KernelRunner(objectPath: try Self.object("meta_echo", source), program: "meta_echo")
        let input = Self.frame(length: 40)
        let outcome = try runner.run(packet: input, metadata: [7, 0, 0, 5])
        #expect(outcome.action == .pass)
        #expect(outcome.metadata == [7, 0x55, 0, 5])
        #expect(outcome.packet == [12] + input.dropFirst())
        // Without metadata the program's bounds check fails.
        #expect(try runner.run(packet: input).action == .aborted)
    }

    static let whereAndHowLong = """
        SEC("xdp") int where(struct xdp_md *ctx) {
            return (ctx->data_end - ctx->data) * 1000000 + ctx->ingress_ifindex * 1000 + ctx->rx_queue_index;
        }
        """

    @Test("sets ingress_ifindex and rx_queue_index: loopback (1) and queue 0 by default, or the device given")
    func ingressDevice() throws {
        let runner = try KernelRunner(objectPath: try Self.object("where", Self.whereAndHowLong), program: "xdp")
        let packet = Self.frame(length: 60)
        #expect(try runner.run(packet: packet).returnValue == 60_001_000)
        // lo is ifindex 1 in every network namespace; it has one rx queue.
        #expect(try runner.run(packet: packet, ingressIfindex: 1, rxQueue: 0).returnValue == 60_001_000)
        let error = try #require(throws: SystemError.self) {
            try runner.run(packet: packet, ingressIfindex: 1, rxQueue: 1)
        }
        #expect(error.errno == 22)
    }

    @Test("frames beyond the 3520-byte linear area: the program sees 3520 bytes, the output has them all")
    func largeFrames() throws {
        let runner = try KernelRunner(objectPath: try Self.object("where_large", Self.whereAndHowLong), program: "xdp")
        for (length, metadata) in [(3520, 0), (3521, 0), (5000, 0), (5000, 32)] {
            let input = Self.frame(length: length)
            let outcome = try runner.run(packet: input, metadata: Array(repeating: 0xaa, count: metadata))
            #expect(outcome.returnValue == 3_520_001_000, "length \(length), metadata \(metadata)")
            let packetUnchanged = outcome.packet == input
            #expect(packetUnchanged, "length \(length): \(outcome.packet.count) bytes back")
            #expect(outcome.metadata == Array(repeating: 0xaa, count: metadata))
        }
        #expect(try runner.run(packet: Self.frame(length: 3519)).returnValue == 3_519_001_000)
    }

    // MARK: - Maps and globals

    static let counters = """
        struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); }
            by_size SEC(".maps");
        struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16); __type(key, __u16); __type(value, __u64); }
            by_ethertype SEC(".maps");
        struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 1); __type(key, __u32);
                 __type(value, __u32); } per_cpu SEC(".maps");

        SEC("xdp") int count(struct xdp_md *ctx) {
            unsigned char *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
            if (data + 14 > end) return XDP_ABORTED;
            __u32 size_class = end - data >= 100 ? 1 : 0;
            __u64 *slot = bpf_map_lookup_elem(&by_size, &size_class);
            if (slot) __sync_fetch_and_add(slot, 1);
            __u16 ethertype = *(__u16 *)(data + 12);
            __u64 *seen = bpf_map_lookup_elem(&by_ethertype, &ethertype);
            if (seen) { *seen += 1; } else { __u64 one = 1; bpf_map_update_elem(&by_ethertype, &ethertype, &one, BPF_ANY); }
            __u32 zero = 0;
            __u32 *mine = bpf_map_lookup_elem(&per_cpu, &zero);
            if (mine) *mine += 1;
            return XDP_PASS;
        }
        """

    @Test("snapshots ARRAY, HASH and PERCPU_ARRAY maps after runs, starting from the initial contents given")
    func mapSnapshots() throws {
        let runner = try KernelRunner(
            objectPath: try Self.object("counters", Self.counters), program: "count",
            initialMaps: [
                "by_size": [(key: Self.littleEndian(UInt32(3)), value: Self.littleEndian(UInt64(100)))],
                "by_ethertype": [(key: [0x08, 0x00], value: Self.littleEndian(UInt64(41)))],
            ])
        for (length, etherType) in [(60, 0x0800), (120, 0x0800), (60, 0x0806)] as [(Int, UInt16)] {
            #expect(try runner.run(packet: Self.frame(length: length, etherType: etherType)).action == .pass)
        }
        let snapshots = try runner.mapSnapshots()
        #expect(snapshots.map(\.name) == ["by_size", "by_ethertype", "per_cpu"])

        let bySize = try #require(snapshots.first { $0.name == "by_size" })
        #expect(bySize.type == 2 && bySize.keySize == 4 && bySize.valueSize == 8)
        #expect(bySize.entries.map(\.key) == (0..<4).map { Self.littleEndian(UInt32($0)) })
        #expect(bySize.entries.map(\.values) == [2, 1, 0, 100].map { [Self.littleEndian(UInt64($0))] })

        let byEthertype = try #require(snapshots.first { $0.name == "by_ethertype" })
        #expect(byEthertype.type == 1 && byEthertype.keySize == 2)
        #expect(
            byEthertype.entries == [
                .init(key: [0x08, 0x00], values: [Self.littleEndian(UInt64(43))]),
                .init(key: [0x08, 0x06], values: [Self.littleEndian(UInt64(1))]),
            ])

        // One 4-byte value per possible CPU (the kernel's slots are 8-byte aligned; the runner strips the padding).
        let perCPU = try #require(snapshots.first { $0.name == "per_cpu" })
        let entry = try #require(perCPU.entries.first)
        #expect(perCPU.entries.count == 1)
        #expect(entry.values.count == runner.possibleCPUs)
        #expect(entry.values.allSatisfy { $0.count == 4 })
        let total = entry.values.reduce(0) { $0 + Int($1[0]) + Int($1[1]) << 8 }
        #expect(total == 3)
    }

    @Test("snapshots LPM_TRIE, LRU_HASH and DEVMAP maps; a redirect through the DEVMAP returns XDP_REDIRECT")
    func otherMapTypes() throws {
        let source = """
            struct lpm_key { __u32 prefixlen; __u8 addr[4]; };
            struct { __uint(type, BPF_MAP_TYPE_LPM_TRIE); __uint(max_entries, 8); __type(key, struct lpm_key);
                     __type(value, __u32); __uint(map_flags, BPF_F_NO_PREALLOC); } routes SEC(".maps");
            struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 8); __type(key, __u8);
                     __type(value, __u32); } last_route SEC(".maps");
            struct { __uint(type, BPF_MAP_TYPE_DEVMAP); __uint(max_entries, 4); __type(key, __u32);
                     __type(value, __u32); } ports SEC(".maps");

            SEC("xdp") int route(struct xdp_md *ctx) {
                unsigned char *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
                if (data + 34 > end) return XDP_ABORTED;
                struct lpm_key key = { .prefixlen = 32 };
                __builtin_memcpy(key.addr, data + 30, 4);
                __u32 *port = bpf_map_lookup_elem(&routes, &key);
                if (!port) return XDP_DROP;
                __u8 first = data[30];
                bpf_map_update_elem(&last_route, &first, port, BPF_ANY);
                return bpf_redirect_map(&ports, *port, XDP_PASS);
            }
            """
        // 10.0.0.0/8 → port 2, whose DEVMAP slot holds lo (ifindex 1); 192.168.0.0/16 → port 3, an empty slot.
        let runner = try KernelRunner(
            objectPath: try Self.object("routes", source), program: "route",
            initialMaps: [
                "routes": [
                    (key: Self.littleEndian(UInt32(8)) + [10, 0, 0, 0], value: Self.littleEndian(UInt32(2))),
                    (key: Self.littleEndian(UInt32(16)) + [192, 168, 0, 0], value: Self.littleEndian(UInt32(3))),
                ],
                "ports": [(key: Self.littleEndian(UInt32(2)), value: Self.littleEndian(UInt32(1)))],
            ])
        func ipv4(to address: [UInt8]) -> [UInt8] {
            var packet = Self.frame(length: 60)
            packet.replaceSubrange(30..<34, with: address)
            return packet
        }
        #expect(try runner.run(packet: ipv4(to: [10, 1, 2, 3])).action == .redirect)
        #expect(try runner.run(packet: ipv4(to: [192, 168, 7, 7])).action == .pass)
        #expect(try runner.run(packet: ipv4(to: [172, 16, 0, 1])).action == .drop)

        let snapshots = try runner.mapSnapshots()
        #expect(snapshots.map(\.name) == ["routes", "last_route", "ports"])
        #expect(
            snapshots[0].entries.map(\.key) == [
                Self.littleEndian(UInt32(8)) + [10, 0, 0, 0], Self.littleEndian(UInt32(16)) + [192, 168, 0, 0],
            ])
        #expect(
            snapshots[1].entries == [
                .init(key: [10], values: [Self.littleEndian(UInt32(2))]),
                .init(key: [192], values: [Self.littleEndian(UInt32(3))]),
            ])
        // Only filled DEVMAP slots are listed.
        #expect(
            snapshots[2].entries == [.init(key: Self.littleEndian(UInt32(2)), values: [Self.littleEndian(UInt32(1))])])
    }

    @Test("fills a per-CPU map from one value (copied to every CPU) or one value per CPU")
    func perCPUInitialValues() throws {
        let path = try Self.object("counters_percpu", Self.counters)
        let cpus = try KernelRunner(objectPath: path, program: "count").possibleCPUs
        let same = try KernelRunner(
            objectPath: path, program: "count",
            initialMaps: ["per_cpu": [(key: [0, 0, 0, 0], value: Self.littleEndian(UInt32(9)))]])
        let sameEntry = try #require(try same.mapSnapshots().first { $0.name == "per_cpu" }?.entries.first)
        #expect(sameEntry.values == Array(repeating: Self.littleEndian(UInt32(9)), count: cpus))

        let distinct = (0..<cpus).map { Self.littleEndian(UInt32(10 + $0)) }
        let each = try KernelRunner(
            objectPath: path, program: "count",
            initialMaps: ["per_cpu": [(key: [0, 0, 0, 0], value: distinct.flatMap { $0 })]])
        let eachEntry = try #require(try each.mapSnapshots().first { $0.name == "per_cpu" }?.entries.first)
        #expect(eachEntry.values == distinct)
    }

    static let threshold = """
        volatile const __u32 min_length = 0;
        __u32 marker = 7;
        __u64 packets_seen = 0;

        SEC("xdp") int threshold(struct xdp_md *ctx) {
            void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
            packets_seen += marker;
            return data_end - data < min_length ? XDP_DROP : XDP_PASS;
        }
        """

    @Test("sets a volatile const global before the load; global data maps are named by their section")
    func volatileConstGlobal() throws {
        let path = try Self.object("threshold", Self.threshold)
        let packet = Self.frame(length: 60)

        let unset = try KernelRunner(objectPath: path, program: "xdp")
        #expect(try unset.run(packet: packet).action == .pass)

        let set = try KernelRunner(
            objectPath: path, program: "xdp", globals: ["min_length": Self.littleEndian(UInt32(100))])
        #expect(try set.run(packet: packet).action == .drop)
        #expect(try set.run(packet: Self.frame(length: 100)).action == .pass)

        let snapshots = try set.mapSnapshots()
        #expect(snapshots.map(\.name).sorted() == [".bss", ".data", ".rodata"])
        let zero: [UInt8] = [0, 0, 0, 0]
        #expect(
            snapshots.first { $0.name == ".rodata" }?.entries == [
                .init(key: zero, values: [Self.littleEndian(UInt32(100))])
            ])
        #expect(
            snapshots.first { $0.name == ".data" }?.entries == [
                .init(key: zero, values: [Self.littleEndian(UInt32(7))])
            ])
        #expect(
            snapshots.first { $0.name == ".bss" }?.entries == [
                .init(key: zero, values: [Self.littleEndian(UInt64(14))])
            ])
    }

    @Test("takes a whole global-data section through initialMaps, by section name or libbpf's map name")
    func globalDataSectionAsMap() throws {
        let path = try Self.object("threshold_sections", Self.threshold)
        for name in [".rodata", "threshol.rodata"] {
            let runner = try KernelRunner(
                objectPath: path, program: "threshold",
                initialMaps: [name: [(key: [0, 0, 0, 0], value: Self.littleEndian(UInt32(61)))]])
            #expect(try runner.run(packet: Self.frame(length: 60)).action == .drop, "\(name)")
            #expect(try runner.run(packet: Self.frame(length: 61)).action == .pass, "\(name)")
        }
    }

    // MARK: - Program selection and loading

    @Test(
        "loads every XDP program so that PROG_ARRAY initialisers (tail calls) work; the map is listed without entries")
    func tailCalls() throws {
        let source = """
            SEC("xdp") int second(struct xdp_md *ctx) { return XDP_TX; }

            struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 2); __type(key, __u32);
                     __array(values, int (void *)); } jump SEC(".maps") = { .values = { [1] = (void *)&second } };

            SEC("xdp") int first(struct xdp_md *ctx) {
                bpf_tail_call(ctx, &jump, 1);
                return XDP_DROP;
            }
            """
        let runner = try KernelRunner(objectPath: try Self.object("tail_calls", source), program: .function("first"))
        #expect(try runner.run(packet: Self.frame(length: 60)).action == .tx)
        let jump = try #require(try runner.mapSnapshots().first { $0.name == "jump" })
        #expect(jump.type == 3)
        #expect(jump.entries.isEmpty)
    }

    @Test("never pins maps: a LIBBPF_PIN_BY_NAME map is private to the runner")
    func noPinning() throws {
        let name = "pin\(getpid() % 100_000)"
        let source = """
            struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u32);
                     __uint(pinning, LIBBPF_PIN_BY_NAME); } \(name) SEC(".maps");
            SEC("xdp") int pinned(struct xdp_md *ctx) {
                __u32 zero = 0;
                __u32 *count = bpf_map_lookup_elem(&\(name), &zero);
                if (count) *count += 1;
                return XDP_PASS;
            }
            """
        let path = try Self.object("pinned", source)
        for _ in 0..<2 {
            let runner = try KernelRunner(objectPath: path, program: "xdp")
            _ = try runner.run(packet: Self.frame(length: 60))
            let counts = try runner.mapSnapshots().first { $0.name == name }?.entries.map(\.values)
            #expect(counts == [[Self.littleEndian(UInt32(1))]])
        }
        #expect(access("/sys/fs/bpf/" + name, F_OK) != 0)
    }

    @Test("forces BPF_PROG_TYPE_XDP for xdp* sections libbpf does not know")
    func unknownXDPSection() throws {
        let source = """
            SEC("xdp_firewall") int firewall(struct xdp_md *ctx) { return XDP_DROP; }
            """
        let runner = try KernelRunner(objectPath: try Self.object("custom_section", source), program: "xdp_firewall")
        #expect(try runner.run(packet: Self.frame(length: 60)).action == .drop)
    }

    @Test("a section with several programs selects the first; the others are chosen by function name")
    func severalProgramsInOneSection() throws {
        let source = """
            SEC("xdp") int one(struct xdp_md *ctx) { return XDP_PASS; }
            SEC("xdp") int two(struct xdp_md *ctx) { return XDP_DROP; }
            """
        let path = try Self.object("two_programs", source)
        let first = try KernelRunner(objectPath: path, program: .section("xdp"))
        #expect(first.programName == "one")
        #expect(try first.run(packet: Self.frame(length: 60)).action == .pass)
        let second = try KernelRunner(objectPath: path, program: "two")
        #expect(second.programName == "two" && second.sectionName == "xdp")
        #expect(try second.run(packet: Self.frame(length: 60)).action == .drop)
    }

    // MARK: - Verifier

    @Test("verify: the kernel accepts a safe program and rejects an unchecked packet read, with its log")
    func verify() throws {
        #expect(
            try KernelRunner.verify(objectPath: try Self.object("safe", Self.dropShort), program: "xdp") == .accepted)

        let unsafe = """
            SEC("xdp") int unchecked(struct xdp_md *ctx) {
                unsigned char *data = (void *)(long)ctx->data;
                return data[20];
            }
            """
        let verdict = try KernelRunner.verify(objectPath: try Self.object("unchecked", unsafe), program: "xdp")
        guard case .rejected(let log) = verdict else {
            Issue.record("the kernel accepted an unchecked packet read")
            return
        }
        #expect(log.contains("invalid access to packet"), "\(log)")
    }

    @Test("verify: an unknown helper id is the verifier's to reject; a map the kernel cannot create is a load failure")
    func verifyHelpersAndMaps() throws {
        let unknownHelper = """
            static long (*helper_999)(void) = (void *)999;
            SEC("xdp") int calls_999(struct xdp_md *ctx) { return helper_999() ? XDP_DROP : XDP_PASS; }
            """
        let verdict = try KernelRunner.verify(
            objectPath: try Self.object("helper_999", unknownHelper), program: "xdp")
        guard case .rejected(let log) = verdict else {
            Issue.record("the kernel accepted a call to helper 999")
            return
        }
        #expect(log.contains("invalid func unknown#999"), "\(log)")

        let emptyHash = """
            struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 0); __type(key, __u32); __type(value, __u32); }
                nothing SEC(".maps");
            SEC("xdp") int uses_nothing(struct xdp_md *ctx) {
                __u32 zero = 0;
                return bpf_map_lookup_elem(&nothing, &zero) ? XDP_DROP : XDP_PASS;
            }
            """
        let path = try Self.object("empty_hash", emptyHash)
        let error = try #require(throws: KernelRunnerError.self) {
            try KernelRunner.verify(objectPath: path, program: "xdp")
        }
        guard case .loadFailed(let failedPath, _, let log) = error else {
            Issue.record("unexpected error \(error)")
            return
        }
        #expect(failedPath == path)
        #expect(log.contains("nothing"), "\(log)")
    }

    @Test("a rejected program makes init fail with the verifier's complaint in the error")
    func rejectionError() throws {
        let unsafe = """
            SEC("xdp") int unchecked(struct xdp_md *ctx) {
                unsigned char *data = (void *)(long)ctx->data;
                return data[20];
            }
            """
        let path = try Self.object("unchecked_init", unsafe)
        let error = try #require(throws: KernelRunnerError.self) { try KernelRunner(objectPath: path, program: "xdp") }
        guard case .loadRejected(let program, _, let log) = error else {
            Issue.record("unexpected error \(error)")
            return
        }
        #expect(program == "unchecked")
        #expect(log.contains("invalid access to packet"))
        #expect(error.description.contains("invalid access to packet"))
    }

    // MARK: - Errors

    @Test("names the missing object, program, map and global")
    func lookupErrors() throws {
        #expect(throws: KernelRunnerError.objectNotFound(path: "/nonexistent/prog.o")) {
            try KernelRunner(objectPath: "/nonexistent/prog.o", program: "xdp")
        }
        let notELF = NSTemporaryDirectory() + "/sluice-not-elf-\(getpid()).o"
        try "not an object".write(toFile: notELF, atomically: true, encoding: .utf8)
        defer { unlink(notELF) }
        let openError = try #require(throws: KernelRunnerError.self) {
            try KernelRunner(objectPath: notELF, program: "xdp")
        }
        guard case .objectNotOpened(let openedPath, _, _) = openError else {
            Issue.record("unexpected error \(openError)")
            return
        }
        #expect(openedPath == notELF)

        let path = try Self.object("lookups", Self.counters)
        #expect(throws: KernelRunnerError.programNotFound(.named("tc"), path: path, available: ["xdp/count"])) {
            try KernelRunner(objectPath: path, program: "tc")
        }
        #expect(throws: KernelRunnerError.unknownMap("by_port", available: ["by_size", "by_ethertype", "per_cpu"])) {
            try KernelRunner(objectPath: path, program: "xdp", initialMaps: ["by_port": []])
        }
        #expect(throws: KernelRunnerError.unknownGlobal("min_length", available: [])) {
            try KernelRunner(objectPath: path, program: "xdp", globals: ["min_length": [0, 0, 0, 0]])
        }
        let threshold = try Self.object("lookups_globals", Self.threshold)
        #expect(throws: KernelRunnerError.globalSizeMismatch(name: "min_length", expected: 4, actual: 2)) {
            try KernelRunner(objectPath: threshold, program: "xdp", globals: ["min_length": [0, 1]])
        }
    }

    @Test("checks key and value sizes of initial entries before loading")
    func sizeErrors() throws {
        let path = try Self.object("sizes", Self.counters)
        #expect(throws: KernelRunnerError.keySizeMismatch(map: "by_ethertype", expected: 2, actual: 4)) {
            try KernelRunner(
                objectPath: path, program: "xdp",
                initialMaps: ["by_ethertype": [(key: [0, 0, 0, 0], value: Self.littleEndian(UInt64(1)))]])
        }
        #expect(throws: KernelRunnerError.valueSizeMismatch(map: "by_size", expected: 8, actual: 4)) {
            try KernelRunner(
                objectPath: path, program: "xdp", initialMaps: ["by_size": [(key: [0, 0, 0, 0], value: [1, 0, 0, 0])]])
        }
    }

    @Test("refuses contexts the kernel would refuse, with the reason")
    func contextErrors() throws {
        let runner = try KernelRunner(objectPath: try Self.object("ctx_rules", Self.dropShort), program: "xdp")
        #expect(throws: KernelRunnerError.invalidMetadataLength(3)) {
            try runner.run(packet: Self.frame(length: 60), metadata: [1, 2, 3])
        }
        #expect(throws: KernelRunnerError.invalidMetadataLength(36)) {
            try runner.run(packet: Self.frame(length: 60), metadata: Array(repeating: 0, count: 36))
        }
        #expect(throws: KernelRunnerError.frameTooShort(length: 13)) { try runner.run(packet: Self.frame(length: 13)) }
        // Metadata does not count towards the kernel's 14-byte minimum.
        #expect(throws: KernelRunnerError.frameTooShort(length: 10)) {
            try runner.run(packet: Self.frame(length: 10), metadata: [0, 0, 0, 0])
        }
        #expect(try runner.run(packet: Self.frame(length: 14), metadata: [0, 0, 0, 0]).action == .drop)
        #expect(throws: KernelRunnerError.rxQueueWithoutDevice(rxQueue: 1)) {
            try runner.run(packet: Self.frame(length: 60), rxQueue: 1)
        }
        // An ifindex that names no device in this namespace: the kernel says ENODEV.
        let error = try #require(throws: SystemError.self) {
            try runner.run(packet: Self.frame(length: 60), ingressIfindex: 0x7fff_fff0)
        }
        #expect(error.call == "bpf_prog_test_run_opts")
        #expect(error.errno == 19)
    }

    @Test("timedRun reports the kernel's per-run time for the requested repetitions")
    func timedRun() throws {
        let runner = try KernelRunner(objectPath: try Self.object("timed", Self.dropShort), program: "xdp")
        let timing = try runner.timedRun(packet: Self.frame(length: 64), repeat: 1000)
        #expect(timing.repetitions == 1000)
        #expect(timing.returnValue == 2)
        #expect(timing.nanosecondsPerRun < 1_000_000)
    }

    @Test("a closed runner refuses to run")
    func closed() throws {
        let runner = try KernelRunner(objectPath: try Self.object("closed", Self.dropShort), program: "xdp")
        runner.close()
        runner.close()
        #expect(throws: SystemError.self) { try runner.run(packet: Self.frame(length: 60)) }
    }
}
