import Testing

@testable import BPFVM

@Suite struct MapRingbufTests {
    func makeRing(_ size: Int = 4096) throws -> BPFMap { try makeMap(.ringbuf, key: 0, value: 0, entries: size) }

    func reserve(_ ring: BPFMap, _ size: Int, fill: UInt8) -> UnsafeMutableRawPointer? {
        guard let record = MapOperations.ringbufReserve(ring.core, size: UInt64(size), flags: 0) else { return nil }
        record.initializeMemory(as: UInt8.self, repeating: fill, count: size)
        return record
    }

    @Test func submittedRecordsComeOutInOrderAndDiscardedOnesAreSkipped() throws {
        let ring = try makeRing()
        let a = try #require(reserve(ring, 3, fill: 0xA))
        let b = try #require(reserve(ring, 8, fill: 0xB))
        let c = try #require(reserve(ring, 1, fill: 0xC))
        // Records are 8-aligned and laid out one after another (8-byte header + data rounded up to 8).
        #expect(b - a == 16 && c - b == 16)
        MapOperations.ringbufSubmit(record: c, flags: RingbufFlags.noWakeup)
        MapOperations.ringbufDiscard(record: b, flags: 0)
        // A is still reserved: nothing after it is visible yet.
        #expect(ring.drainRecords() == [])
        MapOperations.ringbufSubmit(record: a, flags: RingbufFlags.forceWakeup)
        #expect(ring.drainRecords() == [[0xA, 0xA, 0xA], [0xC]])
        #expect(ring.drainRecords() == [])
        #expect(RingBuffer.pendingBytes(ring.core) == 0)
    }

    @Test func aFullBufferRefusesReservationsUntilTheConsumerCatchesUp() throws {
        let ring = try makeRing(4096)
        // 16-byte records: the producer may run at most 4095 bytes ahead, so 255 fit.
        var records: [UnsafeMutableRawPointer] = []
        while let record = reserve(ring, 8, fill: UInt8(records.count & 0xff)) { records.append(record) }
        #expect(records.count == 255)
        #expect(MapOperations.ringbufReserve(ring.core, size: 1, flags: 0) == nil)
        let payload: [UInt8] = [1, 2, 3]
        #expect(
            payload.withUnsafeBytes { MapOperations.ringbufOutput(ring.core, data: $0.baseAddress!, size: 3, flags: 0) }
                == -11)
        for record in records { MapOperations.ringbufSubmit(record: record, flags: 0) }
        let drained = ring.drainRecords()
        #expect(drained.count == 255)
        #expect(drained.enumerated().allSatisfy { i, record in record == Array(repeating: UInt8(i & 0xff), count: 8) })
        // After draining, records wrap around the end of the data area and stay contiguous.
        for round in 0..<3 {
            let big = try #require(reserve(ring, 1000, fill: UInt8(round)))
            let small = try #require(reserve(ring, 2000, fill: UInt8(round + 100)))
            MapOperations.ringbufSubmit(record: big, flags: 0)
            MapOperations.ringbufSubmit(record: small, flags: 0)
            #expect(
                ring.drainRecords() == [
                    Array(repeating: UInt8(round), count: 1000), Array(repeating: UInt8(round + 100), count: 2000),
                ])
        }
    }

    @Test func reserveAndOutputRefuseWhatTheKernelRefuses() throws {
        let ring = try makeRing()
        // Too large for the buffer (header included), or flags given.
        #expect(MapOperations.ringbufReserve(ring.core, size: 4096 - 8, flags: 0) == nil)
        #expect(MapOperations.ringbufReserve(ring.core, size: 8, flags: 1) == nil)
        let payload: [UInt8] = [9, 8, 7, 6, 5]
        let output = { (flags: UInt64) in
            payload.withUnsafeBytes {
                MapOperations.ringbufOutput(ring.core, data: $0.baseAddress!, size: 5, flags: flags)
            }
        }
        #expect(output(4) == -22)
        #expect(output(RingbufFlags.noWakeup) == 0)
        #expect(output(0) == 0)
        #expect(ring.drainRecords() == [payload, payload])
        // Not a ring buffer: no records.
        let array = try makeMap(.array, key: 4, value: 4, entries: 1)
        #expect(MapOperations.ringbufReserve(array.core, size: 8, flags: 0) == nil)
        #expect(ring.lookup(key: []) == nil)
        #expect(ring.entries() == [])
        #expect(throws: MapError.self) { try ring.update(key: [], value: []) }
        // The program may write the data area.
        let region = try #require(ring.regions.first)
        #expect(region.writable && region.end - region.start == 2 * 4096)
    }
}
