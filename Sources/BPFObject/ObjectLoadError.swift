/// Why an object file could not be loaded. Every case names what was wrong and where, so the message can be shown to
/// a user as it is.
public struct ObjectLoadError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The file the error is about.
    public var path: String
    /// What was wrong, in one sentence (section, symbol or relocation named).
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}
