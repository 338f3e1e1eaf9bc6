import BPFVM

extension LoadedProgram {
    /// Every map's contents in the shape the kernel runner reports, in the object's order.
    public func mapSnapshots() -> [MapSnapshot] {
        maps.map { map in
            MapSnapshot(
                name: map.spec.name, type: map.spec.type.rawValue, keySize: map.spec.keySize,
                valueSize: map.spec.valueSize,
                entries: map.entries().map { MapSnapshot.Entry(key: $0.key, values: $0.values) })
        }
    }
}
