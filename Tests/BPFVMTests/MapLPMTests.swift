import Testing

@testable import BPFVM

/// An IPv4 LPM key: host-order prefix length, then the address in network order.
func lpmKey(_ prefix: UInt32, _ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> [UInt8] {
    mapBytes(prefix) + [a, b, c, d]
}

@Suite struct MapLPMTests {
    func makeTrie(entries: Int = 16, dataBytes: Int = 4) throws -> BPFMap {
        try makeMap(.lpmTrie, key: 4 + dataBytes, value: 4, entries: entries, flags: MapCreationFlags.noPrealloc)
    }

    @Test func findsTheLongestMatchingPrefixFromSlashZeroToSlashThirtyTwo() throws {
        let trie = try makeTrie()
        #expect(programLookup(trie, key: lpmKey(32, 10, 1, 2, 3)) == nil)
        try trie.update(key: lpmKey(0, 0, 0, 0, 0), value: mapBytes(UInt32(0)))
        try trie.update(key: lpmKey(8, 10, 0, 0, 0), value: mapBytes(UInt32(8)))
        try trie.update(key: lpmKey(16, 10, 1, 0, 0), value: mapBytes(UInt32(16)))
        try trie.update(key: lpmKey(24, 10, 1, 2, 0), value: mapBytes(UInt32(24)))
        try trie.update(key: lpmKey(32, 10, 1, 2, 3), value: mapBytes(UInt32(32)))
        try trie.update(key: lpmKey(9, 10, 128, 0, 0), value: mapBytes(UInt32(9)))
        #expect(programLookup(trie, key: lpmKey(32, 10, 1, 2, 3)) == mapBytes(UInt32(32)))
        #expect(programLookup(trie, key: lpmKey(32, 10, 1, 2, 4)) == mapBytes(UInt32(24)))
        #expect(programLookup(trie, key: lpmKey(32, 10, 1, 3, 3)) == mapBytes(UInt32(16)))
        #expect(programLookup(trie, key: lpmKey(32, 10, 2, 2, 3)) == mapBytes(UInt32(8)))
        #expect(programLookup(trie, key: lpmKey(32, 10, 200, 2, 3)) == mapBytes(UInt32(9)))
        #expect(programLookup(trie, key: lpmKey(32, 11, 1, 2, 3)) == mapBytes(UInt32(0)))
        // The lookup key's own prefix length bounds the match.
        #expect(programLookup(trie, key: lpmKey(20, 10, 1, 2, 3)) == mapBytes(UInt32(16)))
        #expect(programLookup(trie, key: lpmKey(0, 10, 1, 2, 3)) == mapBytes(UInt32(0)))
        // The Swift API looks up the same way.
        #expect(trie.lookup(key: lpmKey(32, 10, 1, 2, 99)) == mapBytes(UInt32(24)))
        #expect(trie.count == 6)
    }

    @Test func updateAndDeleteWorkOnExactPrefixes() throws {
        let trie = try makeTrie(entries: 3)
        try trie.update(key: lpmKey(24, 192, 168, 1, 0), value: mapBytes(UInt32(1)))
        // Same prefix (bits beyond the prefix do not matter): replace; NOEXIST refuses.
        #expect(programUpdate(trie, key: lpmKey(24, 192, 168, 1, 77), value: mapBytes(UInt32(2)), flags: 1) == -17)
        #expect(programUpdate(trie, key: lpmKey(24, 192, 168, 1, 77), value: mapBytes(UInt32(2)), flags: 2) == 0)
        #expect(programLookup(trie, key: lpmKey(32, 192, 168, 1, 5)) == mapBytes(UInt32(2)))
        #expect(programUpdate(trie, key: lpmKey(16, 192, 168, 0, 0), value: mapBytes(UInt32(3)), flags: 2) == -2)
        #expect(programUpdate(trie, key: lpmKey(33, 192, 168, 0, 0), value: mapBytes(UInt32(3))) == -22)
        #expect(programUpdate(trie, key: lpmKey(16, 192, 168, 0, 0), value: mapBytes(UInt32(3)), flags: 3) == -22)
        #expect(programUpdate(trie, key: lpmKey(16, 192, 168, 0, 0), value: mapBytes(UInt32(3))) == 0)
        #expect(programUpdate(trie, key: lpmKey(24, 192, 168, 2, 0), value: mapBytes(UInt32(4))) == 0)
        // Full: a new prefix gets ENOSPC, an existing one is still replaced.
        #expect(programUpdate(trie, key: lpmKey(8, 10, 0, 0, 0), value: mapBytes(UInt32(5))) == -28)
        #expect(programUpdate(trie, key: lpmKey(16, 192, 168, 9, 9), value: mapBytes(UInt32(6))) == 0)
        // Delete needs the exact prefix.
        #expect(programDelete(trie, key: lpmKey(20, 192, 168, 0, 0)) == -2)
        #expect(programDelete(trie, key: lpmKey(33, 192, 168, 0, 0)) == -22)
        #expect(programDelete(trie, key: lpmKey(16, 192, 168, 0, 0)) == 0)
        #expect(programDelete(trie, key: lpmKey(16, 192, 168, 0, 0)) == -2)
        #expect(programLookup(trie, key: lpmKey(32, 192, 168, 3, 1)) == nil)
        #expect(programLookup(trie, key: lpmKey(32, 192, 168, 2, 1)) == mapBytes(UInt32(4)))
        #expect(
            trie.entries() == [
                MapEntry(key: lpmKey(24, 192, 168, 1, 77), values: [mapBytes(UInt32(2))]),
                MapEntry(key: lpmKey(24, 192, 168, 2, 0), values: [mapBytes(UInt32(4))]),
            ])
        #expect(programUpdate(trie, key: lpmKey(8, 10, 0, 0, 0), value: mapBytes(UInt32(5))) == 0)
    }

    @Test func agreesWithALinearScanUnderRandomInsertsAndDeletes() throws {
        // IPv6-sized keys; prefixes drawn from a few address families so that they nest and share bits.
        let trie = try makeTrie(entries: 64, dataBytes: 16)
        var reference: [(prefix: Int, data: [UInt8], value: UInt32)] = []
        var state: UInt64 = 0x1234_5678
        func random(_ n: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(n))
        }
        func masked(_ data: [UInt8], _ prefix: Int) -> [UInt8] {
            data.enumerated().map { i, byte in
                let keep = max(0, min(8, prefix - i * 8))
                return keep == 0 ? 0 : byte & UInt8(truncatingIfNeeded: 0xff << (8 - keep))
            }
        }
        func randomAddress() -> [UInt8] {
            let bases: [[UInt8]] = [
                [0x20, 0x01, 0x0d, 0xb8], [0x20, 0x01, 0x0d, 0xb9], [0xfe, 0x80, 0, 0], [0x00, 0x00, 0x00, 0x00],
            ]
            return bases[random(4)] + (0..<12).map { _ in random(4) == 0 ? UInt8(random(256)) : 0 }
        }
        func longestMatch(_ address: [UInt8]) -> UInt32? {
            reference.filter { masked(address, $0.prefix) == masked($0.data, $0.prefix) }
                .max { $0.prefix < $1.prefix }?.value
        }
        let prefixes = [0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 48, 64, 100, 127, 128]
        var deleted = 0
        var refused = 0
        for step in 0..<2000 {
            let prefix = prefixes[random(prefixes.count)]
            let data = randomAddress()
            let key = mapBytes(UInt32(prefix)) + data
            let existing = reference.firstIndex {
                $0.prefix == prefix && masked($0.data, prefix) == masked(data, prefix)
            }
            if random(3) == 0 {
                let result = programDelete(trie, key: key)
                #expect(result == (existing == nil ? -2 : 0), "step \(step)")
                if let existing {
                    reference.remove(at: existing)
                    deleted += 1
                }
            } else {
                let result = programUpdate(trie, key: key, value: mapBytes(UInt32(step)))
                if existing != nil || reference.count < 64 {
                    #expect(result == 0, "step \(step)")
                    if let existing { reference.remove(at: existing) }
                    reference.append((prefix, data, UInt32(step)))
                } else {
                    #expect(result == -28, "step \(step)")
                    refused += 1
                }
            }
            let probe =
                random(2) == 0
                ? randomAddress() : (reference.isEmpty ? randomAddress() : reference[random(reference.count)].data)
            #expect(
                programLookup(trie, key: mapBytes(UInt32(128)) + probe) == longestMatch(probe).map(mapBytes),
                "step \(step)")
        }
        // The walk exercised deletes of present prefixes and a full trie.
        #expect(deleted > 50 && refused > 50)
        #expect(trie.count == reference.count)
        #expect(Set(trie.entries().map { $0.key }).count == reference.count)
    }
}
