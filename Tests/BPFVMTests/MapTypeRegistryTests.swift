import BPFVM
import Testing

/// The one table of map types: consistent with itself and with what the maps actually do.
@Suite struct MapTypeRegistryTests {
    @Test("every row is unique, named, and comparable only where dumpable")
    func rowsAreConsistent() {
        let rows = MapTypeRegistry.all
        #expect(Set(rows.map(\.type.rawValue)).count == rows.count)
        #expect(Set(rows.map(\.name)).count == rows.count)
        for row in rows {
            #expect(row.type.info?.name == row.name)
            #expect(row.type.name == row.name)
            if row.comparableWithKernel { #expect(row.dumpable, "\(row.name)") }
            if row.perCPU { #expect(row.storage == .array || row.storage == .hash, "\(row.name)") }
            #expect(!row.helpers.isEmpty, "\(row.name) is accepted by no helper")
        }
        #expect(MapType(rawValue: 999).info == nil)
        #expect(MapType(rawValue: 999).name == nil)
    }

    @Test("per-CPU rows create maps with one value slot per CPU, the others with one", arguments: MapTypeRegistry.all)
    func perCPUMatchesTheMap(row: MapTypeInfo) throws {
        guard row.dumpable, row.storage != .lpmTrie, row.type != .devmap, row.type != .devmapHash else { return }
        let spec = MapSpec(name: "m", type: row.type, keySize: 4, valueSize: 8, maxEntries: 4)
        let map = try BPFMap(spec: spec, possibleCPUs: 3)
        var key: [UInt8] = [1, 0, 0, 0]
        let values = (0..<(row.perCPU ? 3 : 1)).map { [UInt8](repeating: UInt8($0 + 1), count: 8) }
        if row.perCPU {
            try map.updatePerCPU(key: key, values: values)
        } else {
            try map.update(key: key, value: values[0])
        }
        key = [1, 0, 0, 0]
        let entries = map.entries()
        let entry = try #require(entries.first { $0.key == key })
        #expect(entry.values == values)
    }
}
