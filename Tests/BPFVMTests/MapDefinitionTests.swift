import Testing

@testable import BPFVM

// Shared by the Map*Tests suites.

/// The bytes of a little-endian u32 (array index, ifindex, …).
func mapBytes(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
/// The bytes of a little-endian u64.
func mapBytes(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

func makeMap(
    _ type: MapType, key: Int, value: Int, entries: Int, flags: UInt32 = 0, cpus: Int = 1, name: String = "m"
) throws -> BPFMap {
    try BPFMap(
        spec: MapSpec(name: name, type: type, keySize: key, valueSize: value, maxEntries: entries, flags: flags),
        possibleCPUs: cpus)
}

/// Runs a per-packet operation with the key's bytes.
func withKey<R>(_ key: [UInt8], _ body: (UnsafeRawPointer) -> R) -> R {
    key.withUnsafeBytes { body($0.baseAddress!) }
}

/// Bytes at a value pointer returned by a per-packet lookup.
func bytes(at pointer: UnsafeMutableRawPointer?, count: Int) -> [UInt8]? {
    guard let pointer else { return nil }
    return Array(UnsafeRawBufferPointer(start: pointer, count: count))
}

func programUpdate(_ map: BPFMap, key: [UInt8], value: [UInt8], flags: UInt64 = 0, cpu: Int = 0) -> Int64 {
    key.withUnsafeBytes { k in
        value.withUnsafeBytes { v in
            MapOperations.update(map.core, key: k.baseAddress!, value: v.baseAddress!, flags: flags, cpu: cpu)
        }
    }
}

func programLookup(_ map: BPFMap, key: [UInt8], cpu: Int = 0) -> [UInt8]? {
    withKey(key) { bytes(at: MapOperations.lookup(map.core, key: $0, cpu: cpu), count: map.spec.valueSize) }
}

func programDelete(_ map: BPFMap, key: [UInt8]) -> Int64 {
    withKey(key) { MapOperations.delete(map.core, key: $0) }
}

func expectDefinitionError(
    _ spec: MapSpec, errno: Int32, mentioning text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation
) {
    do {
        _ = try BPFMap(spec: spec)
        Issue.record("map '\(spec.name)' was accepted", sourceLocation: sourceLocation)
    } catch {
        #expect(error.errno == errno, sourceLocation: sourceLocation)
        #expect(error.description.contains(text), "\(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct MapDefinitionTests {
    @Test func refusesDefinitionsTheKernelRefuses() {
        expectDefinitionError(
            MapSpec(name: "a", type: .array, keySize: 8, valueSize: 4, maxEntries: 1), errno: MapErrno.invalid,
            mentioning: "key size must be 4")
        expectDefinitionError(
            MapSpec(name: "a", type: .array, keySize: 4, valueSize: 0, maxEntries: 1), errno: MapErrno.invalid,
            mentioning: "value size")
        expectDefinitionError(
            MapSpec(name: "h", type: .hash, keySize: 4, valueSize: 4, maxEntries: 0), errno: MapErrno.invalid,
            mentioning: "max_entries")
        expectDefinitionError(
            MapSpec(name: "h", type: .hash, keySize: 513, valueSize: 4, maxEntries: 1), errno: MapErrno.tooBig,
            mentioning: "key size 513")
        expectDefinitionError(
            MapSpec(name: "p", type: .percpuArray, keySize: 4, valueSize: 32769, maxEntries: 1),
            errno: MapErrno.tooBig, mentioning: "per-CPU")
        expectDefinitionError(
            MapSpec(name: "lpm", type: .lpmTrie, keySize: 8, valueSize: 4, maxEntries: 16), errno: MapErrno.invalid,
            mentioning: "BPF_F_NO_PREALLOC")
        expectDefinitionError(
            MapSpec(name: "lpm", type: .lpmTrie, keySize: 4, valueSize: 4, maxEntries: 16, flags: 1),
            errno: MapErrno.invalid, mentioning: "LPM key size")
        expectDefinitionError(
            MapSpec(name: "lru", type: .lruHash, keySize: 4, valueSize: 4, maxEntries: 16, flags: 1),
            errno: MapErrno.notSupported, mentioning: "LRU")
        expectDefinitionError(
            MapSpec(name: "rb", type: .ringbuf, keySize: 0, valueSize: 0, maxEntries: 4096 * 3),
            errno: MapErrno.invalid, mentioning: "power of 2")
        expectDefinitionError(
            MapSpec(name: "rb", type: .ringbuf, keySize: 0, valueSize: 0, maxEntries: 2048),
            errno: MapErrno.invalid, mentioning: "multiple of 4096")
        expectDefinitionError(
            MapSpec(name: "rb", type: .ringbuf, keySize: 4, valueSize: 0, maxEntries: 4096),
            errno: MapErrno.invalid, mentioning: "sizes must be 0")
        expectDefinitionError(
            MapSpec(name: "pa", type: .progArray, keySize: 4, valueSize: 8, maxEntries: 4), errno: MapErrno.invalid,
            mentioning: "prog_array")
        expectDefinitionError(
            MapSpec(name: "dev", type: .devmap, keySize: 4, valueSize: 12, maxEntries: 4), errno: MapErrno.invalid,
            mentioning: "4 or 8")
        expectDefinitionError(
            MapSpec(name: "xsk", type: .xskmap, keySize: 4, valueSize: 8, maxEntries: 4), errno: MapErrno.invalid,
            mentioning: "must be 4")
    }

    @Test func refusesHugeOrNegativeSizesWithoutCrashing() {
        expectDefinitionError(
            MapSpec(name: "big", type: .hash, keySize: 8, valueSize: 1024, maxEntries: 1 << 31),
            errno: MapErrno.outOfMemory, mentioning: "limit")
        expectDefinitionError(
            MapSpec(name: "big", type: .array, keySize: 4, valueSize: 8, maxEntries: Int(UInt32.max) + 1),
            errno: MapErrno.tooBig, mentioning: "32 bits")
        expectDefinitionError(
            MapSpec(name: "neg", type: .array, keySize: 4, valueSize: -1, maxEntries: 1), errno: MapErrno.invalid,
            mentioning: "value size")
    }

    @Test func namesUnsupportedTypes() {
        let arrayOfMaps = MapType(rawValue: 12)
        do {
            _ = try BPFMap(spec: MapSpec(name: "outer", type: arrayOfMaps, keySize: 4, valueSize: 4, maxEntries: 4))
            Issue.record("array_of_maps accepted")
        } catch {
            #expect(error == .unsupportedType(map: "outer", type: arrayOfMaps))
            #expect(error.description.contains("map type 12"))
            #expect(error.description.contains("outer"))
        }
        #expect(throws: MapError.self) {
            try BPFMap(spec: MapSpec(name: "x", type: MapType(rawValue: 99), keySize: 4, valueSize: 4, maxEntries: 1))
        }
    }

    @Test func globalDataStartsWithItsInitialBytesAndHasDirectValueAddresses() throws {
        let rodata = try BPFMap(
            spec: MapSpec(
                name: ".rodata", type: .array, keySize: 4, valueSize: 6, maxEntries: 1, initialValue: [1, 2, 3],
                readOnlyForProgram: true))
        #expect(rodata.lookup(key: mapBytes(UInt32(0))) == [1, 2, 3, 0, 0, 0])
        let base = try #require(rodata.valueAddress(offset: 0))
        #expect(rodata.valueAddress(offset: 5) == base + 5)
        #expect(rodata.valueAddress(offset: 6) == nil)
        #expect(rodata.valueAddress(offset: -1) == nil)
        #expect(UnsafeRawPointer(bitPattern: UInt(base))!.load(fromByteOffset: 2, as: UInt8.self) == 3)
        // Read-only for the program: its regions are not writable and its update helper is refused.
        #expect(rodata.regions.count == 1 && rodata.regions[0].writable == false)
        #expect(rodata.regions[0].start == UInt(base) && rodata.regions[0].end >= UInt(base) + 6)
        #expect(programUpdate(rodata, key: mapBytes(UInt32(0)), value: [9, 9, 9, 9, 9, 9]) == -1)
        // …but the loader or a test may still set it from outside.
        try rodata.update(key: mapBytes(UInt32(0)), value: [7, 7, 7, 7, 7, 7])
        #expect(rodata.lookup(key: mapBytes(UInt32(0))) == [7, 7, 7, 7, 7, 7])

        let bss = try makeMap(.array, key: 4, value: 16, entries: 1, name: ".bss")
        #expect(bss.regions[0].writable)
        // The kernel only gives direct value addresses for single-entry arrays.
        let array = try makeMap(.array, key: 4, value: 16, entries: 2)
        #expect(array.valueAddress(offset: 0) == nil)

        expectDefinitionError(
            MapSpec(name: ".data", type: .array, keySize: 4, valueSize: 2, maxEntries: 1, initialValue: [1, 2, 3]),
            errno: MapErrno.invalid, mentioning: "initial contents are 3 bytes")
    }

    @Test func rawOffsetsMatchTheBookkeepingLayout() {
        #expect(MemoryLayout<MapAuxiliaryHeader>.offset(of: \.root) == MapAuxiliaryHeader.rootOffset)
        #expect(MemoryLayout<MapAuxiliaryHeader>.offset(of: \.producer) == MapAuxiliaryHeader.producerOffset)
        #expect(MemoryLayout<MapAuxiliaryHeader>.offset(of: \.consumer) == MapAuxiliaryHeader.consumerOffset)
        #expect(MemoryLayout<MapAuxiliaryHeader>.size <= MapAuxiliaryHeader.size)
    }

    @Test func swiftAPIRefusesWrongSizesWithClearErrors() throws {
        let map = try makeMap(.hash, key: 8, value: 4, entries: 4, name: "counts")
        #expect(throws: MapError.wrongSize(map: "counts", what: "key", expected: 8, actual: 4)) {
            try map.update(key: [1, 2, 3, 4], value: [0, 0, 0, 0])
        }
        #expect(throws: MapError.wrongSize(map: "counts", what: "value", expected: 4, actual: 5)) {
            try map.update(key: mapBytes(UInt64(1)), value: [0, 0, 0, 0, 0])
        }
        #expect(map.lookup(key: [1]) == nil)
        let error = MapError.operationFailed(map: "counts", operation: "update", errno: MapErrno.exists)
        #expect(error.description == "map 'counts': update failed: EEXIST")
    }
}

@Suite struct MapCorruptionTests {
    /// Fills a map's program-writable regions with bytes a runaway unverified program might leave there.
    func scribble(_ map: BPFMap, seed: UInt64) {
        var state = seed
        for region in map.regions where region.writable {
            let start = UnsafeMutableRawPointer(bitPattern: region.start)!
            for offset in 0..<Int(region.end - region.start) {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                start.storeBytes(of: UInt8(truncatingIfNeeded: state >> 56), toByteOffset: offset, as: UInt8.self)
            }
        }
    }

    @Test func garbageInProgramWritableMemoryNeverCrashesTheMapCode() throws {
        // Checked mode (--no-verify) lets a program write anywhere in the regions; the bookkeeping kept there
        // (hash links, LPM children, ring buffer headers) is validated before use.
        for seed: UInt64 in 1...3 {
            let hash = try makeMap(.hash, key: 4, value: 4, entries: 8)
            let lru = try makeMap(.lruHash, key: 4, value: 4, entries: 8, cpus: 2)
            let trie = try makeMap(.lpmTrie, key: 8, value: 4, entries: 8, flags: MapCreationFlags.noPrealloc)
            let ring = try makeMap(.ringbuf, key: 0, value: 0, entries: 4096)
            for i: UInt32 in 0..<6 {
                try hash.update(key: mapBytes(i), value: mapBytes(i))
                try lru.update(key: mapBytes(i), value: mapBytes(i))
                try trie.update(key: lpmKey(8 + i, 10, UInt8(i), 0, 0), value: mapBytes(i))
            }
            let record = try #require(MapOperations.ringbufReserve(ring.core, size: 16, flags: 0))
            MapOperations.ringbufSubmit(record: record, flags: 0)
            for map in [hash, lru, trie, ring] { scribble(map, seed: seed) }
            for i: UInt32 in 0..<12 {
                _ = programLookup(hash, key: mapBytes(i))
                _ = programUpdate(hash, key: mapBytes(i + 100), value: mapBytes(i))
                _ = programDelete(hash, key: mapBytes(i))
                _ = programLookup(lru, key: mapBytes(i))
                _ = programUpdate(lru, key: mapBytes(i + 100), value: mapBytes(i))
                _ = programDelete(lru, key: mapBytes(i))
                _ = programLookup(trie, key: lpmKey(32, 10, UInt8(i), 1, 1))
                _ = programUpdate(trie, key: lpmKey(20, 10, UInt8(i), 0, 0), value: mapBytes(i))
                _ = programDelete(trie, key: lpmKey(8 + i, 10, UInt8(i), 0, 0))
            }
            _ = hash.entries()
            _ = lru.entries()
            _ = trie.entries()
            #expect(ring.drainRecords().count <= 1)
        }
    }
}
