/// Which program of an object file to run: by ELF section (`xdp`, `xdp.frags`, `xdp/filter`) or by C function name.
///
/// A string literal means `.named`: the section is tried first, then the function name, so `"xdp"` and
/// `"xdp_firewall"` both work. When a section holds several programs (a tail-call chain), the section selects the
/// first of them in the object (as libxdp's `xdp_program__open_file` does); choose the others by function name.
public enum ProgramSelector: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The program in this ELF section (`bpf_program__section_name`).
    case section(String)
    /// The program with this C function name (`bpf_program__name`).
    case function(String)
    /// A section name, or failing that a function name.
    case named(String)

    public init(stringLiteral value: String) { self = .named(value) }

    public var description: String {
        switch self {
        case .section(let name): "section '\(name)'"
        case .function(let name): "function '\(name)'"
        case .named(let name): "'\(name)'"
        }
    }
}
