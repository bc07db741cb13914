import EmberIR
import EmberOps

/// A window resolved for oneDNN: ONNX's output sizes and pads, with the end padding oneDNN
/// needs to produce that output.
struct OneDNNWindow: Sendable {
    var output: [Int]
    var begin: [Int]
    var end: [Int]
    /// Per spatial axis, whether `end` exceeds the window's own end pad (ceil_mode's last
    /// window passing the padding).
    var padded: [Bool]
    var strides: [Int]
    /// As oneDNN counts them: 0 for none.
    var dilations: [Int]

    /// A convolution's or pool's window over `input` spatial sizes with a kernel of `kernel`,
    /// resolved by the op's own geometry. oneDNN sizes the output from the end padding, which
    /// with ceil_mode may need to exceed the attribute's.
    init(_ window: WindowAttributes, input: [Int], kernel: [Int], op: String) throws {
        let g = try Self.unsupported { try window.geometry(input: input, kernel: kernel, op: op) }
        (output, begin, end, strides) = (g.output, g.padBegin, g.padEnd, g.strides)
        dilations = g.dilations.map { $0 - 1 }
        padded = Array(repeating: false, count: input.count)
        for i in input.indices {
            let span = (kernel[i] - 1) * g.dilations[i] + 1
            let needed = (output[i] - 1) * strides[i] + span - input[i] - begin[i]
            if needed > end[i] {
                end[i] = needed
                padded[i] = true
            }
        }
    }

    /// A transposed convolution's output sizes and pads, resolved by the op's own geometry:
    /// `out = stride * (in - 1) + output_padding + (kernel - 1) * dilation + 1 - pad_begin - pad_end`.
    /// oneDNN takes the output padding off the end padding.
    init(_ transposed: ConvTranspose, input: [Int], kernel: [Int]) throws {
        let g = try Self.unsupported { try transposed.geometry(input: input, kernel: kernel) }
        guard g.output.allSatisfy({ $0 > 0 }) else { throw EmberError(.unsupported, "pads leave no output") }
        let extra = transposed.outputPadding.isEmpty ? Array(repeating: 0, count: input.count) : transposed.outputPadding
        (output, begin, strides) = (g.output, g.padBegin, g.strides)
        end = zip(g.padEnd, extra).map { $0 - $1 }
        dilations = g.dilations.map { $0 - 1 }
        padded = Array(repeating: false, count: input.count)
    }

    /// The op's error about a window that does not fit, as one oneDNN does not run.
    private static func unsupported(_ body: () throws -> WindowGeometry) throws -> WindowGeometry {
        do {
            return try body()
        } catch let error as EmberError {
            throw EmberError(.unsupported, error.message)
        }
    }
}
