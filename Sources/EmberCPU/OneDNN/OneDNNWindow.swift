import EmberIR

/// The sliding-window attributes of a convolution or pool, read from the op's attributes, and
/// the padding oneDNN needs for concrete input sizes.
struct Window: Sendable {
    var kernelShape: [Int]
    var strides: [Int]
    var dilations: [Int]
    var pads: [Int]
    var autoPad: String
    var ceilMode: Bool

    init(_ attributes: Attributes) throws {
        kernelShape = try attributes.ints("kernel_shape") ?? []
        strides = try attributes.ints("strides") ?? []
        dilations = try attributes.ints("dilations") ?? []
        pads = try attributes.ints("pads") ?? []
        autoPad = try attributes.string("auto_pad", default: "NOTSET")
        ceilMode = try attributes.bool("ceil_mode", default: false)
    }

    /// The output sizes and the begin and end padding for `input` spatial sizes and `kernel`,
    /// following ONNX (auto_pad, ceil_mode). The end padding is what oneDNN needs to produce the
    /// output, which with ceil_mode may exceed the attribute's.
    func resolve(input: [Int], kernel: [Int]) throws -> (output: [Int], begin: [Int], end: [Int], padded: [Bool]) {
        let n = input.count
        let strides = self.strides.isEmpty ? Array(repeating: 1, count: n) : self.strides
        let dilations = self.dilations.isEmpty ? Array(repeating: 1, count: n) : self.dilations
        guard strides.count == n, dilations.count == n, kernel.count == n else {
            throw EmberError(.unsupported, "window attributes do not match \(n) spatial dims")
        }
        var begin = Array(repeating: 0, count: n), end = begin, output = begin
        var extended = Array(repeating: false, count: n)
        if autoPad == "NOTSET", !pads.isEmpty {
            guard pads.count == 2 * n else { throw EmberError(.unsupported, "pads \(pads) for \(n) spatial dims") }
            begin = Array(pads.prefix(n))
            end = Array(pads.suffix(n))
        }
        for i in 0..<n {
            let span = (kernel[i] - 1) * dilations[i] + 1
            switch autoPad {
            case "SAME_UPPER", "SAME_LOWER":
                output[i] = (input[i] + strides[i] - 1) / strides[i]
                let total = max(0, (output[i] - 1) * strides[i] + span - input[i])
                begin[i] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2
                end[i] = total - begin[i]
            default:
                let room = input[i] + begin[i] + end[i] - span
                guard room >= 0 else { throw EmberError(.unsupported, "window of \(span) is larger than the padded input on spatial axis \(i)") }
                output[i] = room / strides[i] + 1
                if ceilMode {
                    var size = (room + strides[i] - 1) / strides[i] + 1
                    if (size - 1) * strides[i] >= input[i] + begin[i] { size -= 1 }
                    output[i] = size
                }
                let needed = (output[i] - 1) * strides[i] + span - input[i] - begin[i]
                if needed > end[i] {
                    end[i] = needed
                    extended[i] = true
                }
            }
        }
        return (output, begin, end, extended)
    }

    /// Strides for `n` spatial dims.
    func strides(_ n: Int) -> [Int] { strides.isEmpty ? Array(repeating: 1, count: n) : strides }

    /// Dilations as oneDNN counts them (0 for none).
    func oneDNNDilations(_ n: Int) -> [Int] { dilations.isEmpty ? Array(repeating: 0, count: n) : dilations.map { $0 - 1 } }
}
