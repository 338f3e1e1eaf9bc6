import Foundation
import Testing

@testable import Sluice

/// `bpf_printk` as Sluice prints it equals the kernel's trace output for the same program and packet: the same
/// program runs once in Sluice (replay) and once in the kernel (BPF_PROG_TEST_RUN), and the messages after the
/// kernel's `bpf_trace_printk: ` prefix are compared, conversions of every kind the kernel accepts included.
@Suite(
    .enabled(
        if: KernelPrivileges.sufficient,
        "running the program in the kernel needs CAP_BPF and CAP_NET_ADMIN, and reading its trace buffer root"))
struct PrintkKernelFormatTests {
    /// The formats, each tagged with `marker` so that this run's lines are told apart from anything else in the
    /// kernel's (shared, global) trace buffer.
    static func source(marker: String) -> String {
        """
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>
        char _license[] SEC("license") = "GPL";
        SEC("xdp") int printk_formats(struct xdp_md *ctx) {
            void *data = (void *)(long)ctx->data;
            void *data_end = (void *)(long)ctx->data_end;
            __u32 len = data_end - data;
            __u64 big = 0x123456789abcdefULL + len;
            bpf_printk("\(marker) len %u signed %d hex %x", len, -7 - (int)len, 0xbeef);
            bpf_printk("\(marker) widths [%5d] [%-5d] [%05x]", 12, -34, 0xab);
            bpf_printk("\(marker) long %llu %lld %llx", big, -(long long)big, big);
            bpf_printk("\(marker) chars %c%c %% percent", 'o', 'k');
            bpf_printk("\(marker) i %i X %X plus %+d", 3, 0xcafe, 5);
            bpf_printk("\(marker) space [% d] zero-width [%0d]", 9, 0);
            bpf_printk("\(marker) no arguments");
            return XDP_PASS;
        }
        """
    }

    /// The kernel's trace buffer, read through the non-consuming `trace` file (trace_pipe would steal lines other
    /// readers wait for, and blocks). tracefs is used where it is mounted; otherwise it is mounted in a private mount
    /// namespace of a child process, which leaves the system's mounts as they are.
    static func kernelTrace() throws -> String {
        for path in ["/sys/kernel/tracing/trace", "/sys/kernel/debug/tracing/trace"]
        where FileManager.default.isReadableFile(atPath: path) {
            let out = try Shell.run(["/usr/bin/timeout", "10", "/bin/cat", path], timeoutSeconds: 15)
            if out.status == 0 { return out.stdout }
        }
        let out = try Shell.run(
            [
                "/usr/bin/timeout", "10", "/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
                "mount -t tracefs nodev /sys/kernel/tracing && cat /sys/kernel/tracing/trace",
            ], timeoutSeconds: 15)
        guard out.status == 0 else {
            throw FixtureError("cannot read the kernel's trace buffer (tracefs): \(out.stderr)")
        }
        return out.stdout
    }

    final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func append(_ line: String) { lock.withLock { lines.append(line) } }
        var all: [String] { lock.withLock { lines } }
    }

    @Test func printkMessagesMatchTheKernelsTraceOutput() throws {
        let marker = "sluice-printk-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let object = try BPFCompiler.compile(source: Self.source(marker: marker), name: "printk_formats")
        let directory = try TemporaryDirectory()
        let frame = sampleFrame(length: 98, seed: 3)
        var pcap = ClassicPcapBytes(nanosecond: false)
        pcap.record(seconds: 100, fraction: 250_000, frame)
        let capture = try directory.file("one.pcap", pcap.bytes)

        // Sluice: the trace_pipe-style lines it prints, and the messages of the result line.
        let printed = Lines()
        let (source, _, spec) = try ProgramSource.open(objectPath: object, mapsJSON: nil)
        var options = Replay.Options()
        options.resultsPath = directory.path + "/results.jsonl"
        options.printkOutput = { printed.append($0) }
        _ = try Replay.run(source: source, spec: spec, capture: capture, options: options)
        let ours = printed.all.compactMap(TracePipeFormat.message(ofLine:))
        #expect(ours.count == 7 && ours.count == printed.all.count, "\(printed.all)")
        let results = try String(contentsOfFile: options.resultsPath!, encoding: .utf8)
        let packetLine = try #require(results.split(separator: "\n").first)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(packetLine.utf8)) as? [String: Any])
        #expect(json["trace"] as? [String] == ours)

        // The kernel: the same object and packet through BPF_PROG_TEST_RUN.
        let runner = try KernelRunner(objectPath: object, program: .function("printk_formats"))
        let outcome = try runner.run(packet: frame)
        #expect(outcome.returnValue == 2)
        var theirs: [String] = []
        for _ in 0..<20 {
            // The trace buffer is written synchronously; the retry only covers a slow reader.
            theirs = try Self.kernelTrace().split(separator: "\n").map(String.init)
                .compactMap(TracePipeFormat.message(ofLine:)).filter { $0.hasPrefix(marker) }
            if theirs.count >= ours.count { break }
            usleep(100_000)
        }
        #expect(theirs == ours)
        // Spot checks that the messages mean what they should (both sides agreeing on a wrong text would pass above).
        #expect(ours.first == "\(marker) len 98 signed -105 hex beef")
        #expect(ours.dropFirst().first == "\(marker) widths [   12] [-34  ] [000ab]")
        #expect(ours.contains("\(marker) chars ok % percent"))
    }

    /// Sluice's line has the kernel's layout: `TASK-PID [CPU] FLAGS SECONDS.MICROS: bpf_trace_printk: MESSAGE`.
    @Test func printkLinesHaveTheTracePipeLayout() {
        let line = TracePipeFormat.line(task: "packet", pid: 13, cpu: 0, timestampNanos: 100_250_000_000, message: "hi")
        #expect(line == "          packet-13      [000] .....   100.250000: bpf_trace_printk: hi")
    }
}
