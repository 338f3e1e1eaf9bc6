/// A BPF-to-BPF function as BTF describes it. The kernel verifies a global (non-static) function once, on its own,
/// from its argument types, instead of in each caller's context (`btf_prepare_func_args`).
public struct FunctionInfo: Hashable, Sendable {
    public var name: String
    /// BTF linkage `BTF_FUNC_GLOBAL`.
    public var isGlobal: Bool
    /// Global functions: what each argument is, from BTF.
    public var arguments: [Argument]
    /// Global functions: whether the return type is an integer or enum (nil: void); `.unsupported` otherwise.
    public var returns: Argument?

    /// How the kernel treats an argument (or return value) of a global function.
    public enum Argument: Hashable, Sendable {
        /// An integer or enum: an unknown scalar.
        case scalar
        /// A pointer to the program's context (`struct xdp_md *`).
        case context
        /// A pointer to `size` bytes, possibly NULL (`PTR_TO_MEM_OR_NULL`).
        case memory(size: Int)
        /// Anything else, with the kernel's words for it.
        case unsupported(String)
    }

    public init(name: String, isGlobal: Bool = false, arguments: [Argument] = [], returns: Argument? = .scalar) {
        self.name = name
        self.isGlobal = isGlobal
        self.arguments = arguments
        self.returns = returns
    }
}
