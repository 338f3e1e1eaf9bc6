import Testing

@testable import BPFVM

@Suite struct MapArrayTests {
    @Test func everyIndexExistsAndStartsZeroed() throws {
        let map = try makeMap(.array, key: 4, value: 12, entries: 3)
        #expect(map.lookup(key: mapBytes(UInt32(2))) == Array(repeating: 0, count: 12))
        #expect(map.lookup(key: mapBytes(UInt32(3))) == nil)
        #expect(programLookup(map, key: mapBytes(UInt32(3))) == nil)
        #expect(map.entries().map(\.key) == [mapBytes(UInt32(0)), mapBytes(UInt32(1)), mapBytes(UInt32(2))])
        #expect(map.count == 3)
    }

    @Test func updateFlagsAndErrorsFollowTheKernel() throws {
        let map = try makeMap(.array, key: 4, value: 4, entries: 2)
        let key = mapBytes(UInt32(1))
        #expect(programUpdate(map, key: key, value: mapBytes(UInt32(5)), flags: MapUpdateFlags.any) == 0)
        #expect(programUpdate(map, key: key, value: mapBytes(UInt32(6)), flags: MapUpdateFlags.exist) == 0)
        #expect(programLookup(map, key: key) == mapBytes(UInt32(6)))
        #expect(programUpdate(map, key: key, value: mapBytes(UInt32(7)), flags: MapUpdateFlags.noExist) == -17)
        #expect(programUpdate(map, key: key, value: mapBytes(UInt32(7)), flags: 3) == -22)
        #expect(programUpdate(map, key: key, value: mapBytes(UInt32(7)), flags: MapUpdateFlags.lock) == -22)
        #expect(programUpdate(map, key: mapBytes(UInt32(2)), value: mapBytes(UInt32(7))) == -7)
        #expect(programLookup(map, key: key) == mapBytes(UInt32(6)))
        // Elements of an array cannot be deleted.
        #expect(programDelete(map, key: key) == -22)
        #expect(throws: MapError.operationFailed(map: "m", operation: "delete", errno: MapErrno.invalid)) {
            try map.delete(key: key)
        }
        #expect(throws: MapError.operationFailed(map: "m", operation: "update", errno: MapErrno.tooBig)) {
            try map.update(key: mapBytes(UInt32(9)), value: mapBytes(UInt32(1)))
        }
        #expect(throws: MapError.operationFailed(map: "m", operation: "update", errno: MapErrno.exists)) {
            try map.update(key: key, value: mapBytes(UInt32(1)), flags: MapUpdateFlags.noExist)
        }
    }

    @Test func programsSeeWhatTheSwiftAPIWroteAndViceVersa() throws {
        let map = try makeMap(.array, key: 4, value: 8, entries: 4)
        try map.update(key: mapBytes(UInt32(3)), value: mapBytes(UInt64(0xdead_beef)))
        #expect(programLookup(map, key: mapBytes(UInt32(3))) == mapBytes(UInt64(0xdead_beef)))
        // A program writes through the pointer it looked up, in place.
        let pointer = try #require(withKey(mapBytes(UInt32(0))) { MapOperations.lookup(map.core, key: $0, cpu: 0) })
        pointer.storeBytes(of: UInt64(42), as: UInt64.self)
        #expect(map.lookup(key: mapBytes(UInt32(0))) == mapBytes(UInt64(42)))
        // The pointer lies inside the map's (writable) region.
        let region = try #require(map.regions.first)
        #expect(
            region.writable && region.start <= UInt(bitPattern: pointer) && UInt(bitPattern: pointer) + 8 <= region.end)
    }

    @Test func perCPUArraysKeepOneValuePerCPU() throws {
        let map = try makeMap(.percpuArray, key: 4, value: 4, entries: 2, cpus: 3)
        let key = mapBytes(UInt32(1))
        // A program's update writes only its own CPU's value.
        #expect(programUpdate(map, key: key, value: mapBytes(UInt32(11)), cpu: 1) == 0)
        #expect(map.lookupPerCPU(key: key) == [mapBytes(UInt32(0)), mapBytes(UInt32(11)), mapBytes(UInt32(0))])
        #expect(programLookup(map, key: key, cpu: 1) == mapBytes(UInt32(11)))
        #expect(programLookup(map, key: key, cpu: 2) == mapBytes(UInt32(0)))
        // From outside: one value replicated, or one per CPU.
        try map.update(key: key, value: mapBytes(UInt32(5)))
        #expect(map.lookupPerCPU(key: key) == Array(repeating: mapBytes(UInt32(5)), count: 3))
        try map.updatePerCPU(key: key, values: [mapBytes(UInt32(1)), mapBytes(UInt32(2)), mapBytes(UInt32(3))])
        #expect(map.lookupPerCPU(key: key) == [mapBytes(UInt32(1)), mapBytes(UInt32(2)), mapBytes(UInt32(3))])
        #expect(programLookup(map, key: key, cpu: 2) == mapBytes(UInt32(3)))
        #expect(map.entries()[1].values.count == 3)
        #expect(throws: MapError.self) { try map.updatePerCPU(key: key, values: [mapBytes(UInt32(1))]) }
        #expect(programDelete(map, key: key) == -22)
    }
}
