import Testing

@testable import BPFVM

/// Calls helpers the way the interpreter does: a C function pointer, the environment, five 64-bit arguments.
struct HelperCaller {
    var environment = ExecutionEnvironment()

    mutating func call(
        _ helper: HelperFunction, _ r1: UInt64 = 0, _ r2: UInt64 = 0, _ r3: UInt64 = 0, _ r4: UInt64 = 0,
        _ r5: UInt64 = 0
    ) -> UInt64 {
        withUnsafeMutablePointer(to: &environment) { helper(UnsafeMutableRawPointer($0), r1, r2, r3, r4, r5) }
    }
}

func address(_ pointer: UnsafeRawPointer) -> UInt64 { UInt64(UInt(bitPattern: pointer)) }
func address(_ map: BPFMap) -> UInt64 { UInt64(UInt(bitPattern: map.core)) }

@Suite struct MapHelperTests {
    @Test func lookupUpdateDeleteHelpersUseTheEnvironmentsCPU() throws {
        let map = try makeMap(.percpuHash, key: 4, value: 8, entries: 4, cpus: 4)
        var caller = HelperCaller()
        caller.environment.processorID = 2
        let key = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)
        let value = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)
        defer {
            key.deallocate()
            value.deallocate()
        }
        key.storeBytes(of: UInt32(77), as: UInt32.self)
        value.storeBytes(of: UInt64(0x1122), as: UInt64.self)
        #expect(caller.call(MapHelpers.lookupElem, address(map), address(key)) == 0)
        #expect(caller.call(MapHelpers.updateElem, address(map), address(key), address(value), 0) == 0)
        #expect(
            Int64(bitPattern: caller.call(MapHelpers.updateElem, address(map), address(key), address(value), 1)) == -17)
        #expect(map.lookupPerCPU(key: mapBytes(UInt32(77)))?[2] == mapBytes(UInt64(0x1122)))
        #expect(map.lookupPerCPU(key: mapBytes(UInt32(77)))?[0] == mapBytes(UInt64(0)))
        let found = caller.call(MapHelpers.lookupElem, address(map), address(key))
        let pointer = try #require(UnsafeRawPointer(bitPattern: UInt(found)))
        #expect(pointer.load(as: UInt64.self) == 0x1122)
        caller.environment.processorID = 0
        #expect(caller.call(MapHelpers.lookupElem, address(map), address(key)) != found)
        #expect(caller.call(MapHelpers.deleteElem, address(map), address(key)) == 0)
        #expect(Int64(bitPattern: caller.call(MapHelpers.deleteElem, address(map), address(key))) == -2)
        #expect(caller.call(MapHelpers.lookupElem, address(map), address(key)) == 0)
        // A CPU beyond the map's possible CPUs falls back to slot 0 rather than leaving the value.
        caller.environment.processorID = 9
        #expect(caller.call(MapHelpers.updateElem, address(map), address(key), address(value), 0) == 0)
        #expect(map.lookupPerCPU(key: mapBytes(UInt32(77)))?[0] == mapBytes(UInt64(0x1122)))
    }

    @Test func redirectMapFindsDevmapAndXskmapEntriesOrReturnsTheFallbackAction() throws {
        let devmap = try makeMap(.devmap, key: 4, value: 8, entries: 4)
        try devmap.update(key: mapBytes(UInt32(1)), value: mapBytes(UInt32(12)) + mapBytes(UInt32(0)))
        #expect(devmap.lookup(key: mapBytes(UInt32(1))) == mapBytes(UInt32(12)) + mapBytes(UInt32(0)))
        let xsks = try makeMap(.xskmap, key: 4, value: 4, entries: 4)
        try xsks.update(key: mapBytes(UInt32(3)), value: mapBytes(UInt32(5)))
        var caller = HelperCaller()

        #expect(caller.call(MapHelpers.redirectMap, address(devmap), 1, 0) == 4)
        #expect(caller.environment.redirectKind == .interface && caller.environment.redirectValue == 12)
        #expect(caller.call(MapHelpers.redirectMap, address(xsks), 3, 2) == 4)
        #expect(caller.environment.redirectKind == .socket && caller.environment.redirectValue == 5)
        // The key is truncated to 32 bits, as in the kernel.
        #expect(caller.call(MapHelpers.redirectMap, address(xsks), 0x1_0000_0003, 0) == 4)
        // Absent: the low two flag bits are the action, and the target is cleared.
        #expect(caller.call(MapHelpers.redirectMap, address(xsks), 2, 2) == 2)
        #expect(caller.environment.redirectKind == .none && caller.environment.redirectValue == 0)
        #expect(caller.call(MapHelpers.redirectMap, address(devmap), 7, 1) == 1)
        // Unknown flags abort; so does broadcast, which Sluice does not support.
        #expect(caller.call(MapHelpers.redirectMap, address(xsks), 3, 8) == 0)
        #expect(caller.call(MapHelpers.redirectMap, address(devmap), 1, RedirectMapFlags.broadcast) == 0)
        // Programs may look the entries up, but not change them.
        #expect(programLookup(xsks, key: mapBytes(UInt32(3))) == mapBytes(UInt32(5)))
        #expect(programLookup(xsks, key: mapBytes(UInt32(2))) == nil)
        #expect(programUpdate(devmap, key: mapBytes(UInt32(2)), value: mapBytes(UInt64(3))) == -22)
        #expect(programDelete(xsks, key: mapBytes(UInt32(3))) == -22)
        #expect(devmap.regions.allSatisfy { !$0.writable })
    }

    @Test func redirectMapsFollowTheKernelsUpdateRules() throws {
        let devmap = try makeMap(.devmap, key: 4, value: 4, entries: 2, name: "tx")
        #expect(throws: MapError.operationFailed(map: "tx", operation: "update", errno: MapErrno.exists)) {
            try devmap.update(key: mapBytes(UInt32(0)), value: mapBytes(UInt32(3)), flags: MapUpdateFlags.noExist)
        }
        #expect(throws: MapError.operationFailed(map: "tx", operation: "update", errno: MapErrno.tooBig)) {
            try devmap.update(key: mapBytes(UInt32(2)), value: mapBytes(UInt32(3)))
        }
        try devmap.update(key: mapBytes(UInt32(0)), value: mapBytes(UInt32(3)))
        // ifindex 0 empties the slot.
        try devmap.update(key: mapBytes(UInt32(0)), value: mapBytes(UInt32(0)))
        #expect(devmap.entries() == [])
        try devmap.delete(key: mapBytes(UInt32(1)))
        #expect(throws: MapError.operationFailed(map: "tx", operation: "delete", errno: MapErrno.invalid)) {
            try devmap.delete(key: mapBytes(UInt32(2)))
        }
        let withProgram = try makeMap(.devmap, key: 4, value: 8, entries: 2)
        // fd -1: no program; the entry reads back with program id 0, as the kernel reports it.
        try withProgram.update(key: mapBytes(UInt32(1)), value: mapBytes(UInt32(3)) + mapBytes(UInt32.max))
        #expect(withProgram.lookup(key: mapBytes(UInt32(1))) == mapBytes(UInt32(3)) + mapBytes(UInt32(0)))
        #expect(throws: MapError.self) {
            try withProgram.update(key: mapBytes(UInt32(0)), value: mapBytes(UInt32(3)) + mapBytes(UInt32(7)))
        }

        let xsks = try makeMap(.xskmap, key: 4, value: 4, entries: 2, name: "xsks")
        #expect(throws: MapError.operationFailed(map: "xsks", operation: "update", errno: MapErrno.noEntry)) {
            try xsks.update(key: mapBytes(UInt32(0)), value: mapBytes(UInt32(3)), flags: MapUpdateFlags.exist)
        }
        try xsks.update(key: mapBytes(UInt32(0)), value: mapBytes(UInt32(3)), flags: MapUpdateFlags.noExist)
        #expect(throws: MapError.operationFailed(map: "xsks", operation: "update", errno: MapErrno.exists)) {
            try xsks.update(key: mapBytes(UInt32(0)), value: mapBytes(UInt32(4)), flags: MapUpdateFlags.noExist)
        }
        #expect(xsks.entries() == [MapEntry(key: mapBytes(UInt32(0)), values: [mapBytes(UInt32(3))])])

        let hashed = try makeMap(.devmapHash, key: 4, value: 4, entries: 1, name: "ports")
        try hashed.update(key: mapBytes(UInt32(1000)), value: mapBytes(UInt32(8)))
        #expect(throws: MapError.operationFailed(map: "ports", operation: "update", errno: MapErrno.tooBig)) {
            try hashed.update(key: mapBytes(UInt32(1001)), value: mapBytes(UInt32(9)))
        }
        #expect(throws: MapError.operationFailed(map: "ports", operation: "update", errno: MapErrno.invalid)) {
            try hashed.update(key: mapBytes(UInt32(1000)), value: mapBytes(UInt32(0)))
        }
        var caller = HelperCaller()
        #expect(caller.call(MapHelpers.redirectMap, address(hashed), 1000, 0) == 4)
        #expect(caller.environment.redirectKind == .interface && caller.environment.redirectValue == 8)
        #expect(caller.call(MapHelpers.redirectMap, address(hashed), 1, 0) == 0)

        let cpus = try BPFMap(
            spec: MapSpec(name: "cpus", type: .cpumap, keySize: 4, valueSize: 4, maxEntries: 8), possibleCPUs: 2)
        try cpus.update(key: mapBytes(UInt32(1)), value: mapBytes(UInt32(192)))
        #expect(throws: MapError.operationFailed(map: "cpus", operation: "update", errno: MapErrno.noDevice)) {
            try cpus.update(key: mapBytes(UInt32(5)), value: mapBytes(UInt32(192)))
        }
        #expect(caller.call(MapHelpers.redirectMap, address(cpus), 1, 0) == 4)
        #expect(caller.environment.redirectKind == .cpu && caller.environment.redirectValue == 1)
        #expect(programLookup(cpus, key: mapBytes(UInt32(1))) == nil)
    }

    @Test func ringbufHelpersReserveSubmitDiscardAndOutput() throws {
        let ring = try makeMap(.ringbuf, key: 0, value: 0, entries: 4096)
        var caller = HelperCaller()
        let first = caller.call(MapHelpers.ringbufReserve, address(ring), 4, 0)
        let record = try #require(UnsafeMutableRawPointer(bitPattern: UInt(first)))
        record.storeBytes(of: UInt32(0xfeed), as: UInt32.self)
        let second = caller.call(MapHelpers.ringbufReserve, address(ring), 16, 0)
        #expect(second != 0)
        #expect(caller.call(MapHelpers.ringbufReserve, address(ring), 16, 1) == 0)
        #expect(caller.call(MapHelpers.ringbufSubmit, first, 0) == 0)
        #expect(caller.call(MapHelpers.ringbufDiscard, second, 0) == 0)
        let data: [UInt8] = [1, 2, 3, 4, 5, 6]
        let result = data.withUnsafeBytes {
            caller.call(MapHelpers.ringbufOutput, address(ring), address($0.baseAddress!), 6, 0)
        }
        #expect(result == 0)
        #expect(ring.drainRecords() == [mapBytes(UInt32(0xfeed)), data])
        // Too big for the buffer: -EAGAIN, as the kernel returns when the reservation fails.
        let big = [UInt8](repeating: 0, count: 4096)
        let refused = big.withUnsafeBytes {
            caller.call(MapHelpers.ringbufOutput, address(ring), address($0.baseAddress!), 4096, 0)
        }
        #expect(Int64(bitPattern: refused) == -11)
    }

    @Test func progArraySlotsHoldCodeHandlesForTailCalls() throws {
        let programs = try makeMap(.progArray, key: 4, value: 4, entries: 4, name: "jumps")
        let handle = UnsafeMutablePointer<CodeHandle>.allocate(capacity: 1)
        defer { handle.deallocate() }
        try programs.setProgram(slot: 2, handle: handle)
        #expect(programs.program(slot: 2) == UnsafePointer(handle))
        #expect(programs.program(slot: 1) == nil)
        #expect(programs.program(slot: 9) == nil)
        // The interpreter reads slot i as 8 bytes at storage + 8·i.
        #expect(programs.core.pointee.storage.load(fromByteOffset: 16, as: UInt.self) == UInt(bitPattern: handle))
        #expect(programs.entries() == [MapEntry(key: mapBytes(UInt32(2)), values: [])])
        // Programs reach it only through tail calls.
        #expect(programLookup(programs, key: mapBytes(UInt32(2))) == nil)
        #expect(programs.lookup(key: mapBytes(UInt32(2))) == nil)
        #expect(programs.regions.isEmpty)
        #expect(throws: MapError.self) { try programs.setProgram(slot: 4, handle: handle) }
        #expect(throws: MapError.self) { try programs.update(key: mapBytes(UInt32(0)), value: mapBytes(UInt32(3))) }
        try programs.delete(key: mapBytes(UInt32(2)))
        #expect(programs.program(slot: 2) == nil)
        #expect(throws: MapError.operationFailed(map: "jumps", operation: "delete", errno: MapErrno.noEntry)) {
            try programs.delete(key: mapBytes(UInt32(2)))
        }
    }

    @Test func perfEventOutputWritesRecordsOnlyToAttachedSlotsOfTheCurrentCPU() throws {
        // max_entries 0 means one slot per possible CPU, as libbpf creates the map.
        let events = try BPFMap(
            spec: MapSpec(name: "events", type: .perfEventArray, keySize: 4, valueSize: 4, maxEntries: 0),
            possibleCPUs: 2)
        #expect(events.spec.maxEntries == 2)
        #expect(events.regions.isEmpty)
        var frame: [UInt8] = [0xde, 0xad, 0xbe, 0xef, 0x01]
        let meta: [UInt8] = [1, 2, 3]
        try frame.withUnsafeMutableBytes { packet in
            var caller = HelperCaller()
            caller.environment.data = packet.baseAddress
            caller.environment.dataEnd = packet.baseAddress! + 5
            caller.environment.processorID = 1
            let currentCPU: UInt64 = 0xffff_ffff
            func output(_ flags: UInt64) -> Int64 {
                meta.withUnsafeBytes {
                    Int64(
                        bitPattern: caller.call(
                            MapHelpers.perfEventOutput, 0, address(events), flags, address($0.baseAddress!), 3))
                }
            }
            // Nobody listens: -ENOENT, as in BPF_PROG_TEST_RUN.
            #expect(output(currentCPU) == -2)
            try events.update(key: mapBytes(UInt32(1)), value: mapBytes(UInt32(42)))
            try events.update(key: mapBytes(UInt32(0)), value: mapBytes(UInt32(41)))
            #expect(output(currentCPU | 4 << 32) == 0)
            #expect(output(1) == 0)
            #expect(output(0) == -95)
            #expect(output(2) == -7)
            #expect(output(currentCPU | 6 << 32) == -14)
            #expect(output(1 << 60) == -22)
            #expect(events.drainRecords() == [meta + [0xde, 0xad, 0xbe, 0xef], meta])
            #expect(events.drainRecords() == [])
            #expect(throws: MapError.self) {
                try events.update(key: mapBytes(UInt32(0)), value: mapBytes(UInt32(1)), flags: 1)
            }
            try events.delete(key: mapBytes(UInt32(1)))
            #expect(output(currentCPU) == -2)
            #expect(events.entries() == [MapEntry(key: mapBytes(UInt32(0)), values: [mapBytes(UInt32(41))])])
        }
    }
}
