import Synchronization
import Testing

@testable import BPFVM

/// Runs `body(worker)` on two workers at once (child tasks of the cooperative pool, which has a thread per core).
func onTwoWorkers(_ body: @escaping @Sendable (Int) -> Void) async {
    await withTaskGroup(of: Void.self) { group in
        for worker in 0..<2 { group.addTask { body(worker) } }
    }
}

@Suite struct MapConcurrencyTests {
    @Test func atomicAddsOnAnArrayValueFromTwoWorkersAllCount() async throws {
        let map = try makeMap(.array, key: 4, value: 16, entries: 4)
        let core = UInt(bitPattern: map.core)
        let rounds = 100_000
        await onTwoWorkers { worker in
            let core = UnsafeMutablePointer<MapCore>(bitPattern: core)!
            var key = UInt32(1)
            for _ in 0..<rounds {
                // What a program does: look the value up, then an atomic add on it (BPF_ATOMIC | BPF_ADD).
                guard let value = MapOperations.lookup(core, key: &key, cpu: worker) else { return }
                UnsafePointer<Atomic<UInt64>>(OpaquePointer(value + 8)).pointee.wrappingAdd(1, ordering: .relaxed)
            }
        }
        #expect(map.lookup(key: mapBytes(UInt32(1))) == mapBytes(UInt64(0)) + mapBytes(UInt64(2 * rounds)))
    }

    @Test func hashInsertsAndCountersFromTwoWorkersAreAllThere() async throws {
        let perWorker = 5000
        let map = try makeMap(.hash, key: 8, value: 8, entries: 2 * perWorker + 1)
        try map.update(key: mapBytes(UInt64.max), value: mapBytes(UInt64(0)))
        let core = UInt(bitPattern: map.core)
        await onTwoWorkers { worker in
            let core = UnsafeMutablePointer<MapCore>(bitPattern: core)!
            var shared = UInt64.max
            for i in 0..<perWorker {
                var key = UInt64(worker * perWorker + i)
                var value = key &* 3
                _ = MapOperations.update(core, key: &key, value: &value, flags: MapUpdateFlags.noExist, cpu: worker)
                if let counter = MapOperations.lookup(core, key: &shared, cpu: worker) {
                    UnsafePointer<Atomic<UInt64>>(OpaquePointer(counter)).pointee.wrappingAdd(1, ordering: .relaxed)
                }
                // Churn: delete and re-insert an earlier key of our own.
                if i % 7 == 6 {
                    var old = UInt64(worker * perWorker + i - 3)
                    var oldValue = old &* 3
                    _ = MapOperations.delete(core, key: &old)
                    _ = MapOperations.update(core, key: &old, value: &oldValue, flags: 0, cpu: worker)
                }
            }
        }
        #expect(map.count == 2 * perWorker + 1)
        #expect(map.lookup(key: mapBytes(UInt64.max)) == mapBytes(UInt64(2 * perWorker)))
        let entries = map.entries()
        #expect(entries.count == 2 * perWorker + 1)
        for i in 0..<(2 * perWorker) {
            #expect(map.lookup(key: mapBytes(UInt64(i))) == mapBytes(UInt64(i) * 3))
        }
    }

    @Test func lruAndLPMStayConsistentUnderTwoWriters() async throws {
        let lru = try makeMap(.lruHash, key: 4, value: 4, entries: 64)
        let trie = try makeMap(.lpmTrie, key: 8, value: 4, entries: 512, flags: MapCreationFlags.noPrealloc)
        let lruCore = UInt(bitPattern: lru.core)
        let trieCore = UInt(bitPattern: trie.core)
        await onTwoWorkers { worker in
            let lru = UnsafeMutablePointer<MapCore>(bitPattern: lruCore)!
            let trie = UnsafeMutablePointer<MapCore>(bitPattern: trieCore)!
            for i in 0..<2000 {
                var key = UInt32(worker * 100_000 + i)
                var value = key
                _ = MapOperations.update(lru, key: &key, value: &value, flags: 0, cpu: worker)
                _ = MapOperations.lookup(lru, key: &key, cpu: worker)
            }
            // Worker 0 adds 10.x.y.0/24, worker 1 adds 11.x.y.0/24.
            for i in 0..<256 {
                var key: (UInt32, UInt8, UInt8, UInt8, UInt8) = (
                    24, UInt8(10 + worker), UInt8(i >> 4), UInt8(i & 15), 0
                )
                var value = UInt32(worker * 1000 + i)
                _ = withUnsafeBytes(of: &key) { k in
                    MapOperations.update(trie, key: k.baseAddress!, value: &value, flags: 0, cpu: worker)
                }
            }
        }
        #expect(lru.count == 64)
        #expect(lru.entries().count == 64)
        #expect(trie.count == 512)
        for worker in 0..<2 {
            for i in 0..<256 {
                let probe = mapBytes(UInt32(32)) + [UInt8(10 + worker), UInt8(i >> 4), UInt8(i & 15), 99]
                #expect(trie.lookup(key: probe) == mapBytes(UInt32(worker * 1000 + i)))
            }
        }
    }

    @Test func ringBufferRecordsFromTwoProducersKeepEachProducersOrder() async throws {
        let ring = try makeMap(.ringbuf, key: 0, value: 0, entries: 1 << 16)
        let core = UInt(bitPattern: ring.core)
        let perWorker = 1000
        await onTwoWorkers { worker in
            let core = UnsafeMutablePointer<MapCore>(bitPattern: core)!
            for i in 0..<perWorker {
                if i % 2 == 0 {
                    var record = (UInt32(worker), UInt32(i))
                    _ = MapOperations.ringbufOutput(core, data: &record, size: 8, flags: 0)
                } else if let record = MapOperations.ringbufReserve(core, size: 8, flags: 0) {
                    record.storeBytes(of: UInt32(worker), as: UInt32.self)
                    record.storeBytes(of: UInt32(i), toByteOffset: 4, as: UInt32.self)
                    MapOperations.ringbufSubmit(record: record, flags: 0)
                }
            }
        }
        let records = ring.drainRecords()
        #expect(records.count == 2 * perWorker)
        for worker in 0..<2 {
            let sequence = records.filter { $0[0] == UInt8(worker) }.map { Int($0[4]) | Int($0[5]) << 8 }
            #expect(sequence == Array(0..<perWorker))
        }
    }
}
