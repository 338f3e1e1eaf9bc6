import BPFVM

extension BPFObjectFile {
    /// Builds one entry program the way libbpf does: the function's instructions, then every `.text` function it
    /// calls (or takes the address of) transitively, each appended once in first-use order; call and callback
    /// immediates become pc-relative distances into the combined array, map loads become pseudo-loads by index.
    func link(_ program: ProgramInfo) throws(ObjectLoadError) -> ProgramSpec {
        func fail(_ reason: String) -> ObjectLoadError { ObjectLoadError(path: path, reason: reason) }
        func unsupported(_ reason: String) -> ObjectLoadError {
            ObjectLoadError(path: path, reason: reason, isUnsupportedFeature: true)
        }
        guard
            let sectionIndex = codeSections.indices.first(where: {
                $0 != textSection && codeSections[$0].name == program.section
            }),
            let entry = codeSections[sectionIndex].functions.first(where: { $0.name == program.name })
        else { throw fail("no program \(program.name) in section \(program.section)") }

        struct Piece {
            var section: Int
            var function: CodeSection.Function
            var outputStart: Int
        }
        var instructions = Array(codeSections[sectionIndex].instructions[entry.start..<(entry.start + entry.count)])
        var pieces = [Piece(section: sectionIndex, function: entry, outputStart: 0)]
        /// Output position of each appended `.text` function, by its first `.text` instruction.
        var placed: [Int: Int] = [:]
        var lineInfo: [Int: SourceLocation] = [:]
        var kfuncCalls: [Int: ExternReference] = [:]
        var externAddresses: [Int: ExternReference] = [:]

        /// Output position of the `.text` function starting at `target`, appending it on first use.
        func place(_ target: Int, from site: String) throws(ObjectLoadError) -> Int {
            if let start = placed[target] { return start }
            guard let textSection,
                let function = codeSections[textSection].functions.first(where: { $0.start == target })
            else { throw fail("\(site) targets .text instruction \(target), which is not the start of a function") }
            let start = instructions.count
            placed[target] = start
            instructions.append(
                contentsOf: codeSections[textSection].instructions[function.start..<(function.start + function.count)])
            pieces.append(Piece(section: textSection, function: function, outputStart: start))
            return start
        }

        var next = 0
        while next < pieces.count {
            let piece = pieces[next]
            next += 1
            let section = codeSections[piece.section]
            // Line info records are sparse: each covers the instructions up to the next record of its function.
            var location: SourceLocation?
            for sourceIndex in piece.function.start..<(piece.function.start + piece.function.count) {
                let at = piece.outputStart + (sourceIndex - piece.function.start)
                if let record = section.lineInfo[sourceIndex] { location = record }
                if let location { lineInfo[at] = location }
                if let core = section.coreRelocations[sourceIndex] {
                    throw unsupported("program \(program.name): \(core)")
                }
                guard let reference = section.references[sourceIndex] else { continue }
                let site = "\(section.name) instruction \(sourceIndex) (function \(piece.function.name))"
                func distance(to target: Int) throws(ObjectLoadError) -> Int32 {
                    guard let value = Int32(exactly: target - (at + 1)) else {
                        throw fail("\(site): the linked program is too large for a 32-bit call distance")
                    }
                    return value
                }
                // The second slot of an lddw is inside the same function: the parser checked function boundaries.
                switch reference {
                case .map(let map):
                    instructions[at].src = LoadImmediateKind.mapByIndex.rawValue
                    instructions[at].imm = Int32(map)
                    instructions[at + 1].imm = 0
                case .mapValue(let map, let offset):
                    instructions[at].src = LoadImmediateKind.mapValueByIndex.rawValue
                    instructions[at].imm = Int32(map)
                    instructions[at + 1].imm = offset
                case .call(let target):
                    let start = try place(target, from: site)
                    instructions[at].src = CallKind.local.rawValue
                    instructions[at].imm = try distance(to: start)
                case .functionAddress(let target):
                    let start = try place(target, from: site)
                    instructions[at].src = LoadImmediateKind.codeAddress.rawValue
                    instructions[at].imm = try distance(to: start)
                    instructions[at + 1].imm = 0
                case .kfunc(let extern):
                    instructions[at].src = CallKind.kfunc.rawValue
                    instructions[at].imm = 0
                    kfuncCalls[at] = extern
                case .externAddress(let extern):
                    instructions[at].src = LoadImmediateKind.variableAddress.rawValue
                    instructions[at].imm = 0
                    instructions[at + 1].imm = 0
                    externAddresses[at] = extern
                case .unsupported(let reason):
                    throw unsupported("program \(program.name): \(reason)")
                }
            }
        }
        var spec = ProgramSpec(
            name: program.name, section: program.section, instructions: instructions, maps: maps, lineInfo: lineInfo,
            kfuncCalls: kfuncCalls, externAddresses: externAddresses, license: license)
        for piece in pieces {
            var info = functionInfo[piece.function.name] ?? FunctionInfo(name: piece.function.name)
            // The program itself is verified as the entry whatever its linkage.
            if piece.outputStart == 0 { info.isGlobal = false }
            spec.functions[piece.outputStart] = info
        }
        return spec
    }
}
