import BPFObject
import BPFVM

/// Where a run's program comes from: an object file, the program chosen in it, and the initial state given to it.
/// Loading applies global-data state before the maps are created, as the kernel does before freezing `.rodata`.
public struct ProgramSource: Sendable {
    public var objectPath: String
    /// Function name of the program; nil = by section, or the object's first XDP program.
    public var program: String?
    public var section: String?
    public var state: InitialState

    public struct Error: Swift.Error, CustomStringConvertible {
        public var description: String
    }

    public init(objectPath: String, program: String? = nil, section: String? = nil, state: InitialState = .init()) {
        self.objectPath = objectPath
        self.program = program
        self.section = section
        self.state = state
    }

    /// Reads the object and selects the program, with `mapsJSON` (`--maps`) and `globals` (`--set`) parsed into the
    /// initial state.
    public static func open(
        objectPath: String, program: String? = nil, section: String? = nil, mapsJSON: [UInt8]? = nil,
        mapsSource: String = "--maps", globals: [String] = []
    ) throws(Error) -> (source: ProgramSource, object: BPFObjectFile, spec: ProgramSpec) {
        let file: BPFObjectFile
        var spec: ProgramSpec
        var state = InitialState()
        do {
            file = try BPFObjectFile(path: objectPath)
            spec = try file.program(named: program, section: section)
        } catch { throw Error(description: "\(error)") }
        do {
            if let mapsJSON { try state.addMaps(json: mapsJSON, source: mapsSource) }
            for assignment in globals { try state.addGlobal(assignment, object: file) }
            try state.apply(to: &spec, object: file)
        } catch { throw Error(description: error.description) }
        return (ProgramSource(objectPath: objectPath, program: program, section: section, state: state), file, spec)
    }

    /// The kernel runner's selector for the same program.
    public var kernelSelector: ProgramSelector {
        if let program { return .function(program) }
        if let section { return .section(section) }
        return .named("xdp")
    }

    /// A kernel runner for the same program with the same initial state.
    public func kernelRunner() throws -> KernelRunner {
        try KernelRunner(objectPath: objectPath, program: kernelSelector, initialMaps: state.maps, globals: state.globals)
    }
}
