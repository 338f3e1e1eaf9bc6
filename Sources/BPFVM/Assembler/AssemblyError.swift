/// Why assembly text could not be assembled, and where.
public struct AssemblyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// 1-based line number in the text given to the assembler.
    public var line: Int
    /// What is wrong, naming the offending text (e.g. `unknown mnemonic 'addd'`).
    public var message: String

    public init(line: Int, message: String) {
        self.line = line
        self.message = message
    }

    public var description: String { "line \(line): \(message)" }
}
