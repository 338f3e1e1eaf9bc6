import Testing

@testable import BPFVM

@Suite struct MapHashTests {
    @Test func updateFlagsAndErrorsFollowTheKernel() throws {
        let map = try makeMap(.hash, key: 8, value: 4, entries: 4)
        let key = mapBytes(UInt64(0x0102_0304_0506_0708))
        #expect(programLookup(map, key: key) == nil)
        #expect(programUpdate(map, key: key, value: mapBytes(UInt32(1)), flags: MapUpdateFlags.exist) == -2)
        #expect(programUpdate(map, key: key, value: mapBytes(UInt32(1)), flags: MapUpdateFlags.noExist) == 0)
        #expect(programUpdate(map, key: key, value: mapBytes(UInt32(2)), flags: MapUpdateFlags.noExist) == -17)
        #expect(programUpdate(map, key: key, value: mapBytes(UInt32(3)), flags: MapUpdateFlags.exist) == 0)
        #expect(programUpdate(map, key: key, value: mapBytes(UInt32(4)), flags: 3) == -22)
        #expect(programUpdate(map, key: key, value: mapBytes(UInt32(4)), flags: MapUpdateFlags.lock) == -22)
        #expect(programLookup(map, key: key) == mapBytes(UInt32(3)))
        #expect(map.lookup(key: key) == mapBytes(UInt32(3)))
        #expect(programDelete(map, key: key) == 0)
        #expect(programDelete(map, key: key) == -2)
        #expect(programLookup(map, key: key) == nil)
        #expect(throws: MapError.operationFailed(map: "m", operation: "delete", errno: MapErrno.noEntry)) {
            try map.delete(key: key)
        }
    }

    @Test func aFullMapRefusesNewKeysButReplacesExistingOnes() throws {
        let map = try makeMap(.hash, key: 4, value: 4, entries: 3)
        for i: UInt32 in 1...3 { try map.update(key: mapBytes(i), value: mapBytes(i * 10)) }
        #expect(map.count == 3)
        #expect(programUpdate(map, key: mapBytes(UInt32(4)), value: mapBytes(UInt32(40))) == -7)
        #expect(throws: MapError.operationFailed(map: "m", operation: "update", errno: MapErrno.tooBig)) {
            try map.update(key: mapBytes(UInt32(4)), value: mapBytes(UInt32(40)))
        }
        #expect(programUpdate(map, key: mapBytes(UInt32(2)), value: mapBytes(UInt32(22))) == 0)
        #expect(programDelete(map, key: mapBytes(UInt32(1))) == 0)
        #expect(programUpdate(map, key: mapBytes(UInt32(4)), value: mapBytes(UInt32(40))) == 0)
        #expect(
            map.entries() == [
                MapEntry(key: mapBytes(UInt32(2)), values: [mapBytes(UInt32(22))]),
                MapEntry(key: mapBytes(UInt32(3)), values: [mapBytes(UInt32(30))]),
                MapEntry(key: mapBytes(UInt32(4)), values: [mapBytes(UInt32(40))]),
            ])
    }

    @Test func manyKeysSurviveInsertsAndDeletesInAnyOrder() throws {
        // Odd key size (13 bytes) exercises the hash's tail bytes and unaligned keys.
        let map = try makeMap(.hash, key: 13, value: 8, entries: 1000)
        func key(_ i: Int) -> [UInt8] {
            mapBytes(UInt64(i) &* 0x9E37_79B9) + [
                UInt8(truncatingIfNeeded: i), 1, 2, 3, UInt8(truncatingIfNeeded: i >> 8),
            ]
        }
        var reference: [[UInt8]: [UInt8]] = [:]
        for i in 0..<1000 {
            #expect(programUpdate(map, key: key(i), value: mapBytes(UInt64(i))) == 0)
            reference[key(i)] = mapBytes(UInt64(i))
        }
        #expect(programUpdate(map, key: key(5000), value: mapBytes(UInt64(0))) == -7)
        for i in stride(from: 0, to: 1000, by: 3) {
            #expect(programDelete(map, key: key(i)) == 0)
            reference[key(i)] = nil
        }
        for i in 0..<1000 { #expect(programLookup(map, key: key(i)) == reference[key(i)]) }
        #expect(map.count == reference.count)
        let dumped = map.entries()
        #expect(dumped.map(\.key) == reference.keys.sorted { $0.lexicographicallyPrecedes($1) })
        #expect(dumped.allSatisfy { reference[$0.key] == $0.values.first })
        // The freed elements are reusable.
        for i in stride(from: 0, to: 1000, by: 3) {
            #expect(programUpdate(map, key: key(i + 2000), value: mapBytes(UInt64(i))) == 0)
        }
        #expect(map.count == 1000)
    }

    @Test func perCPUHashWritesOnlyTheCurrentCPUAndZeroesTheOthersOfANewKey() throws {
        let map = try makeMap(.percpuHash, key: 4, value: 4, entries: 8, cpus: 2)
        let key = mapBytes(UInt32(7))
        try map.update(key: mapBytes(UInt32(1)), value: mapBytes(UInt32(9)))
        // A new key from CPU 1: CPU 0's value is zero, not garbage from a reused element.
        try map.delete(key: mapBytes(UInt32(1)))
        #expect(programUpdate(map, key: key, value: mapBytes(UInt32(5)), cpu: 1) == 0)
        #expect(map.lookupPerCPU(key: key) == [mapBytes(UInt32(0)), mapBytes(UInt32(5))])
        #expect(programUpdate(map, key: key, value: mapBytes(UInt32(6)), cpu: 0) == 0)
        #expect(map.lookupPerCPU(key: key) == [mapBytes(UInt32(6)), mapBytes(UInt32(5))])
        #expect(programLookup(map, key: key, cpu: 1) == mapBytes(UInt32(5)))
        try map.updatePerCPU(key: key, values: [mapBytes(UInt32(1)), mapBytes(UInt32(2))])
        #expect(programLookup(map, key: key, cpu: 0) == mapBytes(UInt32(1)))
        #expect(map.entries() == [MapEntry(key: key, values: [mapBytes(UInt32(1)), mapBytes(UInt32(2))])])
    }

    /// Keys of a map with 4-byte keys and values, with their values, as `[key: value]`.
    func contents(_ map: BPFMap) -> [UInt32: UInt32] {
        var result: [UInt32: UInt32] = [:]
        for entry in map.entries() {
            let key = entry.key.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            result[key] = entry.values[0].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        }
        return result
    }

    @Test func lruEvictsAsTheKernelDoesFromOutside() throws {
        // Recorded on Linux 6.18 (2 possible CPUs, pinned to CPU 0) with bpf_map_update_elem/delete_elem on a
        // 3-entry LRU_HASH: the kernel takes a free element before looking at the key, so a full map evicts on
        // every update — even one that replaces an existing key or fails its flags check.
        let map = try makeMap(.lruHash, key: 4, value: 4, entries: 3, cpus: 2)
        func update(_ key: UInt32, _ value: UInt32, _ flags: UInt64 = 0) -> Int32 {
            do {
                try map.update(key: mapBytes(key), value: mapBytes(value), flags: flags)
                return 0
            } catch {
                return -(error.errno ?? 0)
            }
        }
        for key: UInt32 in [0xA, 0xB, 0xC] { #expect(update(key, key) == 0) }
        #expect(contents(map) == [0xA: 0xA, 0xB: 0xB, 0xC: 0xC])
        #expect(update(0xD, 0xD) == 0)
        #expect(contents(map) == [0xB: 0xB, 0xC: 0xC, 0xD: 0xD])
        #expect(update(0xE, 0xE) == 0)
        #expect(contents(map) == [0xC: 0xC, 0xD: 0xD, 0xE: 0xE])
        #expect(update(0xD, 0xDD) == 0)
        #expect(contents(map) == [0xD: 0xDD, 0xE: 0xE])
        #expect(update(0xF, 0xF) == 0)
        #expect(contents(map) == [0xD: 0xDD, 0xE: 0xE, 0xF: 0xF])
        #expect(update(0xF, 1, MapUpdateFlags.noExist) == -17)
        #expect(contents(map) == [0xD: 0xDD, 0xF: 0xF])
        #expect(update(1, 1, MapUpdateFlags.exist) == -2)
        #expect(contents(map) == [0xD: 0xDD, 0xF: 0xF])
        try map.delete(key: mapBytes(UInt32(0xF)))
        #expect(contents(map) == [0xD: 0xDD])
        #expect(update(1, 1) == 0)
        #expect(update(2, 2) == 0)
        #expect(contents(map) == [1: 1, 2: 2, 0xD: 0xDD])
        #expect(map.count == 3)
        #expect(update(3, 3, MapUpdateFlags.lock) == -22)
    }

    @Test func lruKeepsWhatProgramsLookedUp() throws {
        // One CPU: each refill takes one element (half of the CPU's share, at least 1). Program lookups set the
        // reference bit, lookups from outside do not; referenced elements move to the active list and survive.
        let map = try makeMap(.lruHash, key: 4, value: 4, entries: 3)
        for key: UInt32 in [0xA, 0xB, 0xC] {
            #expect(programUpdate(map, key: mapBytes(key), value: mapBytes(key)) == 0)
        }
        #expect(programLookup(map, key: mapBytes(UInt32(0xA))) != nil)
        #expect(map.lookup(key: mapBytes(UInt32(0xB))) != nil)
        #expect(programUpdate(map, key: mapBytes(UInt32(0xD)), value: mapBytes(UInt32(0xD))) == 0)
        #expect(Set(contents(map).keys) == [0xA, 0xC, 0xD])
        #expect(programUpdate(map, key: mapBytes(UInt32(0xE)), value: mapBytes(UInt32(0xE))) == 0)
        #expect(Set(contents(map).keys) == [0xA, 0xD, 0xE])
        #expect(programUpdate(map, key: mapBytes(UInt32(0xF)), value: mapBytes(UInt32(0xF))) == 0)
        #expect(Set(contents(map).keys) == [0xA, 0xE, 0xF])
    }

    @Test func lruPerCPUCombinesBoth() throws {
        let map = try makeMap(.lruPercpuHash, key: 4, value: 8, entries: 2, cpus: 2)
        #expect(programUpdate(map, key: mapBytes(UInt32(1)), value: mapBytes(UInt64(1)), cpu: 1) == 0)
        #expect(programUpdate(map, key: mapBytes(UInt32(2)), value: mapBytes(UInt64(2)), cpu: 0) == 0)
        #expect(programLookup(map, key: mapBytes(UInt32(1)), cpu: 1) == mapBytes(UInt64(1)))
        #expect(programUpdate(map, key: mapBytes(UInt32(3)), value: mapBytes(UInt64(3)), cpu: 0) == 0)
        #expect(map.entries().map(\.key) == [mapBytes(UInt32(1)), mapBytes(UInt32(3))])
        #expect(map.lookupPerCPU(key: mapBytes(UInt32(1))) == [mapBytes(UInt64(0)), mapBytes(UInt64(1))])
    }

    @Test func readOnlyMapsRefuseProgramWrites() throws {
        let map = try BPFMap(
            spec: MapSpec(name: "ro", type: .hash, keySize: 4, valueSize: 4, maxEntries: 2, flags: 1 << 7))
        try map.update(key: mapBytes(UInt32(1)), value: mapBytes(UInt32(1)))
        #expect(programUpdate(map, key: mapBytes(UInt32(1)), value: mapBytes(UInt32(2))) == -1)
        #expect(programDelete(map, key: mapBytes(UInt32(1))) == -1)
        #expect(programLookup(map, key: mapBytes(UInt32(1))) == mapBytes(UInt32(1)))
        #expect(map.regions.allSatisfy { !$0.writable })
    }
}
