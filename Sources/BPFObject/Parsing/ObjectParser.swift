import BPFVM
import CLibElf

/// Turns an ELF image into the loader's model: maps, globals, license and code sections whose relocations are
/// resolved to `CodeReference`s. Every offset, size and index read from the file is checked before use.
struct ObjectParser {
    let path: String
    let image: ELFImage
    private(set) var license = ""
    private(set) var maps: [MapSpec] = []
    private(set) var globals: [GlobalVariable] = []
    private(set) var codeSections: [CodeSection] = []
    private(set) var textSection: Int?

    /// The BTF types, or why there are none.
    private var btf: BTFTypes?
    private var btfProblem = "the object has no .BTF section (compile with -g)"
    /// Map index by (section index, offset of the map's symbol) for `maps` and `.maps`.
    private var mapAtOffset: [Int: [UInt64: Int]] = [:]
    /// Map index of each global-data section, by section index.
    private var dataMapOfSection: [Int: Int] = [:]
    /// For BTF `.maps` entries: where each map's definition is and where its `values` array starts.
    private var btfMapLayouts: [(map: Int, offset: UInt64, size: UInt64, valuesOffset: UInt64?)] = []

    /// `R_BPF_64_64`: 64-bit immediate of `lddw`.
    static let relocation64 = UInt32(1)
    /// `R_BPF_64_ABS64`: 64-bit data (in `.maps` `values` arrays).
    static let relocationAbs64 = UInt32(2)
    /// `R_BPF_64_32`: 32-bit immediate of `call`.
    static let relocation32 = UInt32(10)

    static let maximumGlobalDataSize = 64 << 20

    init(bytes: [UInt8], path: String) throws(ObjectLoadError) {
        self.path = path
        image = try ELFImage(bytes: bytes, path: path)
        guard image.symbols.count > 1 else { throw fail("the object has no symbol table (.symtab)") }
        readLicense()
        if let section = image.section(named: ".BTF"), !section.bytes.isEmpty {
            do {
                btf = try BTFTypes(bytes: section.bytes)
            } catch {
                btfProblem = "the .BTF section is not valid BTF (libbpf: \(error.description))"
            }
        }
        try readLegacyMaps()
        try readBTFMaps()
        try readGlobalData()
        try readCodeSections()
        try readMapInitialisers()
        readFunctionSignatures()
        namedTypes = btf?.namedLayouts() ?? [:]
    }

    /// Layouts of the object's named structs, unions and typedefs, for decoding records whose type the object does
    /// not tie to a map (ring-buffer events).
    private(set) var namedTypes: [String: BTFType] = [:]

    /// Functions by symbol name, from BTF: global functions with the argument kinds the kernel verifies them from
    /// (`btf_prepare_func_args`), static ones with their name only.
    private(set) var functionInfo: [String: FunctionInfo] = [:]

    private mutating func readFunctionSignatures() {
        guard let btf else { return }
        for (name, function) in btf.functions() {
            guard function.linkage == 1 else {
                functionInfo[name] = FunctionInfo(name: name)
                continue
            }
            func classify(_ type: UInt32, argument: Int) -> FunctionInfo.Argument {
                let t = btf.skippingModifiers(type)
                switch btf.kind(t) {
                case .int, .enumeration, .enumeration64: return .scalar
                case .pointer:
                    let target = btf.skippingModifiers(btf.referencedType(t) ?? 0)
                    if btf.kind(target) == .structure && btf.name(target) == "xdp_md" { return .context }
                    if target != 0, let size = btf.resolvedSize(target), btf.kind(target) != .functionPrototype {
                        return .memory(size: size)
                    }
                    let targetName = target == 0 ? "" : btf.name(target)
                    return .unsupported(
                        "arg#\(argument) reference type('\(btf.kernelKindName(target)) \(targetName)') size cannot be "
                            + "determined: -22")
                default:
                    return .unsupported(
                        "Arg#\(argument) type \(btf.kernelKindName(t)) in \(name)() is not supported yet.")
                }
            }
            let proto = function.prototype
            let arguments = btf.parameters(proto).enumerated().map { classify($0.element, argument: $0.offset) }
            let returnType = btf.skippingModifiers(btf.referencedType(proto) ?? 0)
            let returns: FunctionInfo.Argument =
                [.int, .enumeration, .enumeration64].contains(btf.kind(returnType))
                ? .scalar : .unsupported("Global function \(name)() doesn't return scalar. Only those are supported.")
            functionInfo[name] = FunctionInfo(name: name, isGlobal: true, arguments: arguments, returns: returns)
        }
    }

    func fail(_ reason: String) -> ObjectLoadError { ObjectLoadError(path: path, reason: reason) }
    func unsupported(_ reason: String) -> ObjectLoadError {
        ObjectLoadError(path: path, reason: reason, isUnsupportedFeature: true)
    }

    private func symbols(in section: Int) -> [ELFImage.Symbol] {
        image.symbols.filter { $0.sectionIndex == section }
    }

    // MARK: License

    private mutating func readLicense() {
        guard let section = image.section(named: "license") else { return }
        license = String(decoding: section.bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    // MARK: Maps

    /// `struct bpf_map_def` {type, key_size, value_size, max_entries, map_flags}, one per symbol of `maps`.
    private mutating func readLegacyMaps() throws(ObjectLoadError) {
        guard let section = image.section(named: "maps"), !section.isExecutable, section.size > 0 else { return }
        guard section.bytes.count == section.size else { throw fail("the maps section has no data") }
        let definitions = symbols(in: section.index).filter { !$0.isSection && !$0.name.isEmpty }
        guard !definitions.isEmpty else {
            throw fail("the maps section (\(section.size) bytes) has no map symbols")
        }
        guard section.size % definitions.count == 0 else {
            throw fail(
                "the maps section (\(section.size) bytes) does not divide into \(definitions.count) equal map "
                    + "definitions")
        }
        let definitionSize = section.size / definitions.count
        guard definitionSize >= 20 else {
            throw fail("legacy map definitions are \(definitionSize) bytes; struct bpf_map_def needs 20")
        }
        let reader = ByteReader(bytes: section.bytes)
        for symbol in definitions {
            guard symbol.value <= UInt64(section.size - definitionSize), symbol.value % 4 == 0 else {
                throw fail("legacy map \(symbol.name) at offset \(symbol.value) lies outside the maps section")
            }
            let at = Int(symbol.value)
            guard let type = reader.u32(at: at), let keySize = reader.u32(at: at + 4),
                let valueSize = reader.u32(at: at + 8), let maxEntries = reader.u32(at: at + 12),
                let flags = reader.u32(at: at + 16)
            else { throw fail("legacy map \(symbol.name) is truncated") }
            guard mapAtOffset[section.index]?[symbol.value] == nil else {
                throw fail("legacy map \(symbol.name) has the same offset as another map")
            }
            mapAtOffset[section.index, default: [:]][symbol.value] = maps.count
            maps.append(
                MapSpec(
                    name: symbol.name, type: MapType(rawValue: type), keySize: Int(keySize), valueSize: Int(valueSize),
                    maxEntries: Int(maxEntries), flags: flags))
        }
    }

    /// BTF-defined maps: the `.maps` DATASEC's variables, each a struct of `__uint`/`__type`/`__array` members.
    private mutating func readBTFMaps() throws(ObjectLoadError) {
        guard let section = image.section(named: ".maps"), !section.isExecutable, section.size > 0 else { return }
        guard let btf else { throw fail("the .maps section needs BTF to be read, but \(btfProblem)") }
        guard let dataSection = btf.dataSections()[".maps"] else {
            throw fail("the BTF has no DATASEC for the .maps section")
        }
        let sectionSymbols = symbols(in: section.index)
        for entry in btf.entries(ofDataSection: dataSection) {
            guard entry.kind == .variable else { throw fail("the .maps DATASEC lists \(entry.name), not a variable") }
            let symbol = sectionSymbols.first { $0.name == entry.name }
            let offset = symbol?.value ?? UInt64(entry.offset)
            // The symbol's size includes a `values` initialiser beyond the struct's flexible array.
            let size = max(UInt64(btf.resolvedSize(entry.typeID) ?? 0), symbol?.size ?? 0)
            guard offset <= UInt64(section.size), size <= UInt64(section.size) - offset else {
                throw fail("map \(entry.name) (offset \(offset), \(size) bytes) lies outside the .maps section")
            }
            var (map, valuesOffset) = try btfMapDefinition(named: entry.name, typeID: entry.typeID, btf: btf)
            if valuesOffset != nil && map.type == .progArray {
                if map.valueSize == 0 { map.valueSize = 4 }
                if map.keySize == 0 { map.keySize = 4 }
            }
            guard mapAtOffset[section.index]?[offset] == nil else {
                throw fail("map \(entry.name) has the same offset in .maps as another map")
            }
            mapAtOffset[section.index, default: [:]][offset] = maps.count
            btfMapLayouts.append((maps.count, offset, size, valuesOffset))
            maps.append(map)
        }
    }

    /// Reads one BTF map definition the way libbpf's `parse_btf_map_def` does.
    private func btfMapDefinition(
        named name: String, typeID: UInt32, btf: BTFTypes
    ) throws(ObjectLoadError) -> (MapSpec, valuesOffset: UInt64?) {
        let structID = btf.skippingModifiers(typeID)
        guard btf.kind(structID) == .structure else {
            throw fail("map \(name) in .maps is a \(btf.describe(structID)), not a struct definition")
        }
        var type: UInt32?
        var keySize: UInt32?
        var valueSize: UInt32?
        var keyTypeSize: Int?
        var valueTypeSize: Int?
        var maxEntries: UInt32 = 0
        var flags: UInt32 = 0
        var valuesOffset: UInt64?
        var keyType: BTFType?
        var valueType: BTFType?

        /// `__uint(field, N)` is `int (*field)[N]`.
        func integer(_ member: BTFTypes.Member) throws(ObjectLoadError) -> UInt32 {
            let pointer = btf.skippingModifiers(member.typeID)
            guard btf.kind(pointer) == .pointer, let array = btf.referencedType(pointer),
                let count = btf.arrayCount(btf.skippingModifiers(array))
            else { throw fail("map \(name): field \(member.name) is not declared with __uint(\(member.name), …)") }
            return count
        }
        /// `__type(field, T)` is `T *field`.
        func typeSize(_ member: BTFTypes.Member) throws(ObjectLoadError) -> Int {
            let pointer = btf.skippingModifiers(member.typeID)
            guard btf.kind(pointer) == .pointer, let target = btf.referencedType(pointer),
                let size = btf.resolvedSize(target)
            else { throw fail("map \(name): field \(member.name) is not declared with __type(\(member.name), …)") }
            return size
        }

        for member in btf.members(structID) {
            switch member.name {
            case "type": type = try integer(member)
            case "max_entries": maxEntries = try integer(member)
            case "map_flags": flags = try integer(member)
            case "key_size": keySize = try integer(member)
            case "value_size": valueSize = try integer(member)
            case "numa_node", "map_extra", "pinning": _ = try integer(member)
            case "key":
                keyTypeSize = try typeSize(member)
                keyType = btf.referencedType(btf.skippingModifiers(member.typeID)).map { btf.layout(of: $0) }
            case "value":
                valueTypeSize = try typeSize(member)
                valueType = btf.referencedType(btf.skippingModifiers(member.typeID)).map { btf.layout(of: $0) }
            case "values":
                let array = btf.skippingModifiers(member.typeID)
                guard btf.kind(array) == .array, let element = btf.arrayElement(array),
                    btf.kind(btf.skippingModifiers(element)) == .pointer
                else { throw fail("map \(name): field values is not declared with __array(values, …)") }
                guard member.bitOffset % 64 == 0 else { throw fail("map \(name): values array is misaligned") }
                valuesOffset = UInt64(member.bitOffset / 8)
            default:
                throw fail("map \(name): unknown field \(member.name) in its .maps definition")
            }
        }
        guard let type else { throw fail("map \(name) has no type (__uint(type, …))") }
        if let keySize, let keyTypeSize, Int(keySize) != keyTypeSize {
            throw fail("map \(name): key_size \(keySize) contradicts its key type's size \(keyTypeSize)")
        }
        if let valueSize, let valueTypeSize, Int(valueSize) != valueTypeSize {
            throw fail("map \(name): value_size \(valueSize) contradicts its value type's size \(valueTypeSize)")
        }
        var spec = MapSpec(
            name: name, type: MapType(rawValue: type), keySize: keyTypeSize ?? Int(keySize ?? 0),
            valueSize: valueTypeSize ?? Int(valueSize ?? 0), maxEntries: Int(maxEntries), flags: flags)
        spec.keyType = keyType
        spec.valueType = valueType
        return (spec, valuesOffset)
    }

    /// `.rel.maps`: `__array(values, …)` initialisers of PROG_ARRAY maps name the programs of their slots.
    private mutating func readMapInitialisers() throws(ObjectLoadError) {
        guard let section = image.section(named: ".maps"), let relocations = image.relocations[section.index] else {
            return
        }
        for relocation in relocations {
            guard
                let layout = btfMapLayouts.first(where: {
                    relocation.offset >= $0.offset && relocation.offset < $0.offset + $0.size
                })
            else { throw fail("relocation at .maps+\(relocation.offset) lies outside every map definition") }
            let map = maps[layout.map]
            guard let valuesOffset = layout.valuesOffset, relocation.offset >= layout.offset + valuesOffset,
                (relocation.offset - layout.offset - valuesOffset) % 8 == 0
            else {
                throw fail("relocation at .maps+\(relocation.offset) in map \(map.name) is not in its values array")
            }
            guard relocation.type == Self.relocationAbs64 else {
                throw fail("relocation type \(relocation.type) in map \(map.name)'s values is not R_BPF_64_ABS64")
            }
            let slot = Int((relocation.offset - layout.offset - valuesOffset) / 8)
            guard relocation.symbolIndex > 0, relocation.symbolIndex < image.symbols.count else {
                throw fail(
                    "relocation in map \(map.name)'s values names symbol \(relocation.symbolIndex), out of range")
            }
            let symbol = image.symbols[relocation.symbolIndex]
            let target =
                symbol.sectionIndex > 0 && symbol.sectionIndex < image.sections.count
                ? image.sections[symbol.sectionIndex] : nil
            guard map.type == .progArray, symbol.isFunction, let target, target.isExecutable else {
                throw unsupported(
                    "map \(map.name) (\(map.type)) initialises slot \(slot) with \(symbol.name), which is not a "
                        + "program; only PROG_ARRAY initialisers are supported")
            }
            guard slot < map.maxEntries else {
                throw fail("map \(map.name) initialises slot \(slot), beyond its max_entries \(map.maxEntries)")
            }
            maps[layout.map].initialPrograms[slot] = symbol.name
        }
    }

    static func isGlobalDataSection(_ name: String) -> Bool {
        [".rodata", ".data", ".bss"].contains { name == $0 || name.hasPrefix($0 + ".") }
    }

    /// One single-element ARRAY map per non-empty global-data section, plus the variables it holds.
    private mutating func readGlobalData() throws(ObjectLoadError) {
        let dataSections = btf?.dataSections() ?? [:]
        for section in image.sections where Self.isGlobalDataSection(section.name) && !section.isExecutable {
            guard section.type == UInt32(SHT_PROGBITS) || section.isNoBits, section.size > 0 else { continue }
            guard section.size <= Self.maximumGlobalDataSize else {
                throw fail(
                    "section \(section.name) is \(section.size) bytes, more than Sluice supports for global data")
            }
            let initial: [UInt8]
            if section.isNoBits {
                initial = [UInt8](repeating: 0, count: section.size)
            } else {
                guard section.bytes.count == section.size else { throw fail("section \(section.name) has no data") }
                initial = section.bytes
            }
            let readOnly = section.name.hasPrefix(".rodata")
            let mapIndex = maps.count
            dataMapOfSection[section.index] = mapIndex
            maps.append(
                MapSpec(
                    name: section.name, type: .array, keySize: 4, valueSize: section.size, maxEntries: 1,
                    flags: readOnly ? 0x80 : 0, initialValue: initial, readOnlyForProgram: readOnly))

            let sectionSymbols = symbols(in: section.index).filter { !$0.isSection && !$0.name.isEmpty }
            if let btf, let dataSection = dataSections[section.name] {
                var variables: [BTFType.Variable] = []
                for entry in btf.entries(ofDataSection: dataSection) where entry.kind == .variable {
                    let symbol = sectionSymbols.first { $0.name == entry.name }
                    let offset = Int(exactly: symbol?.value ?? UInt64(entry.offset)) ?? -1
                    let size = btf.resolvedSize(entry.typeID) ?? Int(entry.size)
                    guard offset >= 0, size >= 0, offset <= section.size, size <= section.size - offset else {
                        throw fail(
                            "variable \(entry.name) (offset \(offset), \(size) bytes) lies outside \(section.name)")
                    }
                    globals.append(
                        GlobalVariable(
                            name: entry.name, section: section.name, mapIndex: mapIndex, offset: offset, size: size,
                            integer: btf.integerKind(entry.typeID)))
                    variables.append(BTFType.Variable(name: entry.name, offset: offset, type: btf.layout(of: entry.typeID)))
                }
                // The single key is the index 0, as libbpf keys global-data maps. Offsets are the symbols' (clang
                // may leave the DATASEC's own offsets and size for libbpf to fix up).
                maps[mapIndex].keyType = .integer(name: "u32", size: 4, encoding: .unsigned)
                maps[mapIndex].valueType = .dataSection(name: section.name, size: section.size, variables: variables)
            } else {
                for symbol in sectionSymbols {
                    guard symbol.value <= UInt64(section.size), symbol.size <= UInt64(section.size) - symbol.value
                    else {
                        throw fail("symbol \(symbol.name) lies outside \(section.name)")
                    }
                    globals.append(
                        GlobalVariable(
                            name: symbol.name, section: section.name, mapIndex: mapIndex, offset: Int(symbol.value),
                            size: Int(symbol.size)))
                }
            }
        }
    }

    // MARK: Code

    private mutating func readCodeSections() throws(ObjectLoadError) {
        var lineInfo: [String: [BTFExtension.LineRecord]] = [:]
        var coreRelocations: [String: [BTFExtension.CORERecord]] = [:]
        if let section = image.section(named: ".BTF.ext"), !section.bytes.isEmpty {
            let ext = try BTFExtension(bytes: section.bytes, fail: fail)
            for block in ext.lineInfo {
                lineInfo[btf?.string(at: block.sectionNameOffset) ?? "", default: []].append(contentsOf: block.records)
            }
            for block in ext.coreRelocations {
                coreRelocations[btf?.string(at: block.sectionNameOffset) ?? "", default: []]
                    .append(contentsOf: block.records)
            }
        }
        let textIndex = image.sections.first { $0.name == ".text" && $0.isExecutable }?.index
        let externs = externKinds()

        for section in image.sections where section.isExecutable && section.type == UInt32(SHT_PROGBITS) {
            guard section.size > 0 else { continue }
            guard section.size % 8 == 0 else {
                throw fail("section \(section.name) is \(section.size) bytes, not a multiple of the 8-byte instruction")
            }
            guard section.bytes.count == section.size else { throw fail("section \(section.name) has no data") }
            let isText = section.index == textIndex
            let instructions = Instruction.decode(littleEndianBytes: section.bytes)
            // Instruction starts: every slot except the second half of an lddw.
            var isStart = [Bool](repeating: false, count: instructions.count)
            var index = 0
            while index < instructions.count {
                isStart[index] = true
                if instructions[index].opcode == 0x18 {
                    guard index + 1 < instructions.count else {
                        throw fail(
                            "lddw at \(section.name) instruction \(index) is truncated by the end of the section")
                    }
                    index += 2
                } else {
                    index += 1
                }
            }
            let functions = try readFunctions(in: section, count: instructions.count, isStart: isStart)
            var code = CodeSection(
                name: section.name, instructions: instructions, functions: functions, references: [:],
                lineInfo: [:], coreRelocations: [:])
            try readReferences(
                into: &code, section: section, isStart: isStart, textIndex: textIndex, externs: externs)
            if isText {
                // pc-relative calls between .text functions carry no relocation.
                for (index, insn) in instructions.enumerated()
                where isStart[index] && insn.opcode == 0x85 && insn.src == 1 && code.references[index] == nil {
                    let target = index + 1 + Int(insn.imm)
                    guard target >= 0, target < instructions.count else {
                        throw fail("call at .text instruction \(index) jumps to \(target), outside the section")
                    }
                    code.references[index] = .call(textInstruction: target)
                }
            } else {
                for (index, insn) in instructions.enumerated()
                where isStart[index] && insn.opcode == 0x85 && insn.src == 1 && code.references[index] == nil {
                    code.references[index] = .unsupported(
                        "call at \(section.name) instruction \(index) to a function of the same section: sub-programs "
                            + "must be in .text")
                }
            }
            for record in lineInfo[section.name] ?? [] where record.instructionOffset % 8 == 0 {
                let index = Int(record.instructionOffset / 8)
                guard index < instructions.count, let file = btf?.string(at: record.fileNameOffset) else { continue }
                let text = btf?.string(at: record.lineOffset)
                code.lineInfo[index] = SourceLocation(
                    file: file, line: Int(record.lineColumn >> 10), column: Int(record.lineColumn & 0x3ff),
                    text: text?.isEmpty == false ? text : nil)
            }
            for record in coreRelocations[section.name] ?? [] {
                let index = Int(record.instructionOffset / 8)
                code.coreRelocations[index] =
                    "CO-RE relocation against \(describeCORE(record)) at \(section.name) instruction \(index) "
                    + "is not supported"
            }
            if isText { textSection = codeSections.count }
            codeSections.append(code)
        }
    }

    /// "struct xdp_buff (field byte offset of xdp_buff.data)": the type, the relocation kind and the access path
    /// (`0:1:2` = element 0 of the root, member 1, member or element 2) spelled with member names.
    private func describeCORE(_ record: BTFExtension.CORERecord) -> String {
        let kinds = [
            "field byte offset", "field byte size", "field exists", "field signedness", "field left shift",
            "field right shift", "local type id", "target type id", "type exists", "type size", "enum value exists",
            "enum value", "type matches",
        ]
        let kind = record.kind < kinds.count ? kinds[Int(record.kind)] : "kind \(record.kind)"
        guard let btf else { return "type \(record.typeID) (\(kind))" }
        let access = btf.string(at: record.accessStringOffset) ?? ""
        var path = btf.name(record.typeID)
        var current = btf.skippingModifiers(record.typeID)
        for (position, part) in access.split(separator: ":").enumerated() {
            guard let index = Int(part), index >= 0 else { break }
            if position == 0 {
                if index != 0 { path += "[\(index)]" }
                continue
            }
            let kindOfCurrent = btf.kind(current)
            if kindOfCurrent == .structure || kindOfCurrent == .union {
                let members = btf.members(current)
                guard index < members.count else { break }
                path += ".\(members[index].name)"
                current = btf.skippingModifiers(members[index].typeID)
            } else if kindOfCurrent == .array, let element = btf.arrayElement(current) {
                path += "[\(index)]"
                current = btf.skippingModifiers(element)
            } else {
                break
            }
        }
        let isField = record.kind <= 5
        return "\(btf.describe(record.typeID)) (\(kind)\(isField ? " of \(path)" : ""))"
    }

    private func readFunctions(
        in section: ELFImage.Section, count: Int, isStart: [Bool]
    ) throws(ObjectLoadError) -> [CodeSection.Function] {
        let symbols = symbols(in: section.index).filter(\.isFunction).enumerated()
            .sorted { ($0.element.value, $0.offset) < ($1.element.value, $1.offset) }.map(\.element)
        guard !symbols.isEmpty else {
            // Hand-written sections without function symbols: the section is one program named after it.
            return [CodeSection.Function(name: section.name, start: 0, count: count)]
        }
        var functions: [CodeSection.Function] = []
        for (position, symbol) in symbols.enumerated() {
            guard symbol.value % 8 == 0, symbol.size % 8 == 0, symbol.value < UInt64(section.size),
                symbol.size <= UInt64(section.size) - symbol.value
            else {
                throw fail(
                    "function \(symbol.name) (offset \(symbol.value), \(symbol.size) bytes) is not a whole number of "
                        + "instructions inside section \(section.name)")
            }
            let start = Int(symbol.value / 8)
            var length = Int(symbol.size / 8)
            if length == 0 {
                let next = symbols.dropFirst(position + 1).first { $0.value > symbol.value }
                length = (next.map { Int(min($0.value, UInt64(section.size)) / 8) } ?? count) - start
            }
            let end = start + length
            guard isStart[start], end == count || isStart[end] else {
                throw fail("function \(symbol.name) in \(section.name) starts or ends inside an lddw instruction")
            }
            guard length > 0 else { continue }
            functions.append(CodeSection.Function(name: symbol.name, start: start, count: length))
        }
        return functions
    }

    private enum ExternKind {
        case function
        /// A variable, with the section libbpf would resolve it from (`.kconfig`, `.ksyms`).
        case variable(String)
    }

    /// Extern functions and variables named by BTF (`FUNC`/`VAR` with extern linkage, and `.ksyms`/`.kconfig`).
    private func externKinds() -> [String: ExternKind] {
        guard let btf else { return [:] }
        var result: [String: ExternKind] = [:]
        var id: UInt32 = 1
        while id < btf.typeCount {
            if btf.kind(id) == .function, btf.linkage(id) == 2 { result[btf.name(id)] = .function }
            if btf.kind(id) == .variable, btf.linkage(id) == 2 { result[btf.name(id)] = .variable("extern") }
            id += 1
        }
        for (sectionName, id) in btf.dataSections() where sectionName == ".kconfig" || sectionName == ".ksyms" {
            for entry in btf.entries(ofDataSection: id) where entry.kind == .variable {
                result[entry.name] = .variable(sectionName)
            }
        }
        return result
    }

    private func readReferences(
        into code: inout CodeSection, section: ELFImage.Section, isStart: [Bool], textIndex: Int?,
        externs: [String: ExternKind]
    ) throws(ObjectLoadError) {
        for relocation in image.relocations[section.index] ?? [] {
            if relocation.type == 0 { continue }  // R_BPF_NONE
            let place = "relocation at \(section.name)+0x\(String(relocation.offset, radix: 16))"
            guard relocation.offset % 8 == 0, relocation.offset < UInt64(section.size),
                isStart[Int(relocation.offset / 8)]
            else { throw fail("\(place) is not on an instruction") }
            let index = Int(relocation.offset / 8)
            guard relocation.symbolIndex > 0, relocation.symbolIndex < image.symbols.count else {
                throw fail(
                    "\(place) names symbol \(relocation.symbolIndex), out of range (\(image.symbols.count) symbols)")
            }
            let symbol = image.symbols[relocation.symbolIndex]
            guard symbol.isUndefined || symbol.value <= UInt64(Int32.max) else {
                throw fail("\(place) names symbol \(symbol.name) with an impossible value \(symbol.value)")
            }
            let insn = code.instructions[index]
            let isLoad = insn.opcode == 0x18
            let isCall = insn.opcode == 0x85
            switch relocation.type {
            case Self.relocation64:
                guard isLoad else {
                    throw fail(
                        "\(place) (R_BPF_64_64 against \(symbol.name)) applies to opcode 0x\(String(insn.opcode, radix: 16)), not lddw"
                    )
                }
            case Self.relocation32:
                guard isCall else {
                    throw fail(
                        "\(place) (R_BPF_64_32 against \(symbol.name)) applies to opcode 0x\(String(insn.opcode, radix: 16)), not call"
                    )
                }
            default:
                throw fail("\(place) has unknown or unexpected relocation type \(relocation.type) for code")
            }
            guard code.references[index] == nil else { throw fail("\(place) relocates an instruction twice") }
            let symbolName =
                symbol.name.isEmpty && symbol.sectionIndex > 0 && symbol.sectionIndex < image.sections.count
                ? image.sections[symbol.sectionIndex].name : symbol.name
            let reference: CodeReference

            if symbol.isUndefined {
                let extern = ExternReference(name: symbol.name, isWeak: symbol.isWeak)
                switch externs[symbol.name] {
                case .variable(let kind)?:
                    reference = .unsupported(
                        "extern variable \(symbol.name) (\(kind)) is not supported: Sluice provides only kfuncs")
                case .function?:
                    reference = isCall ? .kfunc(extern) : .externAddress(extern)
                case nil:
                    reference =
                        isCall
                        ? .kfunc(extern)
                        : .unsupported(
                            "extern \(symbol.name) has no BTF description; only extern functions (kfuncs) are supported"
                        )
                }
                if isCall && !(insn.src == 1 || insn.src == 2) {
                    throw fail("\(place): call of extern \(symbol.name) has source kind \(insn.src), not a kfunc call")
                }
            } else if symbol.sectionIndex == textIndex, textIndex != nil {
                let base = Int64(symbol.value)
                guard base % 8 == 0 else { throw fail("\(place): .text symbol \(symbolName) is not on an instruction") }
                let target: Int64
                if isCall {
                    guard insn.src == 1 else {
                        throw fail("\(place): call of .text function \(symbolName) has source kind \(insn.src), not 1")
                    }
                    target = base / 8 + Int64(insn.imm) + 1
                } else {
                    guard insn.imm % 8 == 0 else { throw fail("\(place): callback offset \(insn.imm) is misaligned") }
                    target = (base + Int64(insn.imm)) / 8
                }
                guard let textSize = image.sections.first(where: { $0.index == textIndex })?.size,
                    target >= 0, target < Int64(textSize / 8)
                else { throw fail("\(place) targets .text instruction \(target), outside .text") }
                reference =
                    isCall ? .call(textInstruction: Int(target)) : .functionAddress(textInstruction: Int(target))
            } else if symbol.sectionIndex > 0, symbol.sectionIndex < image.sections.count {
                let target = image.sections[symbol.sectionIndex]
                if isCall {
                    reference = .unsupported(
                        "call at \(section.name) instruction \(index) to \(symbolName) in section \(target.name): "
                            + "sub-programs must be in .text")
                } else if let maps = mapAtOffset[target.index] {
                    let offset = symbol.value &+ UInt64(bitPattern: Int64(insn.imm))
                    guard let map = maps[offset] else {
                        throw fail("\(place) refers to \(symbolName)+\(insn.imm) in \(target.name), which is not a map")
                    }
                    reference = .map(map)
                } else if let map = dataMapOfSection[target.index] {
                    let offset = Int64(symbol.value) + Int64(insn.imm)
                    guard offset >= 0, offset <= Int64(target.size), let offset32 = Int32(exactly: offset) else {
                        throw fail("\(place) refers to offset \(offset) of \(target.name), outside the section")
                    }
                    reference = .mapValue(map: map, offset: offset32)
                } else {
                    reference = .unsupported(
                        "lddw at \(section.name) instruction \(index) refers to \(symbolName) in section "
                            + "\(target.name), which is neither a map nor global data")
                }
            } else {
                throw fail(
                    "\(place) refers to \(symbolName), which has no usable section (index \(symbol.sectionIndex))")
            }
            code.references[index] = reference
        }
    }
}
