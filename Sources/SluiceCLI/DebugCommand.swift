import ArgumentParser
import BPFVM
import Sluice

/// `sluice debug PROG.o CAPTURE --packet N`: step through one packet's run, source line by source line.
struct DebugCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "debug",
        abstract:
            "Step through one packet of a capture: step, next, break at a source line, print registers/stack/packet.",
        discussion: """
            The packets before --packet replay as usual (maps then hold what they would), then that packet stops \
            before its first instruction. Commands, one per line on standard input (a script works: end of input \
            runs to the end): step [N] (s), next (n: next source line, over calls), break [FILE:]LINE (b), delete, \
            continue (c), print r0..r10 | regs | stack [BYTES] | packet [BYTES] (p), where, quit (q), help.
            """)

    @OptionGroup var programOptions: ProgramOptions

    @OptionGroup var budget: BudgetOptions

    @Argument(help: "The capture (pcap or pcapng, Ethernet).")
    var capture: String

    @Option(
        parsing: .unconditional, help: "The packet to debug (capture index from 0).",
        transform: { try NumberArgument.count($0, in: 0...Int.max, what: "packet index") })
    var packet: Int

    @Option(
        parsing: .unconditional, help: "Seed for bpf_get_prandom_u32 (as in replay).", transform: NumberArgument.seed)
    var seed: UInt64 = 0x5eed

    @Flag(help: "Accept raw-IP and Linux cooked captures: put an Ethernet header in front of each packet.")
    var synthesizeEthernet = false

    func validate() throws {
        if capture == "-" {
            throw ValidationError("debug reads its commands from standard input; give the capture as a file, not '-'")
        }
    }

    func run() throws {
        let (source, _, spec) = try programOptions.load()
        do {
            _ = try Debugger.run(
                source: source, spec: spec, capture: capture, packet: packet, seed: seed, budget: budget.instructions,
                synthesizeEthernet: synthesizeEthernet, readLine: { Swift.readLine(strippingNewline: true) },
                write: { text in
                    // The prompt stays on its line; everything else is a line.
                    if text.hasSuffix(" ") { Swift.print(text, terminator: "") } else { Swift.print(text) }
                })
        } catch let error as Debugger.Error {
            throw CLIError(error.description)
        } catch {
            throw CLIError("\(error)")
        }
    }
}
