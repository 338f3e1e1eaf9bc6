// Interpreter micro-benchmark: ns per executed eBPF instruction for Sluice's interpreter and for a C switch
// interpreter built into the same binary and timed in the same run, interleaved, on the same packet-parse program.
// Build release: `swift run -c release sluice-vm-bench [--rounds N] [--runs N]`.
// The parse program uses the conformance calling convention (r1 = packet, r2 = length), which the XDP verifier does
// not model: it runs unchecked through the explicit SPI, the benchmark vouching for it (the C reference agrees).
@_spi(Unverified) import BPFVM
import CReferenceInterpreter

#if canImport(Glibc)
import Glibc
#endif

func now() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func argument(_ name: String, default value: Int) -> Int {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: name), i + 1 < args.count, let n = Int(args[i + 1]) { return n }
    return value
}

let rounds = argument("--rounds", default: 15)
/// `--only sluice|c` runs one interpreter (for callgrind: machine instructions per eBPF instruction).
let only: String? = CommandLine.arguments.firstIndex(of: "--only").flatMap { $0 + 1 < CommandLine.arguments.count ? CommandLine.arguments[$0 + 1] : nil }
let runs = argument("--runs", default: 1_000_000)

let instructions = try Assembler.assemble(ParseProgram.source)
let words = instructions.map(\.raw)
let ktime: HelperFunction = { _, _, _, _, _, _ in 0 }
let program = try ExecutableProgram(
    instructions: instructions, context: TranslationContext(helper: { _ in ktime }), analyseContext: false)
let unchecked = program.uncheckedEntryAssumingSafe
let machine = Machine()
var packet = ParseProgram.packet()

// Agreement and instruction count first: both interpreters must compute the same verdict.
let counted = packet.withUnsafeMutableBytes { machine.runCounting(unchecked, r1: UInt64(UInt(bitPattern: $0.baseAddress!)), r2: UInt64($0.count)) }
var referenceCount: UInt64 = 0
let referenceResult = packet.withUnsafeMutableBytes { buffer in
    words.withUnsafeBufferPointer { sluice_reference_run($0.baseAddress, UInt32($0.count), buffer.baseAddress, UInt64(buffer.count), &referenceCount) }
}
guard counted.fault == nil, counted.returnValue == referenceResult, counted.instructionCount == referenceCount else {
    print("disagreement: sluice r0=\(counted.returnValue) n=\(counted.instructionCount) fault=\(String(describing: counted.fault)); reference r0=\(referenceResult) n=\(referenceCount)")
    exit(1)
}
// The timed entry point (threaded code where the platform has it) must agree too.
let fast = packet.withUnsafeMutableBytes { machine.run(unchecked, r1: UInt64(UInt(bitPattern: $0.baseAddress!)), r2: UInt64($0.count)) }
guard fast.fault == nil, fast.returnValue == referenceResult else {
    print("disagreement: sluice run r0=\(fast.returnValue) fault=\(String(describing: fast.fault)); reference r0=\(referenceResult)")
    exit(1)
}
print("agreement: sluice (counting and fast entry points) and the C reference both return \(referenceResult)")
let perRun = Double(counted.instructionCount)

var sluiceSamples: [Double] = []
var referenceSamples: [Double] = []
var sink: UInt64 = 0
packet.withUnsafeMutableBytes { buffer in
    let r1 = UInt64(UInt(bitPattern: buffer.baseAddress!))
    let r2 = UInt64(buffer.count)
    words.withUnsafeBufferPointer { code in
        for _ in 0..<rounds {
            var start = now()
            if only != "c" {
                for _ in 0..<runs { sink &+= machine.run(unchecked, r1: r1, r2: r2).returnValue }
            }
            sluiceSamples.append(Double(now() - start) / (Double(runs) * perRun))
            start = now()
            if only != "sluice" {
                for _ in 0..<runs { sink &+= sluice_reference_run_fast(code.baseAddress, UInt32(code.count), buffer.baseAddress, r2) }
            }
            referenceSamples.append(Double(now() - start) / (Double(runs) * perRun))
        }
    }
}

func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s[s.count / 2] }
func fmt(_ x: Double) -> String { let r = (x * 100).rounded() / 100; return String(r) }
let sMin = sluiceSamples.min()!, rMin = referenceSamples.min()!
print("program: Ethernet/IPv4/UDP parse, \(Int(perRun)) instructions executed per packet; \(rounds) rounds × \(runs) runs, interleaved")
print("interpreter           ns/insn min   median   ns/packet min")
print("sluice (Swift)        \(fmt(sMin))          \(fmt(median(sluiceSamples)))     \(fmt(sMin * perRun))")
print("C switch reference    \(fmt(rMin))          \(fmt(median(referenceSamples)))     \(fmt(rMin * perRun))")
print("ratio sluice / C switch (min): \(fmt(sMin / rMin)), (median): \(fmt(median(sluiceSamples) / median(referenceSamples)))")
if sink == 42 { print("") }  // keep the results alive
