/// The `.BTF.ext` section: per code section, line info and CO-RE relocation records (func info is not needed).
///
/// Layout (`struct btf_ext_header` in libbpf): magic 0xeB9F, version, flags, hdr_len, then offset/length pairs of the
/// func_info, line_info and (when hdr_len ≥ 32) core_relo subsections, relative to the end of the header. Each
/// subsection is a record size followed by blocks of {section name offset, record count, records}. Offsets and
/// counts are checked against the section before any record is read.
struct BTFExtension {
    struct LineRecord {
        /// Byte offset of the instruction in its section.
        var instructionOffset: UInt32
        var fileNameOffset: UInt32
        var lineOffset: UInt32
        var lineColumn: UInt32
    }

    struct CORERecord {
        var instructionOffset: UInt32
        var typeID: UInt32
        var accessStringOffset: UInt32
        var kind: UInt32
    }

    /// Line info records by section name offset in the BTF string table.
    var lineInfo: [(sectionNameOffset: UInt32, records: [LineRecord])] = []
    var coreRelocations: [(sectionNameOffset: UInt32, records: [CORERecord])] = []

    /// Parses the section; `fail` builds the error for a reason.
    init(bytes: [UInt8], fail: (String) -> ObjectLoadError) throws(ObjectLoadError) {
        let reader = ByteReader(bytes: bytes)
        guard let magic = reader.u16(at: 0), let headerLength = reader.u32(at: 4) else {
            throw fail(".BTF.ext is truncated (\(bytes.count) bytes, no header)")
        }
        guard magic == 0xeb9f else { throw fail(".BTF.ext has bad magic 0x\(String(magic, radix: 16))") }
        guard headerLength >= 24, Int(headerLength) <= bytes.count else {
            throw fail(".BTF.ext header length \(headerLength) is invalid for a \(bytes.count)-byte section")
        }
        let base = Int(headerLength)

        func subsection(_ offsetField: Int, _ name: String) throws(ObjectLoadError) -> Range<Int>? {
            guard offsetField + 8 <= Int(headerLength), let offset = reader.u32(at: offsetField),
                let length = reader.u32(at: offsetField + 4)
            else { return nil }
            if length == 0 { return nil }
            let start = base + Int(offset)
            let end = start + Int(length)
            guard end <= bytes.count else {
                throw fail(".BTF.ext \(name) subsection (offset \(offset), length \(length)) extends past the section")
            }
            return start..<end
        }

        /// Reads {record size, then blocks of (section name, count, records)} and hands each record's start to `read`.
        func blocks<Record>(
            _ range: Range<Int>, _ name: String, minimumRecordSize: Int, read: (Int) -> Record?
        ) throws(ObjectLoadError) -> [(UInt32, [Record])] {
            guard let recordSize32 = reader.u32(at: range.lowerBound), range.count >= 4 else {
                throw fail(".BTF.ext \(name) subsection is truncated")
            }
            let recordSize = Int(recordSize32)
            guard recordSize >= minimumRecordSize, recordSize % 4 == 0 else {
                throw fail(".BTF.ext \(name) record size \(recordSize) is invalid")
            }
            var result: [(UInt32, [Record])] = []
            var position = range.lowerBound + 4
            while position < range.upperBound {
                guard position + 8 <= range.upperBound, let nameOffset = reader.u32(at: position),
                    let count = reader.u32(at: position + 4)
                else { throw fail(".BTF.ext \(name) block at offset \(position) is truncated") }
                position += 8
                guard Int(count) <= (range.upperBound - position) / recordSize else {
                    throw fail(".BTF.ext \(name) block at offset \(position - 8) claims \(count) records past its end")
                }
                var records: [Record] = []
                records.reserveCapacity(Int(count))
                for _ in 0..<Int(count) {
                    guard let record = read(position) else { throw fail(".BTF.ext \(name) record is truncated") }
                    records.append(record)
                    position += recordSize
                }
                result.append((nameOffset, records))
            }
            return result
        }

        if let range = try subsection(16, "line_info") {
            lineInfo = try blocks(range, "line_info", minimumRecordSize: 16) { at in
                guard let a = reader.u32(at: at), let b = reader.u32(at: at + 4), let c = reader.u32(at: at + 8),
                    let d = reader.u32(at: at + 12)
                else { return nil }
                return LineRecord(instructionOffset: a, fileNameOffset: b, lineOffset: c, lineColumn: d)
            }.map { (sectionNameOffset: $0.0, records: $0.1) }
        }
        if headerLength >= 32, let range = try subsection(24, "core_relo") {
            coreRelocations = try blocks(range, "core_relo", minimumRecordSize: 16) { at in
                guard let a = reader.u32(at: at), let b = reader.u32(at: at + 4), let c = reader.u32(at: at + 8),
                    let d = reader.u32(at: at + 12)
                else { return nil }
                return CORERecord(instructionOffset: a, typeID: b, accessStringOffset: c, kind: d)
            }.map { (sectionNameOffset: $0.0, records: $0.1) }
        }
    }
}

/// Bounds-checked little-endian reads from a byte array.
struct ByteReader {
    var bytes: [UInt8]

    func u8(at offset: Int) -> UInt8? {
        guard offset >= 0, offset < bytes.count else { return nil }
        return bytes[offset]
    }

    func u16(at offset: Int) -> UInt16? {
        guard offset >= 0, offset <= bytes.count - 2 else { return nil }
        return UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }

    func u32(at offset: Int) -> UInt32? {
        guard offset >= 0, offset <= bytes.count - 4 else { return nil }
        var value: UInt32 = 0
        for index in 0..<4 { value |= UInt32(bytes[offset + index]) << (8 * UInt32(index)) }
        return value
    }
}
