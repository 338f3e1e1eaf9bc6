import BPFObject
import BPFVM
import Foundation
import Testing

/// Broken objects get an `ObjectLoadError` naming what is wrong — never a crash.
@Suite("Malformed objects")
struct MalformedObjectTests {
    static let source = """
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>
        struct bpf_map_def { unsigned int type, key_size, value_size, max_entries, map_flags; };
        struct bpf_map_def SEC("maps") legacy = { .type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 4, .max_entries = 1 };
        struct {
            __uint(type, BPF_MAP_TYPE_ARRAY);
            __type(key, __u32);
            __type(value, __u64);
            __uint(max_entries, 2);
        } counters SEC(".maps");
        const volatile __u32 limit = 3;
        __u32 seen;
        static __noinline int bump(__u32 key) {
            __u64 *v = bpf_map_lookup_elem(&counters, &key);
            if (v) *v += limit;
            return v ? 1 : 0;
        }
        SEC("xdp")
        int broken(struct xdp_md *ctx) {
            __u32 zero = 0;
            __u32 *l = bpf_map_lookup_elem(&legacy, &zero);
            seen++;
            return bump(ctx->rx_queue_index) + (l ? 1 : 0);
        }
        char _license[] SEC("license") = "GPL";
        """

    static func compiled() throws -> ELFPatcher { try ELFPatcher(path: BPFCompiler.compile(source, name: "broken")) }

    /// Loads and links every program; returns the error if any step refused.
    static func attempt(_ bytes: [UInt8]) -> ObjectLoadError? {
        do {
            let object = try BPFObjectFile(bytes: bytes, name: "patched.o")
            for info in object.programs { _ = try object.program(named: info.name, section: info.section) }
            return nil
        } catch {
            return error
        }
    }

    struct Accepted: Error {}

    /// The reason the damaged object was refused; records an issue (without dumping the bytes) if it was accepted.
    static func reason(_ bytes: [UInt8], sourceLocation: Testing.SourceLocation = #_sourceLocation) throws -> String {
        guard let error = attempt(bytes) else {
            Issue.record("the damaged object was accepted", sourceLocation: sourceLocation)
            throw Accepted()
        }
        #expect(
            !error.isUnsupportedFeature, "damage is not an unsupported feature: \(error)",
            sourceLocation: sourceLocation)
        return error.reason
    }

    @Test("the unbroken object loads (so the failures below come from the damage)")
    func baseline() throws {
        let elf = try Self.compiled()
        #expect(Self.attempt(elf.bytes) == nil)
    }

    @Test("a truncated object is refused at every length")
    func truncation() throws {
        let shipped = ShippedObjectTests.objects.first { $0.hasSuffix("/xdp-dispatcher.o") }
        for bytes in [try Self.compiled().bytes] + (try shipped.map { [try ELFPatcher(path: $0).bytes] } ?? []) {
            for length in stride(from: 0, to: bytes.count, by: 64) {
                #expect(Self.attempt(Array(bytes.prefix(length))) != nil, "truncated to \(length) of \(bytes.count)")
            }
        }
        #expect(try Self.reason([]).contains("empty"))
        #expect(try Self.reason(Array(Self.compiled().bytes.prefix(40))).contains("truncated ELF header"))
    }

    @Test("flipped bytes in headers, symbols, relocations and BTF never crash the loader")
    func flippedBytes() throws {
        let elf = try Self.compiled()
        var regions: [Range<Int>] = [
            0..<64, elf.sectionHeaderOffset..<(elf.sectionHeaderOffset + elf.sectionCount * 64),
        ]
        for name in [".symtab", ".relxdp", ".rel.text", ".rel.maps", "xdp", ".text", "maps", ".BTF.ext"] {
            if let section = elf.section(name) { regions.append(section.data..<(section.data + section.size)) }
        }
        var refused = 0
        var attempts = 0
        for region in regions {
            for offset in region {
                for mask: UInt8 in [0xff, 0x80] {
                    var bytes = elf.bytes
                    bytes[offset] ^= mask
                    attempts += 1
                    if Self.attempt(bytes) != nil { refused += 1 }
                }
            }
        }
        // Not every flip is fatal (padding, unused fields), but many must be.
        #expect(refused > attempts / 10, "\(refused) of \(attempts) damaged objects refused")
        // BTF: a sample of flips through libbpf's parser.
        if let btf = elf.section(".BTF") {
            for offset in stride(from: btf.data, to: btf.data + btf.size, by: 3) {
                var bytes = elf.bytes
                bytes[offset] ^= 0xff
                _ = Self.attempt(bytes)
            }
        }
    }

    @Test("wrong class, byte order, type and machine are named")
    func wrongHeader() throws {
        let elf = try Self.compiled()
        var bytes = elf.bytes
        bytes[18] = 62  // EM_X86_64
        #expect(try Self.reason(bytes).contains("wrong machine 62"))
        bytes = elf.bytes
        bytes[4] = 1
        #expect(try Self.reason(bytes).contains("ELF64"))
        bytes = elf.bytes
        bytes[5] = 2
        #expect(try Self.reason(bytes).contains("little-endian"))
        bytes = elf.bytes
        bytes[16] = 2  // ET_EXEC
        #expect(try Self.reason(bytes).contains("not a relocatable object"))
        bytes = elf.bytes
        bytes[0] = 0
        #expect(try Self.reason(bytes).contains("not an ELF file"))
    }

    /// The first relocation of `.relxdp`: file offset of the entry.
    static func firstRelocation(_ elf: ELFPatcher) throws -> Int {
        try #require(elf.section(".relxdp")).data
    }

    @Test("bad relocations: symbol out of range, off an instruction, on the wrong instruction, unknown type")
    func badRelocations() throws {
        let elf = try Self.compiled()
        let entry = try Self.firstRelocation(elf)
        let info = elf.u64(entry + 8)

        var patched = elf
        patched.put64((0xffff << 32) | (info & 0xffff_ffff), at: entry + 8)
        #expect(try Self.reason(patched.bytes).contains("out of range"))

        patched = elf
        patched.put64(elf.u64(entry) + 4, at: entry)
        #expect(try Self.reason(patched.bytes).contains("not on an instruction"))

        patched = elf
        patched.put64(7 | (info & ~0xffff_ffff), at: entry + 8)
        #expect(try Self.reason(patched.bytes).contains("relocation type 7"))

        // Point the relocation at the program's exit instruction.
        let xdp = try #require(elf.section("xdp"))
        let exit = try #require(
            stride(from: xdp.data, to: xdp.data + xdp.size, by: 8).first { elf.bytes[$0] == 0x95 })
        patched = elf
        patched.put64(exit - xdp.data, at: entry)
        #expect(try Self.reason(patched.bytes).contains("not lddw"))

        patched = elf
        patched.put64(xdp.size + 64, at: entry)
        #expect(try Self.reason(patched.bytes).contains("not on an instruction"))
    }

    @Test("a program section that is not whole instructions, or ends inside an lddw, is refused")
    func badSectionSizes() throws {
        let elf = try Self.compiled()
        let xdp = try #require(elf.section("xdp"))
        var patched = elf
        patched.put64(xdp.size - 4, at: xdp.header + 32)
        #expect(try Self.reason(patched.bytes).contains("not a multiple"))

        let lddw = try #require(
            stride(from: xdp.data, to: xdp.data + xdp.size, by: 8).first { elf.bytes[$0] == 0x18 })
        patched = elf
        patched.put64(lddw - xdp.data + 8, at: xdp.header + 32)
        #expect(try Self.reason(patched.bytes).contains("lddw at xdp instruction"))
    }

    @Test("a legacy map definition of a bad size is refused")
    func badLegacyMap() throws {
        let elf = try Self.compiled()
        let maps = try #require(elf.section("maps"))
        var patched = elf
        for size in [4, 12, 19] {
            patched.put64(size, at: maps.header + 32)
            #expect(
                try Self.reason(patched.bytes)
                    == "legacy map definitions are \(size) bytes; struct bpf_map_def needs 20")
        }
    }

    @Test(".maps without BTF is refused, naming what is missing")
    func mapsWithoutBTF() throws {
        var elf = try Self.compiled()
        let btf = try #require(elf.section(".BTF"))
        // Rename .BTF to .BTX in the section name table.
        let nameAt = elf.u64(elf.header(elf.u16(0x3e)) + 24) + elf.u32(btf.header)
        elf.bytes[nameAt + 3] = UInt8(ascii: "X")
        #expect(try Self.reason(elf.bytes).contains(".maps section needs BTF"))
    }

    @Test("random multi-byte damage to the shipped objects never crashes the loader")
    func randomDamage() throws {
        var generator = SplitMix64(seed: 0x5eed_0b1e)
        for path in ShippedObjectTests.objects {
            let elf = try ELFPatcher(path: path)
            // Damage where the loader reads: headers and every non-DWARF section.
            var positions =
                Array(0..<64) + Array(elf.sectionHeaderOffset..<(elf.sectionHeaderOffset + elf.sectionCount * 64))
            for index in 0..<elf.sectionCount where !elf.name(ofSection: index).contains(".debug") {
                let header = elf.header(index)
                guard elf.u32(header + 4) != 8 else { continue }  // SHT_NOBITS has no bytes in the file
                positions += Array(elf.u64(header + 24)..<(elf.u64(header + 24) + elf.u64(header + 32)))
            }
            for _ in 0..<200 {
                var bytes = elf.bytes
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    bytes[positions.randomElement(using: &generator)!] = UInt8.random(in: 0...255, using: &generator)
                }
                _ = Self.attempt(bytes)
            }
        }
    }

    @Test("a requested program or section that does not exist is refused with the list of programs")
    func missingProgram() throws {
        let object = try BPFObjectFile(bytes: try Self.compiled().bytes, name: "broken.o")
        let error = try #require(throws: ObjectLoadError.self) { try object.program(section: "tc") }
        #expect(error.path == "broken.o")
        #expect(error.reason == "no section tc; available: broken (section xdp)")
        let unreadable = try #require(throws: ObjectLoadError.self) { try BPFObjectFile(path: "/nonexistent/x.o") }
        #expect(unreadable.reason.contains("cannot open"))
    }
}

