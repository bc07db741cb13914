import EmberIR

/// The sliding-window attributes shared by convolution and pooling (`kernel_shape`, `strides`,
/// `dilations`, `pads`, `auto_pad`, and the pools' `ceil_mode`), read and checked once when the
/// op is made. Backends read these typed values and resolve them with ``geometry(input:kernel:op:)``
/// rather than re-reading the attributes, so every backend pads and sizes a window alike.
///
///     let conv = try Conv(attributes: Attributes(op: Conv.name, [("strides", .ints([2, 2])), ("auto_pad", .string("SAME_UPPER"))]))
///     let g = try conv.window.geometry(input: [7, 7], kernel: [3, 3], op: Conv.name)  // g.output == [4, 4]
public struct WindowAttributes: Equatable, Sendable {
    /// ONNX's `auto_pad`: the explicit `pads` (`notSet`), no padding (`valid`), or pads that
    /// give `ceil(input / stride)` outputs with the odd pad at the end (`sameUpper`) or the
    /// beginning (`sameLower`).
    public enum AutoPad: String, Sendable { case notSet = "NOTSET", sameUpper = "SAME_UPPER", sameLower = "SAME_LOWER", valid = "VALID" }

    public var autoPad: AutoPad
    /// Empty where the attribute is absent: taken from the weights (convolutions).
    public var kernelShape: [Int]
    /// Empty where the attribute is absent: 1 on every spatial axis.
    public var strides: [Int]
    /// Empty where the attribute is absent: 1 on every spatial axis.
    public var dilations: [Int]
    /// Begin pads for every spatial axis, then end pads; empty for none. Read only under
    /// `autoPad == .notSet`.
    public var pads: [Int]
    /// Whether a pool's output sizes round up, adding a last window that starts inside the
    /// input or its begin padding; always false for convolutions, which have no `ceil_mode`.
    public var ceilMode: Bool

    init(_ attributes: Attributes, op: String) throws {
        let text = try attributes.string("auto_pad", default: "NOTSET")
        guard let autoPad = AutoPad(rawValue: text) else {
            throw EmberError.op(op, "attribute 'auto_pad' expected NOTSET, SAME_UPPER, SAME_LOWER or VALID, received '\(text)'")
        }
        self.autoPad = autoPad
        kernelShape = try attributes.ints("kernel_shape") ?? []
        strides = try attributes.ints("strides") ?? []
        dilations = try attributes.ints("dilations") ?? []
        pads = try attributes.ints("pads") ?? []
        // Convolutions refuse `ceil_mode` in their `expectOnly`, so theirs is always false.
        ceilMode = try attributes.bool("ceil_mode", default: false)
        if kernelShape.contains(where: { $0 < 1 }) {
            throw EmberError.op(op, "attribute 'kernel_shape' expected positive sizes, received \(kernelShape)")
        }
        if strides.contains(where: { $0 < 1 }) {
            throw EmberError.op(op, "attribute 'strides' expected positive values, received \(strides)")
        }
        if dilations.contains(where: { $0 < 1 }) {
            throw EmberError.op(op, "attribute 'dilations' expected positive values, received \(dilations)")
        }
        if pads.contains(where: { $0 < 0 }) || pads.count % 2 != 0 {
            throw EmberError.op(op, "attribute 'pads' expected an even count of values >= 0, received \(pads)")
        }
    }

    /// Every attribute but `ceil_mode` (which only the pools print); an empty list stands for the default.
    var entries: [(String, Attribute)] {
        [
            ("auto_pad", .string(autoPad.rawValue)), ("kernel_shape", .ints(kernelShape)), ("strides", .ints(strides)),
            ("dilations", .ints(dilations)), ("pads", .ints(pads)),
        ]
    }

    /// The same window with `count` spatial axes of size one put in front: kernel 1, stride 1,
    /// dilation 1, no padding. A 1-D window over `L` so reads a `[1, L]` image the same way.
    public func prependingUnitAxes(_ count: Int) -> WindowAttributes {
        var window = self
        let ones = Array(repeating: 1, count: count), zeros = Array(repeating: 0, count: count)
        if !kernelShape.isEmpty { window.kernelShape = ones + kernelShape }
        if !strides.isEmpty { window.strides = ones + strides }
        if !dilations.isEmpty { window.dilations = ones + dilations }
        if !pads.isEmpty {
            let half = pads.count / 2
            window.pads = zeros + pads.prefix(half) + zeros + pads.suffix(half)
        }
        return window
    }

    /// The strides of `n` spatial axes, defaults filled in (without checking the count).
    public func strides(_ n: Int) -> [Int] { strides.isEmpty ? Array(repeating: 1, count: n) : strides }

    /// The dilations of `n` spatial axes, defaults filled in (without checking the count).
    public func dilations(_ n: Int) -> [Int] { dilations.isEmpty ? Array(repeating: 1, count: n) : dilations }

    /// The window over spatial input sizes `input` with a kernel of sizes `kernel` (a
    /// convolution's from W, a pool's `kernelShape`): output sizes, and the pads that `auto_pad`
    /// resolves to, following ONNX (and `ceilMode`). `op` names the op in errors, which say
    /// which attribute does not fit the input.
    public func geometry(input: [Int], kernel: [Int], op: String) throws -> WindowGeometry {
        let n = input.count
        guard kernel.count == n else {
            throw EmberError(.shapeMismatch, "[\(op)] a kernel of \(kernel.count) sizes \(kernel) for \(n) spatial axes")
        }
        let strides = try check(self.strides, n, "strides", op) ?? Array(repeating: 1, count: n)
        let dilations = try check(self.dilations, n, "dilations", op) ?? Array(repeating: 1, count: n)
        var begin = Array(repeating: 0, count: n)
        var end = Array(repeating: 0, count: n)
        var output = Array(repeating: 0, count: n)
        if !pads.isEmpty, autoPad == .notSet {
            guard pads.count == 2 * n else {
                throw EmberError.op(op, "attribute 'pads' expected \(2 * n) values, received \(pads)")
            }
            begin = Array(pads.prefix(n))
            end = Array(pads.suffix(n))
        }
        for i in 0..<n {
            let span = (kernel[i] - 1) * dilations[i] + 1
            switch autoPad {
            case .notSet, .valid:
                let room = input[i] + begin[i] + end[i] - span
                guard room >= 0 else {
                    throw EmberError(.shapeMismatch, "[\(op)] window of \(span) is larger than the padded input of \(input[i] + begin[i] + end[i]) on spatial axis \(i)")
                }
                if ceilMode {
                    var size = (room + strides[i] - 1) / strides[i] + 1
                    // The last window must start inside the input or its begin padding.
                    if (size - 1) * strides[i] >= input[i] + begin[i] { size -= 1 }
                    output[i] = size
                } else {
                    output[i] = room / strides[i] + 1
                }
            case .sameUpper, .sameLower:
                output[i] = (input[i] + strides[i] - 1) / strides[i]
                let total = max(0, (output[i] - 1) * strides[i] + span - input[i])
                begin[i] = autoPad == .sameUpper ? total / 2 : total - total / 2
                end[i] = total - begin[i]
            }
        }
        return WindowGeometry(input: input, kernel: kernel, output: output, strides: strides, dilations: dilations, padBegin: begin, padEnd: end)
    }

    /// Output sizes for symbolic input dims: known where the input dim is known.
    func outputDims(input: [Dim], kernel: [Int], op: String) throws -> [Dim] {
        let known = input.map { $0.value ?? 1_000_003 }
        let n = input.count
        // Validate the attribute counts even when no dim is known.
        _ = try check(strides, n, "strides", op)
        _ = try check(dilations, n, "dilations", op)
        guard input.allSatisfy({ $0.value != nil }) else {
            var dims = [Dim](repeating: .unknown, count: n)
            if let g = try? geometry(input: known, kernel: kernel, op: op) {
                for i in 0..<n where input[i].value != nil { dims[i] = .known(g.output[i]) }
            }
            return dims
        }
        return try geometry(input: known, kernel: kernel, op: op).output.map { .known($0) }
    }

    private func check(_ values: [Int], _ n: Int, _ name: String, _ op: String) throws -> [Int]? {
        if values.isEmpty { return nil }
        guard values.count == n else {
            throw EmberError.op(op, "attribute '\(name)' expected \(n) values, received \(values)")
        }
        return values
    }
}

/// A resolved sliding window: sizes, strides, dilations and pads of every spatial axis, with
/// every default filled in. Output position `o` of axis `i` reads input coordinates
/// `o * strides[i] - padBegin[i] + k * dilations[i]` for kernel taps `k` (for a transposed
/// convolution, input position `o` writes those output coordinates).
public struct WindowGeometry: Equatable, Sendable {
    public var input: [Int]
    public var kernel: [Int]
    public var output: [Int]
    public var strides: [Int]
    public var dilations: [Int]
    public var padBegin: [Int]
    public var padEnd: [Int]

    public init(input: [Int], kernel: [Int], output: [Int], strides: [Int], dilations: [Int], padBegin: [Int], padEnd: [Int]) {
        (self.input, self.kernel, self.output) = (input, kernel, output)
        (self.strides, self.dilations, self.padBegin, self.padEnd) = (strides, dilations, padBegin, padEnd)
    }

    public var inputCount: Int { input.reduce(1, *) }
    public var kernelCount: Int { kernel.reduce(1, *) }
    public var outputCount: Int { output.reduce(1, *) }

    /// Per spatial axis, per kernel tap, per output position: the input coordinate it reads,
    /// or -1 when that lands in the padding. Laid out `[tap][position]`.
    func taps(axis i: Int) -> [Int] {
        var out = [Int](repeating: -1, count: kernel[i] * output[i])
        for k in 0..<kernel[i] {
            for o in 0..<output[i] {
                let q = o * strides[i] - padBegin[i] + k * dilations[i]
                if q >= 0, q < input[i] { out[k * output[i] + o] = q }
            }
        }
        return out
    }
}

/// Reads the spatial sizes of `[N, C, spatial...]` inputs for the window ops.
enum WindowInput {
    static func spatial(_ shape: [Int], op: String, input: String = "X") throws -> [Int] {
        guard shape.count >= 3 else {
            throw EmberError(.shapeMismatch, "[\(op)] \(input) has rank \(shape.count), expected [N, C, spatial...] of rank 3 or more")
        }
        return Array(shape.dropFirst(2))
    }
}
