import BPFVM
import Foundation
import Testing

@testable import Sluice

/// Sluice's stable kfunc ABI from a real clang-compiled program: a weak extern Sluice does not provide resolves to 0
/// so the program can test for it, and a program prefers `_v2` and falls back to `_v1`.
@Suite struct KfuncABITests {
    static let source = """
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>

        #define ksym_exists(sym) ({ _Static_assert(!__builtin_constant_p(!!sym), #sym " must be __weak"); !!sym; })

        extern __u64 sluice_frame_timestamp_ns_v1(struct xdp_md *ctx) __ksym __weak;
        extern __u64 sluice_frame_timestamp_ns_v2(struct xdp_md *ctx, __u64 flags) __ksym __weak;
        extern __u64 sluice_frame_timestamp_ns_v9(struct xdp_md *ctx) __ksym __weak;  /* not provided */

        struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); } seen SEC(".maps");

        static void record(__u32 slot, __u64 value) {
            __u64 *cell = bpf_map_lookup_elem(&seen, &slot);
            if (cell) *cell = value;
        }

        SEC("xdp") int probe(struct xdp_md *ctx) {
            if (ksym_exists(sluice_frame_timestamp_ns_v9)) {
                record(0, sluice_frame_timestamp_ns_v9(ctx));
                return XDP_ABORTED;
            }
            if (ksym_exists(sluice_frame_timestamp_ns_v2)) {
                record(1, sluice_frame_timestamp_ns_v2(ctx, 0));
                return XDP_PASS;
            }
            if (ksym_exists(sluice_frame_timestamp_ns_v1)) {
                record(2, sluice_frame_timestamp_ns_v1(ctx));
                return XDP_DROP;
            }
            return XDP_TX;
        }
        char _license[] SEC("license") = "GPL";
        """

    @Test func weakKfuncsResolveToZeroAndProgramsFallBack() throws {
        let object = try BPFCompiler.compile(source: Self.source, name: "kfunc_probe")
        let (_, _, spec) = try ProgramSource.open(objectPath: object)
        let loaded = try ProgramLoader.load(spec, possibleCPUs: 1, verify: true)
        let runner = ProgramRunner(program: loaded.program)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: XDPFrameGeometry.frameSize, alignment: 64)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: XDPFrameGeometry.frameSize)
        var frame = Frame(
            buffer: buffer, bufferSize: XDPFrameGeometry.frameSize - XDPFrameGeometry.tailroom,
            dataOffset: XDPFrameGeometry.headroom, length: 60, timestampNanos: 1_700_000_000_123_456_789)
        let result = runner.run(&frame, frameEnd: frame.bufferSize)
        #expect(result.fault == nil)
        #expect(XDPAction(returnValue: result.returnValue) == .pass, "the program must take the _v2 path")
        let seen = try #require(loaded.program.map(named: "seen"))
        #expect(seen.lookup(key: [1, 0, 0, 0]) == withUnsafeBytes(of: UInt64(1_700_000_000_123_456_789).littleEndian, Array.init))
        #expect(seen.lookup(key: [0, 0, 0, 0]) == [UInt8](repeating: 0, count: 8), "the absent _v9 must not be called")
    }
}
