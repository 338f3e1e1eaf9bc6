/// An error the CLI shows as it is (one line, no stack, no type name) before exiting non-zero.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
