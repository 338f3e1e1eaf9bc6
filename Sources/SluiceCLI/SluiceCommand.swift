import ArgumentParser

/// The `sluice` command: a user-space XDP sandbox.
public struct SluiceCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "Run unmodified XDP/eBPF programs in a verified user-space VM, on AF_XDP sockets or pcap captures.",
        version: SluiceVersion.current,
        subcommands: [RunCommand.self, CtlCommand.self, ReplayCommand.self, FilterCommand.self, BenchCommand.self, VerifyCommand.self, DetachCommand.self, ABICommand.self, ConformanceCommand.self, ExecCommand.self, AssembleCommand.self, DisassembleCommand.self, DebugCommand.self]
    )

    public init() {}
}

/// The release version of the CLI and of Sluice's stable helper/kfunc ABI table.
public enum SluiceVersion {
    public static let current = "0.1.0"
}
