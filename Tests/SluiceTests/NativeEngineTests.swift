import BPFNative
import BPFVM
import Foundation
import Testing

@testable import Sluice
@testable import SluiceBench

/// The native engine end to end: every example program compiles (entry and tail-call targets, so tail calls stay
/// native), array lookups are inlined, the example programs agree with the interpreter on synthetic traffic, and a
/// machine without LLVM is told what to install.
@Suite struct NativeEngineTests {
    static var programs: [String] {
        Repository.replayedPrograms + ["parse_bench"]
    }

    @Test(arguments: programs)
    func everyProgramCompilesWithItsTailCallTargets(program: String) throws {
        try #require(NativeCompiler.isAvailable, "LLVM 19 is required: \(NativeCompiler.unavailableReason ?? "")")
        let (_, _, spec) = try ProgramSource.open(objectPath: try Repository.object(program))
        let loaded = try ProgramLoader.load(spec, possibleCPUs: 1, engine: .native)
        #expect(loaded.engine == .native)
        for (name, executable) in loaded.program.siblings {
            #expect(executable.nativeCode is NativeCode, "\(program): \(name) has no native code")
        }
        #expect(ProgramRunner(loaded: loaded).engine == .native)
    }

    @Test(arguments: programs)
    func nativeAgreesWithTheInterpreterOnSyntheticTraffic(program: String) throws {
        try #require(NativeCompiler.isAvailable, "LLVM 19 is required: \(NativeCompiler.unavailableReason ?? "")")
        let (source, _, spec) = try ProgramSource.open(objectPath: try Repository.object(program))
        // Two loads: each engine has its own maps, so map contents can be compared at the end too.
        let interpreted = try ProgramLoader.load(spec, possibleCPUs: 1, engine: .interpreter)
        let native = try ProgramLoader.load(spec, possibleCPUs: 1, engine: .native)
        try source.state.apply(to: interpreted.program)
        try source.state.apply(to: native.program)
        let a = ProgramRunner(loaded: interpreted)
        let b = ProgramRunner(loaded: native)
        #expect(a.engine == .interpreter && b.engine == .native)
        let frames = SyntheticTraffic.mixed.frames(count: 300)
        let size = XDPFrameGeometry.frameSize
        let bufferA = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        let bufferB = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        defer {
            bufferA.deallocate()
            bufferB.deallocate()
        }
        let frameEnd = size - XDPFrameGeometry.tailroom
        for (i, bytes) in frames.enumerated() {
            let length = min(bytes.count, XDPFrameGeometry.maxLinearData)
            for buffer in [bufferA, bufferB] {
                buffer.initializeMemory(as: UInt8.self, repeating: 0, count: size)
                bytes.withUnsafeBytes { (buffer + XDPFrameGeometry.headroom).copyMemory(from: $0.baseAddress!, byteCount: length) }
            }
            var fa = Frame(
                buffer: bufferA, bufferSize: frameEnd, dataOffset: XDPFrameGeometry.headroom, length: length,
                timestampNanos: 1_000 * UInt64(i), ingressIfindex: 1)
            var fb = fa
            fb.buffer = bufferB
            let ra = a.run(&fa, frameEnd: frameEnd)
            let rb = b.run(&fb, frameEnd: frameEnd)
            #expect(ra.returnValue == rb.returnValue, "\(program) packet \(i): r0 \(ra.returnValue) vs \(rb.returnValue)")
            #expect(ra.fault == nil && rb.fault == nil)
            #expect(fa.dataOffset == fb.dataOffset && fa.length == fb.length && fa.metaLength == fb.metaLength)
            #expect(memcmp(bufferA, bufferB, size) == 0, "\(program) packet \(i): frame bytes differ")
            #expect(ra.redirectKind == rb.redirectKind && ra.redirectValue == rb.redirectValue)
        }
        for (ma, mb) in zip(interpreted.program.mapEntries(), native.program.mapEntries()) {
            #expect(
                ma.entries.map { "\($0)" } == mb.entries.map { "\($0)" },
                "\(program): map \(ma.map.spec.name) differs between the engines")
        }
    }

    @Test func arrayLookupsAreInlined() throws {
        try #require(NativeCompiler.isAvailable)
        let (_, _, spec) = try ProgramSource.open(objectPath: try Repository.object("parse_bench"))
        let loaded = try ProgramLoader.load(spec, possibleCPUs: 1, engine: .native)
        let code = try #require(loaded.program.executable.nativeCode as? NativeCode)
        // parse_bench calls only bpf_map_lookup_elem, on two ARRAY maps: no helper call remains.
        #expect(!code.irText.contains("call i64 %v"), "a helper call was not inlined")
        #expect(loaded.compileNanoseconds > 0)
    }

    /// The binary, run with no usable libLLVM: `--engine native` names what to install; `auto` runs the interpreter.
    @Test func withoutLLVMNativeSaysWhatToInstall() throws {
        let binary = Repository.path(".build/debug/sluice")
        try #require(FileManager.default.fileExists(atPath: binary), "build the sluice executable first")
        func run(_ engine: String) throws -> (status: Int32, stderr: String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = [
                "replay", try Repository.object("counters"), Repository.path("pcaps/counters.pcap"), "--engine", engine,
            ]
            var environment = ProcessInfo.processInfo.environment
            environment["SLUICE_LLVM_LIBRARY"] = "/nonexistent/libLLVM.so.19.1"
            process.environment = environment
            let errors = Pipe()
            process.standardError = errors
            process.standardOutput = Pipe()
            try process.run()
            let data = errors.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
        }
        let native = try run("native")
        #expect(native.status != 0)
        #expect(native.stderr.contains("llvm-19"), "\(native.stderr)")
        let auto = try run("auto")
        #expect(auto.status == 0, "\(auto.stderr)")
        #expect(auto.stderr.contains("engine interpreter"), "\(auto.stderr)")
    }
}
