import BPFVM

#if canImport(Glibc)
    import Glibc
#endif

/// A clang-compiled BPF object file (`clang -O2 -g -target bpf -c`), parsed and checked, from which programs are
/// linked on request.
///
/// Loading reads every section, symbol and relocation the programs use and refuses a malformed file with an
/// `ObjectLoadError`. Features Sluice does not support (CO-RE relocations, `.kconfig` externs, calls outside `.text`)
/// are refused when a program that uses them is requested, so the other programs of the object stay usable.
///
/// Map order (the index `lddw` pseudo-loads use): legacy `maps` definitions in symbol-table order, then BTF `.maps`
/// in their `DATASEC` order, then one map per non-empty global-data section (`.rodata*`, `.data*`, `.bss*`) in
/// section-header order — the order libbpf creates them in.
public struct BPFObjectFile: Hashable, Sendable {
    /// The file name given at load (used in errors).
    public var path: String
    /// Entry programs: every function of an executable section other than `.text`, in section then address order.
    public var programs: [ProgramInfo]
    /// Every map of the object, in the order described above.
    public var maps: [MapSpec]
    /// The `license` section's text (empty when there is none).
    public var license: String
    /// Variables of the global-data sections, for `--set NAME=VALUE`.
    public var globals: [GlobalVariable]
    /// The named structs, unions and typedefs of its BTF (`struct ip_event` as `ip_event`), e.g. for ring-buffer
    /// records (`replay --event-type`).
    public var namedTypes: [String: BTFType] = [:]

    /// The code sections (entry sections and `.text`), already relocated into symbolic references.
    var codeSections: [CodeSection]
    /// Index into `codeSections` of `.text`, if the object has one.
    var textSection: Int?
    /// BTF function signatures by name (`ProgramSpec.functions`).
    var functionInfo: [String: FunctionInfo] = [:]

    /// Reads and parses the object at `path`.
    public init(path: String) throws(ObjectLoadError) {
        try self.init(bytes: try Self.readFile(path), name: path)
    }

    /// Parses an object from memory; `name` is used in error messages.
    public init(bytes: [UInt8], name: String) throws(ObjectLoadError) {
        let parser = try ObjectParser(bytes: bytes, path: name)
        path = name
        license = parser.license
        maps = parser.maps
        globals = parser.globals
        namedTypes = parser.namedTypes
        codeSections = parser.codeSections
        textSection = parser.textSection
        functionInfo = parser.functionInfo
        let text = parser.textSection
        programs = parser.codeSections.enumerated().flatMap { index, section in
            index == text
                ? []
                : section.functions.map {
                    ProgramInfo(name: $0.name, section: section.name, instructionCount: $0.count)
                }
        }
    }

    /// Links one entry program with its `.text` sub-programs.
    ///
    /// With neither argument, the first XDP program (section `xdp`, `xdp.*` or `xdp/*`), or the only program when
    /// there is exactly one. With a section only, the first program of that section.
    public func program(named name: String? = nil, section: String? = nil) throws(ObjectLoadError) -> ProgramSpec {
        let chosen = try choose(name: name, section: section)
        var spec = try link(chosen)
        for other in programs where other != chosen {
            // A sibling that cannot be linked (e.g. a tracing program with CO-RE relocations) is left out; a tail
            // call to it then fails in the VM with its name.
            if let sibling = try? link(other) { spec.siblings[other.name] = sibling }
        }
        return spec
    }

    private func choose(name: String?, section: String?) throws(ObjectLoadError) -> ProgramInfo {
        let candidates = programs.filter {
            (name == nil || $0.name == name) && (section == nil || $0.section == section)
        }
        if name == nil && section == nil {
            if let xdp = programs.first(where: \.isXDP) { return xdp }
            if programs.count == 1 { return programs[0] }
            throw ObjectLoadError(
                path: path, reason: "no XDP program (section xdp, xdp.* or xdp/*) in the object; \(available)")
        }
        guard let first = candidates.first else {
            let wanted = [name.map { "program \($0)" }, section.map { "section \($0)" }].compactMap { $0 }
            throw ObjectLoadError(path: path, reason: "no \(wanted.joined(separator: " in ")); \(available)")
        }
        return first
    }

    private var available: String {
        programs.isEmpty
            ? "the object has no programs"
            : "available: " + programs.map { "\($0.name) (section \($0.section))" }.joined(separator: ", ")
    }

    /// The largest object file read (clang's objects are kilobytes; vmlinux-sized ones are not programs to load).
    public static let maximumFileSize = 256 << 20

    /// Reads a regular file of at most `maximumFileSize` bytes; a device, FIFO or directory is refused (`/dev/zero`
    /// would be read without end).
    private static func readFile(_ path: String) throws(ObjectLoadError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw ObjectLoadError(path: path, reason: "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw ObjectLoadError(path: path, reason: "cannot stat: \(String(cString: strerror(errno)))")
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw ObjectLoadError(path: path, reason: "is a directory, not an object file")
        case S_IFCHR, S_IFBLK: throw ObjectLoadError(path: path, reason: "is a device, not an object file")
        default: throw ObjectLoadError(path: path, reason: "is not a regular file (an object file is required)")
        }
        guard info.st_size <= maximumFileSize else {
            throw ObjectLoadError(
                path: path, reason: "is \(info.st_size) bytes, larger than the \(maximumFileSize >> 20) MiB limit for objects")
        }
        guard info.st_size > 0 else { throw ObjectLoadError(path: path, reason: "is empty, not an object file") }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw ObjectLoadError(path: path, reason: "cannot read: \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return bytes
    }
}

/// An entry program of an object.
public struct ProgramInfo: Hashable, Sendable, CustomStringConvertible {
    /// The function name.
    public var name: String
    /// The ELF section (`xdp`, `xdp.frags`, `tc`, …).
    public var section: String
    /// Instruction slots of the function itself (sub-programs it calls are not counted).
    public var instructionCount: Int

    /// Whether libbpf would load it as an XDP program (section `xdp`, `xdp.*`, `xdp/*`).
    public var isXDP: Bool { section == "xdp" || section.hasPrefix("xdp.") || section.hasPrefix("xdp/") }

    public var description: String { "\(name) (section \(section), \(instructionCount) instructions)" }
}

/// A variable of a global-data section (`.rodata`, `.data`, `.bss`, …): where its bytes live in its map's value.
public struct GlobalVariable: Hashable, Sendable {
    public var name: String
    /// The section (= map name), e.g. `.rodata`.
    public var section: String
    /// Index of the section's map in `BPFObjectFile.maps`.
    public var mapIndex: Int
    /// Byte offset in the map's value.
    public var offset: Int
    public var size: Int
    /// The variable's integer type from BTF (nil: not an integer, or no BTF), for range checks of `--set`.
    public var integer: IntegerKind? = nil

    public enum IntegerKind: Hashable, Sendable {
        case signed, unsigned, bool
    }
}
