import ArgumentParser
import BPFObject
import BPFVM
import Sluice

/// Options shared by every command that loads a program: which object, which program in it, its initial state.
struct ProgramOptions: ParsableArguments {
    @Argument(help: "The BPF object file (clang -O2 -g -target bpf).")
    var object: String

    @Option(help: "ELF section of the program (xdp, xdp.frags, …).")
    var section: String?

    @Option(help: "Function name of the program (when a section holds several).")
    var program: String?

    @Option(help: "Initial map contents: a JSON file {\"map name\": {\"hex key\": \"hex value\"}} (.rodata/.data too).")
    var maps: String?

    @Option(name: .customLong("set"), help: "Set a global variable by its BTF name: NAME=VALUE (integer or hex:BYTES).")
    var globals: [String] = []

    /// The object, the selected program with the initial state applied to its global data, and the state itself.
    func load() throws -> (object: BPFObjectFile, spec: ProgramSpec, state: InitialState) {
        let file: BPFObjectFile
        do { file = try BPFObjectFile(path: object) } catch { throw CLIError("\(error)") }
        var spec: ProgramSpec
        do { spec = try file.program(named: program, section: section) } catch { throw CLIError("\(error)") }
        var state = InitialState()
        do {
            if let maps { try state.addMaps(json: try FileSystem.readBytes(maps), source: maps) }
            for assignment in globals { try state.addGlobal(assignment, object: file) }
            try state.apply(to: &spec, object: file)
        } catch let error as InitialState.Error { throw CLIError(error.description) }
        return (file, spec, state)
    }

    /// The kernel runner's selector for the same program.
    var kernelSelector: ProgramSelector {
        if let program { return .function(program) }
        if let section { return .section(section) }
        return .named("xdp")
    }
}
