import BPFVM

/// The text of `replay --trace`: one packet's executed instructions, as lines for people or as JSON lines.
public enum TraceReport {
    public enum Style: String, Sendable, CaseIterable {
        case text, json
    }

    /// Lines for one traced packet: a header, every step, and the verdict with the final registers.
    public static func lines(
        packet: Int, steps: [ExecutionRecorder.Step], instructionCount: UInt64, returnValue: UInt64,
        fault: ExecutionFault?, registers: [UInt64], style: Style
    ) -> [String] {
        switch style {
        case .text: return text(packet, steps, instructionCount, returnValue, fault, registers)
        case .json: return json(packet, steps, instructionCount, returnValue, fault, registers)
        }
    }

    static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

    private static func text(
        _ packet: Int, _ steps: [ExecutionRecorder.Step], _ count: UInt64, _ ret: UInt64, _ fault: ExecutionFault?,
        _ registers: [UInt64]
    ) -> [String] {
        var lines = ["packet \(packet): \(count) instructions"]
        var lastLine: SourceLocation? = nil
        for step in steps {
            if let location = step.location, location.line > 0,
                location.line != lastLine?.line || location.file != lastLine?.file
            {
                let source = location.text.map { "  " + $0.trimmingLeadingSpaces } ?? ""
                lines.append("  ; \(location.file):\(location.line)\(source)")
                lastLine = location
            }
            let indent = String(repeating: "  ", count: step.depth)
            let number = String(step.index)
            var line = "  " + indent + String(repeating: " ", count: max(0, 4 - number.count)) + number + ": "
                + step.text
            var effects: [String] = []
            if let call = step.call {
                let args = call.arguments.enumerated().map { "r\($0.offset + 1)=\(hex($0.element))" }
                effects.append("\(call.name)(\(args.joined(separator: ", "))) = \(hex(call.result))")
            }
            if let memory = step.memory {
                let place = memory.contextOffset.map { "ctx+\($0)" } ?? hex(memory.address)
                effects.append("\(memory.isWrite ? "write" : "read") \(memory.size) at \(place): \(hex(memory.value))")
            }
            if let taken = step.branchTaken { effects.append(taken ? "taken" : "not taken") }
            let changed = step.changed.map { "r\($0.register)=\(hex($0.value))" }
            if !changed.isEmpty && step.call == nil { effects.append(changed.joined(separator: " ")) }
            if !effects.isEmpty {
                line += String(repeating: " ", count: max(1, 44 - line.count)) + "; " + effects.joined(separator: "; ")
            }
            lines.append(line)
        }
        if let fault {
            lines.append("  fault: \(fault) -> aborted")
        } else {
            let action = XDPAction(returnValue: ret)
            lines.append("  verdict: \(action) (\(UInt32(truncatingIfNeeded: ret)))")
        }
        lines.append("  registers: " + registers.enumerated().map { "r\($0.offset)=\(hex($0.element))" }.joined(separator: " "))
        return lines
    }

    private static func json(
        _ packet: Int, _ steps: [ExecutionRecorder.Step], _ count: UInt64, _ ret: UInt64, _ fault: ExecutionFault?,
        _ registers: [UInt64]
    ) -> [String] {
        var lines: [String] = []
        for (number, step) in steps.enumerated() {
            var fields = [
                "\"packet\":\(packet)", "\"step\":\(number)", "\"prog\":\(JSONText.string(step.program))",
                "\"pc\":\(step.index)", "\"depth\":\(step.depth)", "\"insn\":\(JSONText.string(step.text))",
            ]
            if let location = step.location, location.line > 0 {
                fields.append("\"line\":\(JSONText.string("\(location.file):\(location.line)"))")
            }
            if !step.changed.isEmpty {
                fields.append(
                    "\"set\":{" + step.changed.map { "\"r\($0.register)\":\"\(hex($0.value))\"" }.joined(separator: ",")
                        + "}")
            }
            if let memory = step.memory {
                let place = memory.contextOffset.map { "ctx+\($0)" } ?? hex(memory.address)
                fields.append(
                    "\"\(memory.isWrite ? "write" : "read")\":{\"addr\":\"\(place)\",\"size\":\(memory.size),\"value\":\"\(hex(memory.value))\"}"
                )
            }
            if let call = step.call {
                fields.append(
                    "\"call\":{\"name\":\(JSONText.string(call.name)),\"args\":["
                        + call.arguments.map { "\"\(hex($0))\"" }.joined(separator: ",") + "],\"ret\":\"\(hex(call.result))\"}")
            }
            if let taken = step.branchTaken { fields.append("\"taken\":\(taken)") }
            lines.append("{" + fields.joined(separator: ",") + "}")
        }
        var end = ["\"packet\":\(packet)", "\"instructions\":\(count)"]
        if let fault {
            end.append("\"fault\":\(JSONText.string("\(fault)"))")
            end.append("\"verdict\":\"aborted\"")
        } else {
            end.append("\"ret\":\(UInt32(truncatingIfNeeded: ret))")
            end.append("\"verdict\":\"\(XDPAction(returnValue: ret))\"")
        }
        end.append("\"registers\":[" + registers.map { "\"\(hex($0))\"" }.joined(separator: ",") + "]")
        lines.append("{" + end.joined(separator: ",") + "}")
        return lines
    }
}

/// JSON text pieces for reports built as strings (not the per-packet results writer).
enum JSONText {
    static func string(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 {
                    out += "\\u00" + (scalar.value < 16 ? "0" : "") + String(scalar.value, radix: 16)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

extension String {
    var trimmingLeadingSpaces: String { String(drop { $0 == " " || $0 == "\t" }) }
}
