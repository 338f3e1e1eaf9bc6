import ArgumentParser
import BPFVM

/// `sluice asm FILE`: assembles conformance-syntax text and prints the instruction words or writes raw bytes.
struct AssembleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "asm",
        abstract: "Assemble eBPF assembly (the bpf_conformance syntax) into instruction words.")

    @Argument(help: "Assembly source file ('-' for standard input).")
    var input: String

    @Option(name: .shortAndLong, help: "Write the little-endian instruction bytes to this file instead of printing words.")
    var output: String?

    func run() throws {
        let source = try FileSystem.readText(input)
        let program: [Instruction]
        do { program = try Assembler.assemble(source) } catch {
            throw CLIError("\(input):\(error.line): \(error.message)")
        }
        if let output {
            try FileSystem.writeBytes(Instruction.encode(program), to: output)
        } else {
            for (i, insn) in program.enumerated() {
                let hex = String(insn.raw, radix: 16)
                print("\(i): 0x" + String(repeating: "0", count: 16 - hex.count) + hex)
            }
        }
    }
}

/// `sluice disasm FILE`: disassembles raw instruction bytes, or a program of a BPF ELF object.
struct DisassembleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disasm",
        abstract: "Disassemble raw eBPF instruction bytes (a .bin file of little-endian words).")

    @Argument(help: "File of raw instruction bytes.")
    var input: String

    func run() throws {
        let bytes = try FileSystem.readBytes(input)
        guard bytes.count % 8 == 0 else {
            throw CLIError("\(input): \(bytes.count) bytes is not a whole number of 8-byte instructions")
        }
        for line in Disassembler.listing(of: Instruction.decode(littleEndianBytes: bytes)) { print(line) }
    }
}
