/// Why an object file could not be loaded. Every case names what was wrong and where, so the message can be shown to
/// a user as it is.
public struct ObjectLoadError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The file the error is about.
    public var path: String
    /// What was wrong, in one sentence (section, symbol or relocation named).
    public var reason: String

    /// The object is well-formed but uses a feature Sluice does not implement (CO-RE, `.kconfig` externs, calls
    /// outside `.text`, map-in-map initialisers); false for malformed or unreadable files.
    public var isUnsupportedFeature: Bool

    public init(path: String, reason: String, isUnsupportedFeature: Bool = false) {
        self.path = path
        self.reason = reason
        self.isUnsupportedFeature = isUnsupportedFeature
    }

    public var description: String { "\(path): \(reason)" }
}
