import BPFVM

/// An executable section after parsing: its instructions, its functions, and each relocated instruction's meaning.
struct CodeSection: Hashable, Sendable {
    var name: String
    var instructions: [Instruction]
    /// Functions (`STT_FUNC` symbols) in address order.
    var functions: [Function]
    /// What each relocated (or pc-relative pseudo-call) instruction refers to, by instruction index in the section.
    var references: [Int: CodeReference]
    /// BTF line info by instruction index in the section.
    var lineInfo: [Int: SourceLocation]
    /// CO-RE relocations by instruction index: a description for the refusal message.
    var coreRelocations: [Int: String]

    struct Function: Hashable, Sendable {
        var name: String
        /// First instruction slot in the section.
        var start: Int
        /// Instruction slots.
        var count: Int
    }
}

/// What a relocated instruction refers to, resolved when the object is parsed.
enum CodeReference: Hashable, Sendable {
    /// `lddw` of a map → `src` = 5 (`BPF_PSEUDO_MAP_IDX`), `imm` = map index.
    case map(Int)
    /// `lddw` of global data → `src` = 6 (`BPF_PSEUDO_MAP_IDX_VALUE`), `imm` = map index, next `imm` = offset.
    case mapValue(map: Int, offset: Int32)
    /// `call` of a `.text` function starting at this `.text` instruction (`src` = 1).
    case call(textInstruction: Int)
    /// `lddw` of a `.text` function's address (callback) → `src` = 4 (`BPF_PSEUDO_FUNC`).
    case functionAddress(textInstruction: Int)
    /// `call` of an extern function → `src` = 2, `imm` = 0.
    case kfunc(ExternReference)
    /// `lddw` of an extern function's address → `src` = 3, `imm` = 0.
    case externAddress(ExternReference)
    /// A reference Sluice cannot honour; linking a program that contains it fails with this reason.
    case unsupported(String)
}
