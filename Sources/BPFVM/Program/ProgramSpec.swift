/// A program ready to be verified and run: instructions with every relocation applied, plus what the VM needs to
/// resolve the references that remain symbolic.
///
/// Map references are `lddw` pseudo-loads by index (`src` = 5 map, 6 map value + offset) into `maps`. Calls to
/// sub-programs are already BPF-to-BPF calls (`src` = 1) into the same instruction array.
public struct ProgramSpec: Hashable, Sendable {
    /// The function name (`xdp_prog`).
    public var name: String
    /// The ELF section it came from (`xdp`, `xdp.frags`, …); empty for assembled programs.
    public var section: String
    public var instructions: [Instruction]
    /// Every map of the object, indexed by the pseudo-loads.
    public var maps: [MapSpec]
    /// Source positions from BTF line info, by instruction index.
    public var lineInfo: [Int: SourceLocation]
    /// kfunc calls (`call` with `src` = 2) by instruction index: the extern's name.
    public var kfuncCalls: [Int: ExternReference]
    /// `lddw` of an extern symbol's address (`src` = 3) by instruction index, e.g. `bpf_ksym_exists(kfunc)`.
    public var externAddresses: [Int: ExternReference]
    /// The `license` section's text.
    public var license: String
    /// Other programs of the same object by function name, for PROG_ARRAY initialisers (tail calls). Their `maps` are
    /// this program's `maps` (one object, one set of maps).
    public var siblings: [String: ProgramSpec]
    /// The functions linked into `instructions`, by entry instruction: names, and for global (non-static) functions
    /// the BTF signature the kernel verifies them from. Empty for assembled programs (every function static).
    public var functions: [Int: FunctionInfo] = [:]

    public init(
        name: String, section: String = "", instructions: [Instruction], maps: [MapSpec] = [],
        lineInfo: [Int: SourceLocation] = [:], kfuncCalls: [Int: ExternReference] = [:],
        externAddresses: [Int: ExternReference] = [:], license: String = "", siblings: [String: ProgramSpec] = [:]
    ) {
        self.name = name
        self.section = section
        self.instructions = instructions
        self.maps = maps
        self.lineInfo = lineInfo
        self.kfuncCalls = kfuncCalls
        self.externAddresses = externAddresses
        self.license = license
        self.siblings = siblings
    }
}

/// A reference to an extern function or variable that the VM resolves against Sluice's ABI table.
public struct ExternReference: Hashable, Sendable {
    public var name: String
    /// A weak extern resolves to 0 when Sluice does not provide it, instead of failing the load.
    public var isWeak: Bool
    public init(name: String, isWeak: Bool) {
        self.name = name
        self.isWeak = isWeak
    }
}

/// A position in the program's C source, from BTF line info.
public struct SourceLocation: Hashable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    /// The source line's text, when the object carries it.
    public var text: String?
    public init(file: String, line: Int, column: Int, text: String? = nil) {
        self.file = file
        self.line = line
        self.column = column
        self.text = text
    }
    public var description: String { "\(file):\(line)" + (column > 0 ? ":\(column)" : "") }
}
