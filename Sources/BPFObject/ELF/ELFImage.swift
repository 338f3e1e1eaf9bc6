import CLibElf

/// The parts of a relocatable ELF64 file the loader needs, copied out of libelf into Swift values.
///
/// libelf is used once, here, to read headers, section data, symbols and relocations; everything above works on
/// these arrays with bounds-checked accesses, so a malformed file can only produce an `ObjectLoadError`.
struct ELFImage {
    struct Section {
        var index: Int
        var name: String
        var type: UInt32
        var flags: UInt64
        /// `sh_size`; for `SHT_NOBITS` sections there are no bytes but a size.
        var size: Int
        var link: Int
        var info: Int
        /// The section's bytes (empty for `SHT_NOBITS` and for sections the loader never reads, e.g. DWARF).
        var bytes: [UInt8]

        var isExecutable: Bool { flags & UInt64(SHF_EXECINSTR) != 0 }
        var isNoBits: Bool { type == UInt32(SHT_NOBITS) }
    }

    struct Symbol {
        var index: Int
        var name: String
        var value: UInt64
        var size: UInt64
        /// `STT_*`
        var type: UInt8
        /// `STB_*`
        var binding: UInt8
        /// `st_shndx`: 0 (`SHN_UNDEF`) for externs.
        var sectionIndex: Int

        var isFunction: Bool { type == UInt8(STT_FUNC) }
        var isSection: Bool { type == UInt8(STT_SECTION) }
        var isUndefined: Bool { sectionIndex == Int(SHN_UNDEF) }
        var isWeak: Bool { binding == UInt8(STB_WEAK) }
    }

    struct Relocation {
        /// Byte offset in the target section.
        var offset: UInt64
        var symbolIndex: Int
        var type: UInt32
    }

    /// Sections by index (index 0 is the null section).
    var sections: [Section]
    /// The symbol table (index 0 is the null symbol); empty if the file has none.
    var symbols: [Symbol]
    /// `SHT_REL` entries by the index of the section they apply to.
    var relocations: [Int: [Relocation]]

    /// `EM_BPF`
    static let machineBPF: UInt16 = 247

    func section(named name: String) -> Section? { sections.first { $0.name == name } }

    /// Reads `bytes` as a relocatable little-endian ELF64 file for `EM_BPF`.
    init(bytes: [UInt8], path: String) throws(ObjectLoadError) {
        func fail(_ reason: String) -> ObjectLoadError { ObjectLoadError(path: path, reason: reason) }
        try Self.checkHeader(bytes, fail: fail)

        _ = elf_version(UInt32(EV_CURRENT))
        // libelf may convert data in place, so it gets its own mutable copy that lives until `elf_end`.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
        defer { buffer.deallocate() }
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
        guard let elf = elf_memory(buffer.baseAddress!.assumingMemoryBound(to: CChar.self), bytes.count) else {
            throw fail("not a readable ELF file (\(Self.libelfMessage()))")
        }
        defer { elf_end(elf) }
        guard elf_kind(elf) == ELF_K_ELF else { throw fail("not an ELF object file") }

        var stringTableIndex = 0
        guard elf_getshdrstrndx(elf, &stringTableIndex) == 0 else {
            throw fail("cannot read the section name table (\(Self.libelfMessage())); the file may be truncated")
        }
        var sectionCount = 0
        guard elf_getshdrnum(elf, &sectionCount) == 0 else {
            throw fail("cannot read the section headers (\(Self.libelfMessage())); the file may be truncated")
        }
        guard stringTableIndex < sectionCount else {
            throw fail("section name table index \(stringTableIndex) is out of range (\(sectionCount) sections)")
        }

        var sections: [Section] = []
        var symbolTable: (section: Int, data: UnsafeMutablePointer<Elf_Data>, link: Int, count: Int)?
        var relocationSections: [(target: Int, data: UnsafeMutablePointer<Elf_Data>, count: Int, name: String)] = []
        for index in 0..<sectionCount {
            guard let scn = elf_getscn(elf, index) else {
                throw fail("cannot read section header \(index) (\(Self.libelfMessage()))")
            }
            var header = GElf_Shdr()
            guard gelf_getshdr(scn, &header) != nil else {
                throw fail("cannot read section header \(index) (\(Self.libelfMessage()))")
            }
            let name: String
            if index == 0 {
                name = ""
            } else if let cName = elf_strptr(elf, stringTableIndex, Int(header.sh_name)) {
                name = String(cString: cName)
            } else {
                throw fail("section \(index) has a name offset outside the section name table")
            }
            guard header.sh_size <= UInt64(Int.max), header.sh_link <= UInt32(Int32.max) else {
                throw fail("section \(name) has an impossible size")
            }
            var section = Section(
                index: index, name: name, type: header.sh_type, flags: header.sh_flags, size: Int(header.sh_size),
                link: Int(header.sh_link), info: Int(header.sh_info), bytes: [])
            let needsBytes =
                index != 0 && header.sh_type != UInt32(SHT_NOBITS) && !name.hasPrefix(".debug")
                && !name.hasPrefix(".rel.debug") && header.sh_type != UInt32(SHT_STRTAB)
            if needsBytes {
                if header.sh_type != UInt32(SHT_NULL) && header.sh_size > 0 {
                    guard header.sh_offset <= UInt64(bytes.count),
                        header.sh_size <= UInt64(bytes.count) - header.sh_offset
                    else {
                        throw fail(
                            "section \(name) (offset \(header.sh_offset), size \(header.sh_size)) extends past the end "
                                + "of the file (\(bytes.count) bytes); the file is truncated")
                    }
                }
                guard let data = elf_getdata(scn, nil) else {
                    if header.sh_size == 0 {
                        sections.append(section)
                        continue
                    }
                    throw fail("cannot read the data of section \(name) (\(Self.libelfMessage()))")
                }
                let size = data.pointee.d_size
                if let base = data.pointee.d_buf, size > 0 {
                    section.bytes = Array(UnsafeRawBufferPointer(start: base, count: size))
                }
                switch header.sh_type {
                case UInt32(SHT_SYMTAB):
                    guard symbolTable == nil else { throw fail("the file has more than one symbol table") }
                    symbolTable = (index, data, Int(header.sh_link), size / MemoryLayout<Elf64_Sym>.size)
                case UInt32(SHT_REL):
                    relocationSections.append((Int(header.sh_info), data, size / MemoryLayout<Elf64_Rel>.size, name))
                default:
                    break
                }
            }
            sections.append(section)
        }

        var symbols: [Symbol] = []
        if let table = symbolTable {
            guard table.link > 0, table.link < sectionCount else {
                throw fail("the symbol table's string table index \(table.link) is out of range")
            }
            symbols.reserveCapacity(table.count)
            for index in 0..<table.count {
                var sym = GElf_Sym()
                guard gelf_getsym(table.data, Int32(clamping: index), &sym) != nil else {
                    throw fail("cannot read symbol \(index) (\(Self.libelfMessage()))")
                }
                let name: String
                if sym.st_name == 0 {
                    name = ""
                } else if let cName = elf_strptr(elf, table.link, Int(sym.st_name)) {
                    name = String(cString: cName)
                } else {
                    throw fail("symbol \(index) has a name offset outside the string table")
                }
                var sectionIndex = Int(sym.st_shndx)
                if sym.st_shndx == UInt16(SHN_XINDEX) {
                    // Extended section indices never occur in BPF objects (fewer than 0xff00 sections).
                    throw fail("symbol \(name) uses an extended section index, which is not supported")
                }
                if sym.st_shndx >= UInt16(SHN_LORESERVE) { sectionIndex = -Int(sym.st_shndx) }  // ABS, COMMON
                symbols.append(
                    Symbol(
                        index: index, name: name, value: sym.st_value, size: sym.st_size,
                        type: UInt8(sym.st_info & 0xf), binding: UInt8(sym.st_info >> 4), sectionIndex: sectionIndex))
            }
        }

        var relocations: [Int: [Relocation]] = [:]
        for table in relocationSections {
            guard table.target > 0, table.target < sectionCount else {
                throw fail(
                    "relocation section \(table.name) applies to section index \(table.target), which does not exist")
            }
            var entries: [Relocation] = []
            entries.reserveCapacity(table.count)
            for index in 0..<table.count {
                var rel = GElf_Rel()
                guard gelf_getrel(table.data, Int32(clamping: index), &rel) != nil else {
                    throw fail("cannot read relocation \(index) of \(table.name) (\(Self.libelfMessage()))")
                }
                entries.append(
                    Relocation(
                        offset: rel.r_offset, symbolIndex: Int(rel.r_info >> 32),
                        type: UInt32(truncatingIfNeeded: rel.r_info)))
            }
            relocations[table.target, default: []].append(contentsOf: entries)
        }

        self.sections = sections
        self.symbols = symbols
        self.relocations = relocations
    }

    /// Checks the identification bytes and the header fields before libelf sees the file, so that the common mistakes
    /// (not ELF, 32-bit, big-endian, an executable, another architecture) get a precise message.
    private static func checkHeader(_ bytes: [UInt8], fail: (String) -> ObjectLoadError) throws(ObjectLoadError) {
        guard bytes.count >= 4, bytes[0] == 0x7f, bytes[1] == 0x45, bytes[2] == 0x4c, bytes[3] == 0x46 else {
            throw fail(bytes.isEmpty ? "the file is empty" : "not an ELF file (no \\x7fELF magic)")
        }
        guard bytes.count >= 64 else {
            throw fail("truncated ELF header (\(bytes.count) bytes, an ELF64 header needs 64)")
        }
        guard bytes[4] == 2 else {
            throw fail("wrong ELF class \(bytes[4]) (\(bytes[4] == 1 ? "32-bit" : "unknown")); BPF objects are ELF64")
        }
        guard bytes[5] == 1 else {
            throw fail("not a little-endian ELF file; only little-endian BPF objects are supported")
        }
        let type = UInt16(bytes[16]) | UInt16(bytes[17]) << 8
        let machine = UInt16(bytes[18]) | UInt16(bytes[19]) << 8
        guard machine == machineBPF else {
            throw fail("wrong machine \(machine) (e_machine must be EM_BPF, 247): not compiled with -target bpf")
        }
        guard type == 1 else {
            throw fail("ELF type \(type) is not a relocatable object (ET_REL); compile with -c")
        }
        let headerSize = UInt16(bytes[52]) | UInt16(bytes[53]) << 8
        guard headerSize >= 64 else { throw fail("ELF header size \(headerSize) is too small") }
    }

    private static func libelfMessage() -> String {
        guard let message = elf_errmsg(-1) else { return "unknown libelf error" }
        return String(cString: message)
    }
}
