import ArgumentParser
import BPFObject
import BPFVM
import Foundation

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

/// `sluice disasm FILE`: disassembles a program of a BPF ELF object (with its source lines), or raw instruction bytes.
struct DisassembleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disasm",
        abstract: "Disassemble a program of a BPF object (with source lines from BTF), or raw instruction bytes.")

    @Argument(help: "A BPF ELF object, or a file of raw little-endian instruction words.")
    var input: String

    @Option(help: "ELF section of the program.")
    var section: String?

    @Option(help: "Function name of the program.")
    var program: String?

    @Option(help: "Listing style: sluice (the assembler's syntax) or bpftool (the kernel's, as verifier logs print it).")
    var style: DisassemblyStyle = .sluice

    enum DisassemblyStyle: String, ExpressibleByArgument, CaseIterable {
        case sluice, bpftool
    }

    func run() throws {
        let bytes = try FileSystem.readBytes(input)
        if bytes.starts(with: [0x7f, 0x45, 0x4c, 0x46]) {
            let spec: ProgramSpec
            do { spec = try BPFObjectFile(path: input).program(named: program, section: section) } catch {
                throw CLIError("\(error)")
            }
            print("\(spec.name) (section \(spec.section), \(spec.instructions.count) instructions, \(spec.maps.count) maps)")
            for (index, map) in spec.maps.enumerated() {
                print("  map[\(index)] \(map.name): \(map.type), key \(map.keySize) B, value \(map.valueSize) B, \(map.maxEntries) entries")
            }
            var lastLine: SourceLocation? = nil
            let symbols = KernelSyntax.Symbols(
                mapNames: spec.maps.map(\.name), kfuncNames: spec.kfuncCalls.mapValues(\.name))
            let listing =
                switch style {
                case .sluice: Disassembler.listing(of: spec.instructions)
                case .bpftool: KernelSyntax.listing(of: spec.instructions, symbols: symbols)
                }
            var slot = 0
            for line in listing {
                if let location = spec.lineInfo[slot], location.line > 0, location != lastLine {
                    let text = location.text?.trimmingCharacters(in: .whitespaces)
                    switch style {
                    case .sluice: print("; \(location)" + (text.map { ": " + $0 } ?? ""))
                    case .bpftool: print("; " + (text.map { $0 + " " } ?? "") + "@ \(location)")
                    }
                    lastLine = location
                }
                print(line)
                slot += spec.instructions[slot].opcode == 0x18 ? 2 : 1
            }
            return
        }
        guard bytes.count % 8 == 0 else {
            throw CLIError("\(input): \(bytes.count) bytes is not a whole number of 8-byte instructions")
        }
        let instructions = Instruction.decode(littleEndianBytes: bytes)
        let listing =
            switch style {
            case .sluice: Disassembler.listing(of: instructions)
            case .bpftool: KernelSyntax.listing(of: instructions)
            }
        for line in listing { print(line) }
    }
}
