import BPFVM

/// `sluice debug PROG.o CAPTURE --packet N`: the packets before N replay as usual (so maps hold what they would),
/// then packet N runs observed and stops before its first instruction for commands read line by line:
///
///     step [N]   (s)   run N instructions (1), entering BPF-to-BPF calls
///     next       (n)   run to the next source line, stepping over calls
///     break LINE (b)   stop when an instruction of source line LINE ([FILE:]LINE) is about to run
///     delete           remove every breakpoint
///     continue   (c)   run to the next breakpoint or the end
///     print WHAT (p)   r0…r10, regs, stack [BYTES], packet [BYTES]
///     where            the current instruction and source line
///     quit       (q)   run to the end without stopping
///
/// End of input is `quit`: a script never leaves the debugger waiting. The run is the checked counting interpreter's
/// (the one `--trace` uses), so the instruction count at the end is the trace's.
public final class Debugger {
    public struct Outcome: Sendable {
        public var returnValue: UInt64
        public var instructionCount: UInt64
        public var fault: String?
    }

    public struct Error: Swift.Error, CustomStringConvertible {
        public var description: String
    }

    let runner: ProgramRunner
    let readLine: () -> String?
    let write: (String) -> Void

    /// Programs the observer can meet (entry and tail-call siblings): code start, spec, source line per instruction.
    private struct Program {
        var code: UnsafeRawPointer
        var spec: ProgramSpec
        /// The line-info record in effect at each instruction (the last one at or before it).
        var lines: [SourceLocation?]
    }

    private enum Mode {
        case stepping(remaining: Int)
        case nextLine(depth: Int, line: SourceLocation?)
        case continuing
        case finishing
    }

    private var programs: [Program] = []
    private var mode: Mode = .stepping(remaining: 0)
    private var breakpoints: [(file: String?, line: Int)] = []
    private var lastStop: [UInt64]?
    private var lastLocation: SourceLocation?
    /// The source line of the instruction observed last, so that a breakpoint stops on entering its line only.
    private var previousLine: (file: String, line: Int)?
    private var printk: UnsafeMutablePointer<TraceBuffer>?

    public init(runner: ProgramRunner, readLine: @escaping () -> String?, write: @escaping (String) -> Void) {
        self.runner = runner
        self.readLine = readLine
        self.write = write
        let loaded = runner.program
        programs.append(Self.program(code: UnsafeRawPointer(loaded.executable.entry.code), spec: loaded.spec))
        for (name, executable) in loaded.siblings.sorted(by: { $0.key < $1.key }) {
            guard let spec = loaded.spec.siblings[name] else { continue }
            programs.append(Self.program(code: UnsafeRawPointer(executable.entry.code), spec: spec))
        }
    }

    private static func program(code: UnsafeRawPointer, spec: ProgramSpec) -> Program {
        var lines: [SourceLocation?] = []
        var current: SourceLocation? = nil
        for index in spec.instructions.indices {
            // Line 0 records (code the compiler made up, e.g. a shared call) continue the line before.
            if let location = spec.lineInfo[index], location.line > 0 { current = location }
            if spec.functions[index] != nil && spec.lineInfo[index] == nil { current = nil }
            lines.append(current)
        }
        return Program(code: code, spec: spec, lines: lines)
    }

    /// Replays `capturePath` up to packet `packet` and debugs that one.
    public func run(capturePath: String, packet: Int, synthesizeEthernet: Bool = false) throws -> Outcome {
        // The replay pipeline's source lays frames out as replay does (the kernel test run's geometry, runts refused);
        // the packets before the one debugged run through the pipeline's one verdict step.
        let source = try PcapFrameSource(path: capturePath, synthesizeEthernet: synthesizeEthernet, ingressIfindex: 1)
        var processor = runner.processor
        while source.receive(upTo: 1) != nil {
            let (candidate, token) = source.frame(0)
            let length = token.record.bytes.count
            if token.record.index < packet {
                if var frame = candidate { _ = Pipeline<PcapFrameSource, DiscardingSink>.run(&processor, on: &frame) }
                continue
            }
            guard var frame = candidate else {
                throw Error(
                    description: "packet \(packet) is \(length) bytes, shorter than an Ethernet header: the kernel's "
                        + "test run refuses it, and so does replay (there is nothing to debug)")
            }
            write("packet \(packet): \(length) bytes; stopped before the first instruction (help lists the commands)")
            return debug(&frame, frameEnd: frame.bufferSize)
        }
        if let failure = source.failure { throw failure }
        throw Error(
            description: "the capture has \(source.delivered) packets; there is no packet \(packet) (indexes start at 0)")
    }

    private func debug(_ frame: inout Frame, frameEnd: Int) -> Outcome {
        mode = .stepping(remaining: 0)
        // bpf_printk output of the debugged run, shown as it happens (at the next stop or at the end).
        let printk = UnsafeMutablePointer<TraceBuffer>.allocate(capacity: 1)
        printk.initialize(to: TraceBuffer(capacity: 1 << 16))
        runner.environment.pointee.trace = printk
        self.printk = printk
        defer {
            runner.environment.pointee.trace = nil
            self.printk = nil
            printk.pointee.bytes.deallocate()
            printk.deallocate()
        }
        let observer = UnsafeMutablePointer<InstructionObserver>.allocate(capacity: 1)
        observer.initialize(to: InstructionObserver { [unowned self] step in self.willExecute(step) })
        defer {
            observer.deinitialize(count: 1)
            observer.deallocate()
        }
        let result = runner.runObserved(&frame, frameEnd: frameEnd, observer: observer)
        showPrintk()
        let registers = runner.finalRegisters
        if let fault = result.fault {
            write("fault: \(fault) -> XDP_ABORTED after \(result.instructionCount) instructions")
        } else {
            let action = XDPAction(returnValue: result.returnValue)
            write(
                "returned \(result.returnValue) (\(action.kernelName)) after \(result.instructionCount) instructions; "
                    + "r0=\(Self.hex(registers[0]))")
        }
        return Outcome(
            returnValue: result.returnValue, instructionCount: result.instructionCount,
            fault: result.fault.map { "\($0)" })
    }

    // MARK: - Stopping

    private func willExecute(_ step: ObservedStep) {
        let program = programs.first { $0.code == step.code } ?? programs[0]
        let location = step.index < program.lines.count ? program.lines[step.index] : nil
        let startsLine = (program.spec.lineInfo[step.index]?.line ?? 0) > 0
        let entersLine = location.map { $0.file != previousLine?.file || $0.line != previousLine?.line } ?? false
        previousLine = location.map { ($0.file, $0.line) }
        var stop = false
        switch mode {
        case .stepping(let remaining):
            // Called before each instruction: after `step N` the N-th call is N instructions on.
            if remaining <= 1 { stop = true } else { mode = .stepping(remaining: remaining - 1) }
        case .nextLine(let depth, let line):
            stop = step.depth <= depth && startsLine && (location?.line != line?.line || location?.file != line?.file)
        case .continuing:
            stop = startsLine && entersLine && location.map(isBreakpoint) == true
        case .finishing:
            return
        }
        guard stop else { return }
        showPrintk()
        showStop(step, program: program, location: location)
        commandLoop(step, program: program, location: location)
    }

    /// Prints (and empties) the `bpf_trace_printk` messages written since the last stop.
    private func showPrintk() {
        guard let printk, printk.pointee.count > 0 else { return }
        let bytes = UnsafeRawBufferPointer(start: printk.pointee.bytes, count: printk.pointee.count)
        for message in bytes.split(separator: UInt8(ascii: "\n")) {
            write("  printk: " + String(decoding: message, as: UTF8.self))
        }
        printk.pointee.count = 0
    }

    private func isBreakpoint(_ location: SourceLocation) -> Bool {
        breakpoints.contains { $0.line == location.line && ($0.file.map { location.file.hasSuffix($0) } ?? true) }
    }

    private func showStop(_ step: ObservedStep, program: Program, location: SourceLocation?) {
        let registers = Array(UnsafeBufferPointer(start: step.registers, count: 11))
        if let before = lastStop {
            let changed = (0..<11).filter { registers[$0] != before[$0] }.map { "r\($0)=\(Self.hex(registers[$0]))" }
            if !changed.isEmpty { write("  changed: " + changed.joined(separator: " ")) }
        }
        lastStop = registers
        if let location, location.line != lastLocation?.line || location.file != lastLocation?.file {
            write("  ; \(location.file):\(location.line)" + (location.text.map { "  " + Self.trimmed($0) } ?? ""))
        }
        lastLocation = location
        write("  " + instructionText(step, program: program))
    }

    private func instructionText(_ step: ObservedStep, program: Program) -> String {
        let insns = program.spec.instructions
        let next = step.index + 1 < insns.count ? insns[step.index + 1] : nil
        var text = KernelSyntax.text(
            of: insns[step.index], at: step.index, next: next,
            symbols: KernelSyntax.Symbols(mapNames: program.spec.maps.map(\.name)))
        if let close = text.firstIndex(of: ")"), text.hasPrefix("(") {
            text = String(text[text.index(after: close)...].drop { $0 == " " })
        }
        let prefix = program.code == programs[0].code ? "" : "\(program.spec.name) "
        return "\(prefix)\(step.index): \(text)"
    }

    // MARK: - Commands

    private func commandLoop(_ step: ObservedStep, program: Program, location: SourceLocation?) {
        while true {
            write("(sluice) ")
            guard let line = readLine() else {
                mode = .finishing
                return
            }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let command = words.first else { continue }
            let argument = words.dropFirst().first
            switch command {
            case "step", "s", "stepi", "si":
                let count = argument.flatMap { Int($0) } ?? 1
                guard count >= 1, argument == nil || Int(argument!) != nil else {
                    write("step takes a positive number of instructions")
                    continue
                }
                mode = .stepping(remaining: count)
                return
            case "next", "n":
                mode = .nextLine(depth: step.depth, line: location)
                return
            case "continue", "c":
                mode = .continuing
                return
            case "quit", "q":
                mode = .finishing
                return
            case "break", "b":
                addBreakpoint(argument)
            case "delete":
                breakpoints.removeAll()
                write("no breakpoints")
            case "print", "p":
                print(argument, words.dropFirst(2).first, step)
            case "where", "list", "l":
                lastLocation = nil
                showStopAgain(step, program: program, location: location)
            case "help", "h":
                write(
                    "step [N] | next | break [FILE:]LINE | delete | continue | print r0..r10|regs|stack [BYTES]|packet [BYTES] | where | quit"
                )
            default:
                write("unknown command '\(command)' (help lists them)")
            }
        }
    }

    private func showStopAgain(_ step: ObservedStep, program: Program, location: SourceLocation?) {
        if let location {
            write("  ; \(location.file):\(location.line)" + (location.text.map { "  " + Self.trimmed($0) } ?? ""))
        }
        lastLocation = location
        write("  " + instructionText(step, program: program))
    }

    private func addBreakpoint(_ argument: String?) {
        guard let argument else { return write("break takes a source line: break LINE or break FILE:LINE") }
        var file: String? = nil
        var lineText = Substring(argument)
        if let colon = argument.lastIndex(of: ":") {
            file = String(argument[..<colon])
            lineText = argument[argument.index(after: colon)...]
        }
        guard let line = Int(lineText), line > 0 else {
            return write("break takes a source line: break LINE or break FILE:LINE, not '\(argument)'")
        }
        var instructions: [String] = []
        for program in programs {
            for (index, location) in program.spec.lineInfo.sorted(by: { $0.key < $1.key })
            where location.line == line && (file.map { location.file.hasSuffix($0) } ?? true) {
                instructions.append(program.code == programs[0].code ? "\(index)" : "\(program.spec.name) \(index)")
            }
        }
        guard !instructions.isEmpty else {
            return write("no code at line \(argument) (no instruction has it in the BTF line info)")
        }
        breakpoints.append((file, line))
        write("breakpoint \(breakpoints.count) at line \(line) (instructions \(instructions.joined(separator: ", ")))")
    }

    private func print(_ what: String?, _ extra: String?, _ step: ObservedStep) {
        let registers = Array(UnsafeBufferPointer(start: step.registers, count: 11))
        switch what {
        case let name? where name.hasPrefix("r") && Int(name.dropFirst()).map({ (0...10).contains($0) }) == true:
            let value = registers[Int(name.dropFirst())!]
            write("\(name) = \(Self.hex(value)) (\(Int64(bitPattern: value)))")
        case "regs", "registers":
            write((0...10).map { "r\($0)=\(Self.hex(registers[$0]))" }.joined(separator: " "))
        case "stack":
            let count = min(max(extra.flatMap { Int($0) } ?? 64, 1), 512)
            // The frame pointer's 512 bytes below are the current function's stack; print the top `count` bytes.
            guard let top = UnsafeRawPointer(bitPattern: UInt(registers[10])) else { return write("no stack") }
            let bytes = Array(UnsafeRawBufferPointer(start: top - count, count: count))
            write("stack r10-\(count)..r10:")
            dump(bytes, label: { "r10-\(count - $0)" })
        case "packet":
            let env = runner.environment.pointee
            guard let data = env.data, let end = env.dataEnd, end >= data else { return write("no packet") }
            let length = end - data
            let shown = min(length, max(extra.flatMap { Int($0) } ?? 128, 1))
            write(
                "packet: \(length) bytes" + (shown < length ? " (the first \(shown); print packet BYTES for more)" : "")
            )
            dump(Array(UnsafeRawBufferPointer(start: data, count: shown)), label: { String($0) })
        default:
            write("print takes r0..r10, regs, stack [BYTES] or packet")
        }
    }

    private func dump(_ bytes: [UInt8], label: (Int) -> String) {
        var offset = 0
        while offset < bytes.count {
            let row = bytes[offset..<min(offset + 16, bytes.count)]
            let name = label(offset)
            write(
                "  " + String(repeating: " ", count: max(0, 7 - name.count)) + name + ": "
                    + row.map { Hex.string([$0]) }.joined(separator: " "))
            offset += 16
        }
    }

    static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

    static func trimmed(_ text: String) -> String { String(text.drop { $0 == " " || $0 == "\t" }) }
}

extension XDPAction {
    /// `XDP_PASS` and kin.
    var kernelName: String {
        switch self {
        case .aborted: "XDP_ABORTED"
        case .drop: "XDP_DROP"
        case .pass: "XDP_PASS"
        case .tx: "XDP_TX"
        case .redirect: "XDP_REDIRECT"
        }
    }
}

extension Debugger {
    /// Loads the program as replay does (initial state applied, one CPU, the interpreter) and debugs `packet`.
    public static func run(
        source: ProgramSource, spec: ProgramSpec, capture: String, packet: Int, seed: UInt64 = 0x5eed,
        budget: UInt64 = RunBudget.defaultInstructions, synthesizeEthernet: Bool = false,
        readLine: @escaping () -> String?, write: @escaping (String) -> Void
    ) throws -> Outcome {
        let loaded = try ProgramLoader.load(spec, possibleCPUs: 1, engine: .interpreter)
        try source.state.apply(to: loaded.program)
        let runner = ProgramRunner(loaded: loaded, budget: budget, seed: seed)
        let debugger = Debugger(runner: runner, readLine: readLine, write: write)
        return try debugger.run(capturePath: capture, packet: packet, synthesizeEthernet: synthesizeEthernet)
    }
}

/// A sink that keeps nothing (the debugger's packets before the one it stops at).
struct DiscardingSink: VerdictSink {
    func apply(_ verdict: Verdict, to frame: Frame, token: ReplayPacket) {}
}
