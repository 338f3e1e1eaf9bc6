@testable import BPFVM

/// Maps and helpers shared by the verifier tests: programs are assembled with these maps, by index.
enum VerifierFixture {
    /// 0 `flows` hash 4→8, 1 `counters` array 4→16, 2 `.rodata` (read-only, 16 bytes), 3 `events` ring buffer,
    /// 4 `jumps` prog array, 5 `ports` devmap.
    static let maps: [MapSpec] = [
        MapSpec(name: "flows", type: .hash, keySize: 4, valueSize: 8, maxEntries: 64),
        MapSpec(name: "counters", type: .array, keySize: 4, valueSize: 16, maxEntries: 4),
        MapSpec(
            name: ".rodata", type: .array, keySize: 4, valueSize: 16, maxEntries: 1,
            initialValue: [7, 0, 0, 0] + Array(repeating: 0, count: 12), readOnlyForProgram: true),
        MapSpec(name: "events", type: .ringbuf, keySize: 0, valueSize: 0, maxEntries: 4096),
        MapSpec(name: "jumps", type: .progArray, keySize: 4, valueSize: 4, maxEntries: 4),
        MapSpec(name: "ports", type: .devmap, keySize: 4, valueSize: 4, maxEntries: 4),
    ]

    static func program(
        _ source: String, kfuncs: [Int: ExternReference] = [:], name: String = "test"
    ) throws -> ProgramSpec {
        ProgramSpec(name: name, instructions: try Assembler.assemble(source), maps: maps, kfuncCalls: kfuncs)
    }

    /// The verifier's verdict: nil when accepted.
    static func rejection(_ program: ProgramSpec, limit: Int = 1_000_000) -> VerifierError? {
        do {
            _ = try Verifier(options: .init(instructionLimit: limit)).verify(program)
            return nil
        } catch { return error }
    }
}
