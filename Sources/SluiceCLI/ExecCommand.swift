import ArgumentParser
import BPFVM
import Sluice

/// `sluice exec FILE.s`: assemble a program and run it once on a memory buffer (r1 = buffer, r2 = its length),
/// every memory access bounds-checked. The quickest way to try an instruction sequence.
struct ExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Assemble a program (bpf_conformance syntax) and run it on a memory buffer, checked.")

    @Argument(help: "Assembly source file.")
    var source: String

    @Option(help: "Initial memory as hex bytes (spaces allowed); r1 points to it, r2 is its length.")
    var mem: String = ""

    @Flag(help: "Print the disassembly before running.")
    var list = false

    func run() throws {
        let text = try FileSystem.readText(source)
        let program: [Instruction]
        do { program = try Assembler.assemble(text) } catch { throw CLIError("\(source):\(error.line): \(error.message)") }
        guard var memory = Hex.bytes(mem.filter { !$0.isWhitespace }) else { throw CLIError("--mem: not hex bytes") }
        if list { for line in Disassembler.listing(of: program) { print(line) } }
        let executable: ExecutableProgram
        do {
            executable = try ExecutableProgram(
                instructions: program, context: TranslationContext(helper: HelperTable.function(id:)),
                analyseContext: false)
        } catch { throw CLIError("\(source): \(error)") }
        let machine = Machine()
        let result = memory.withUnsafeMutableBytes { buffer -> RunResult in
            let start = UInt(bitPattern: buffer.baseAddress)
            let region = UnsafeMutablePointer<MemoryRegion>.allocate(capacity: 1)
            defer { region.deallocate() }
            region.initialize(to: MemoryRegion(start: start, end: start + UInt(buffer.count), writable: true))
            machine.environment.pointee.regions = region
            machine.environment.pointee.regionCount = 1
            defer { machine.environment.pointee.regions = nil }
            return machine.runCounting(executable, r1: UInt64(start), r2: UInt64(buffer.count))
        }
        if let fault = result.fault { throw CLIError("fault: \(fault)") }
        print("r0 = \(result.returnValue) (0x\(String(result.returnValue, radix: 16))), \(result.instructionCount) instructions executed")
        if !memory.isEmpty { print("memory: \(Hex.string(memory))") }
    }
}
