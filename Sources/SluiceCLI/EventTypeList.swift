import BPFObject
import BPFVM

/// `--event-type MAP=TYPE[,TYPE…]`: the record types of a ring buffer or perf-event array, checked against the object.
enum EventTypeList {
    struct Problem: Error, CustomStringConvertible {
        var description: String
    }

    /// `MAP=TYPE[,TYPE…]` split; nil if malformed.
    static func parse(_ text: String) -> (map: String, types: [String])? {
        guard let equals = text.firstIndex(of: "=") else { return nil }
        let map = String(text[..<equals])
        let types = text[text.index(after: equals)...].split(separator: ",", omittingEmptySubsequences: false)
            .map { String($0.hasPrefix("struct ") ? $0.dropFirst(7) : $0.hasPrefix("union ") ? $0.dropFirst(6) : $0) }
        guard !map.isEmpty, !types.isEmpty, types.allSatisfy({ !$0.isEmpty }) else { return nil }
        return (map, types)
    }

    static func types(_ options: [String], in object: BPFObjectFile) throws(Problem) -> [String: [BTFType]] {
        var result: [String: [BTFType]] = [:]
        for text in options {
            guard let (mapName, names) = parse(text) else {
                throw Problem(description: "--event-type \(text): not MAP=TYPE[,TYPE…]")
            }
            guard let map = object.maps.first(where: { $0.name == mapName }) else {
                throw Problem(
                    description: "--event-type \(text): the program has no map \(mapName) "
                        + "(maps: \(object.maps.map(\.name).joined(separator: ", ")))")
            }
            guard map.type == .ringbuf || map.type == .perfEventArray else {
                throw Problem(
                    description: "--event-type \(text): map \(mapName) is a \(map.type) map; records come from ring "
                        + "buffers and perf-event arrays")
            }
            for name in names {
                guard let type = object.namedTypes[name] else {
                    let known = object.namedTypes.keys.sorted().joined(separator: ", ")
                    throw Problem(
                        description: "--event-type \(text): the object's BTF has no struct, union or typedef \(name) "
                            + "(it has: \(known.isEmpty ? "none" : known)); clang emits no BTF for a type used only "
                            + "inside functions: declare a global such as `struct \(name) *\(name)_btf __attribute__((unused));`"
                    )
                }
                result[mapName, default: []].append(type)
            }
        }
        return result
    }
}
