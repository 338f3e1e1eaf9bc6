import BPFVM
import CLibPcap

/// A tcpdump-style filter expression, compiled by libpcap, validated and translated to eBPF
/// (`ClassicTranslator`), verified by Sluice's verifier and run on the engine `ProgramLoader` chooses: the frame
/// matches when the program returns non-zero.
///
/// `matches` is the per-frame call the replay, benchmark and live loops make: no allocation, no ARC, no throw. One
/// filter per worker (it owns a VM machine).
public final class PacketFilter {
    /// The expression as given.
    public let expression: String
    /// libpcap's classic program.
    public let classic: ClassicProgram
    /// The translated eBPF program.
    public let translated: [Instruction]
    /// The engine the filter runs on.
    public var engine: Engine { runner.engine }
    /// Why `auto` chose the interpreter, if it did.
    public let engineNote: String?
    let loaded: ProgramLoader.Loaded
    let runner: ProgramRunner
    /// A byte to point empty frames at.
    private let emptyPacket = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)

    deinit { emptyPacket.deallocate() }

    /// Compiles `expression` for Ethernet frames (`DLT_EN10MB`) with `snapshotLength` (the value a matching
    /// classic `ret` returns), then translates, verifies and loads it.
    public convenience init(
        expression: String, snapshotLength: Int = 262_144, engine: EngineChoice = .auto
    ) throws(FilterError) {
        let classic = try ClassicProgram.compile(expression, linkType: DLT_EN10MB, snapshotLength: snapshotLength)
        try self.init(classic: classic, expression: expression, engine: engine)
    }

    /// The same filter for another worker: shares the loaded program, has its own VM machine.
    public func forAnotherWorker() -> PacketFilter { PacketFilter(copying: self) }

    private init(copying other: PacketFilter) {
        expression = other.expression
        classic = other.classic
        translated = other.translated
        engineNote = other.engineNote
        loaded = other.loaded
        runner = ProgramRunner(loaded: other.loaded)
    }

    /// Translates, verifies and loads a classic program (from libpcap or written by hand).
    public init(classic: ClassicProgram, expression: String = "", engine: EngineChoice = .auto) throws(FilterError) {
        self.expression = expression
        self.classic = classic
        let translated = try ClassicTranslator.translate(classic)
        self.translated = translated
        let spec = ProgramSpec(name: "filter", section: "xdp", instructions: translated, license: "GPL")
        do {
            loaded = try ProgramLoader.load(spec, possibleCPUs: 1, engine: engine)
        } catch {
            // The translator's output failing Sluice's verifier is a translator bug; say so with the verifier's words.
            throw FilterError("translated filter refused by the verifier (a Sluice bug; please report it): \(error)")
        }
        engineNote = loaded.engineNote
        runner = ProgramRunner(loaded: loaded)
    }

    /// Whether the frame's packet bytes (`data ..< data + length`) match; `len` in the expression is the frame's
    /// length. The frame is not changed.
    @inline(__always)
    public func matches(_ frame: Frame) -> Bool {
        matches(frame, wireLength: frame.length)
    }

    /// Whether the frame matches, with `len` (`greater`, `less`) the packet's length on the wire, as tcpdump reads a
    /// record cut short by a snapshot length (the loads still see only the captured bytes).
    @inline(__always)
    public func matches(_ frame: Frame, wireLength: Int) -> Bool {
        returnValue(frame, wireLength: wireLength) != 0
    }

    /// Whether the packet bytes match (`wireLength`: see `matches(_:wireLength:)`; nil = the captured length). The
    /// bytes are only read.
    @inline(__always)
    public func matches(_ packet: UnsafeRawBufferPointer, wireLength: Int? = nil) -> Bool {
        returnValue(packet, wireLength: wireLength) != 0
    }

    /// The filter's return value (the classic program's `ret`: 0 = no match, else the snapshot length to keep).
    @inline(__always)
    public func returnValue(_ packet: UnsafeRawBufferPointer, wireLength: Int? = nil) -> UInt32 {
        // A zero-length record has no base address; any valid pointer does, as nothing is read from it.
        let base = UnsafeMutableRawPointer(mutating: packet.baseAddress ?? UnsafeRawPointer(emptyPacket))
        let frame = Frame(buffer: base, bufferSize: packet.count, dataOffset: 0, length: packet.count)
        return returnValue(frame, wireLength: wireLength ?? packet.count)
    }

    /// The filter's return value on `frame`, `len` being `wireLength`.
    @inline(__always)
    public func returnValue(_ frame: Frame, wireLength: Int) -> UInt32 {
        var copy = frame
        copy.ingressIfindex = UInt32(clamping: wireLength)
        let result = runner.run(&copy, frameEnd: frame.bufferSize)
        return result.fault == nil ? UInt32(truncatingIfNeeded: result.returnValue) : 0
    }

    /// The classic program as `tcpdump -d` prints it, then the translated eBPF program (Sluice's disassembler).
    public var disassembly: [String] {
        var lines = ["; classic BPF (libpcap), \(classic.instructions.count) instructions:"]
        lines += classic.listing
        lines.append("; eBPF (translated, verified, engine \(engine.rawValue)), \(translated.count) instructions:")
        lines += Disassembler.listing(of: translated)
        return lines
    }
}
