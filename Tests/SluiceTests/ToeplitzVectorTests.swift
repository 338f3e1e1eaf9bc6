import BPFVM
import Foundation
import Testing

@testable import Sluice

/// programs/rss_toeplitz.c, run in Sluice's VM, reports the published Microsoft Toeplitz verification hashes
/// (programs/testdata/toeplitz-vectors.txt) in the metadata area — and the kernel reports the same.
@Suite struct ToeplitzVectorTests {
    struct Vector: CustomTestStringConvertible {
        var family: String
        var source: [UInt8], sourcePort: UInt16, destination: [UInt8], destinationPort: UInt16
        var hash2: UInt32, hash4: UInt32
        var testDescription: String { "\(family) \(hash4)" }
    }

    static let vectors: [Vector] = {
        guard let text = try? String(contentsOfFile: Repository.path("programs/testdata/toeplitz-vectors.txt"), encoding: .utf8)
        else { return [] }
        return text.split(separator: "\n").compactMap { line -> Vector? in
            let f = line.split(separator: " ").map(String.init)
            guard f.count == 7, f[0] == "ipv4" || f[0] == "ipv6" else { return nil }
            func address(_ text: String) -> [UInt8] {
                var bytes = [UInt8](repeating: 0, count: f[0] == "ipv4" ? 4 : 16)
                _ = inet_pton(f[0] == "ipv4" ? AF_INET : AF_INET6, text, &bytes)
                return bytes
            }
            return Vector(
                family: f[0], source: address(f[1]), sourcePort: UInt16(f[2])!, destination: address(f[3]),
                destinationPort: UInt16(f[4])!, hash2: UInt32(f[5].dropFirst(2), radix: 16)!,
                hash4: UInt32(f[6].dropFirst(2), radix: 16)!)
        }
    }()

    /// An Ethernet frame carrying TCP (4-tuple hash) or, with `tcp: false`, GRE (2-tuple hash).
    static func frame(_ v: Vector, tcp: Bool) -> [UInt8] {
        var bytes: [UInt8] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]
        let payload: [UInt8] =
            tcp
            ? [UInt8(v.sourcePort >> 8), UInt8(v.sourcePort & 0xff), UInt8(v.destinationPort >> 8),
               UInt8(v.destinationPort & 0xff), 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0x20, 0, 0, 0, 0, 0]
            : [0, 0, 0x08, 0x00]
        let proto: UInt8 = tcp ? 6 : 47
        if v.family == "ipv4" {
            bytes += [0x08, 0x00, 0x45, 0, 0, UInt8(20 + payload.count), 0, 1, 0x40, 0, 64, proto, 0, 0]
            bytes += v.source + v.destination
        } else {
            bytes += [0x86, 0xdd, 0x60, 0, 0, 0, 0, UInt8(payload.count), proto, 64]
            bytes += v.source + v.destination
        }
        return bytes + payload
    }

    static func metadata(after bytes: [UInt8], runner: ProgramRunner) -> (hash: UInt32, type: UInt32, action: XDPAction) {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: XDPFrameGeometry.frameSize, alignment: 64)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: XDPFrameGeometry.frameSize)
        (buffer + XDPFrameGeometry.headroom).copyMemory(from: bytes, byteCount: bytes.count)
        var frame = Frame(
            buffer: buffer, bufferSize: XDPFrameGeometry.frameSize - XDPFrameGeometry.tailroom,
            dataOffset: XDPFrameGeometry.headroom, length: bytes.count)
        let result = runner.run(&frame, frameEnd: frame.bufferSize)
        guard frame.metaLength == 8 else { return (0, 0, XDPAction(returnValue: result.returnValue)) }
        let meta = frame.metadata
        return (meta.loadUnaligned(as: UInt32.self), meta.loadUnaligned(fromByteOffset: 4, as: UInt32.self),
                XDPAction(returnValue: result.returnValue))
    }

    static func runner() throws -> ProgramRunner {
        let (_, _, spec) = try ProgramSource.open(objectPath: try Repository.object("rss_toeplitz"))
        let loaded = try ProgramLoader.load(spec, possibleCPUs: 1, verify: true)
        return ProgramRunner(program: loaded.program)
    }

    @Test func theVectorFileHasIPv4AndIPv6Vectors() {
        #expect(Self.vectors.filter { $0.family == "ipv4" }.count >= 5)
        #expect(Self.vectors.filter { $0.family == "ipv6" }.count >= 3)
    }

    @Test(arguments: vectors)
    func sluiceReportsThePublishedHashes(vector: Vector) throws {
        let runner = try Self.runner()
        let four = Self.metadata(after: Self.frame(vector, tcp: true), runner: runner)
        #expect(four.hash == vector.hash4)
        #expect(four.type == (vector.family == "ipv4" ? 2 : 5))  // VIRTIO_NET_HASH_REPORT_TCPv4 / TCPv6
        #expect(four.action == .pass)
        let two = Self.metadata(after: Self.frame(vector, tcp: false), runner: runner)
        #expect(two.hash == vector.hash2)
        #expect(two.type == (vector.family == "ipv4" ? 1 : 4))  // VIRTIO_NET_HASH_REPORT_IPv4 / IPv6
    }

    @Test(arguments: vectors)
    func theKernelAgrees(vector: Vector) throws {
        try #require(Repository.isRoot, "BPF_PROG_TEST_RUN needs root (CAP_BPF + CAP_NET_ADMIN)")
        let kernel = try ProgramSource(objectPath: try Repository.object("rss_toeplitz")).kernelRunner()
        let outcome = try kernel.run(packet: Self.frame(vector, tcp: true))
        try #require(outcome.metadata.count == 8)
        let hash = outcome.metadata.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        #expect(hash == vector.hash4)
    }
}
