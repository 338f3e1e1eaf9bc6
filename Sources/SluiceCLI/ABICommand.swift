import ArgumentParser
import BPFVM

/// `sluice abi`: the helpers and kfuncs Sluice offers, with their ids, versions and argument kinds.
struct ABICommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "abi", abstract: "List the helpers and kfuncs of Sluice's stable ABI (Markdown).")

    func run() throws {
        print(HelperTable.referenceMarkdown(), terminator: "")
    }
}
