import EmberIR
import EmberOps

extension CUDAKernelPlan {
    /// A 2-D convolution through cuDNN on channels-last tensors, and what follows it: cuDNN fuses
    /// the longest start of the epilogue it can (bias, residual add, relu, in that order); a
    /// generated kernel runs the rest in place on the output.
    struct ConvPlan {
        var shape: CUDAConvShape
        var dtype: DType
        /// Present-input positions of X and W.
        var x: Int, w: Int
        /// The channel vector and the full-size tensor cuDNN adds, and whether it applies relu.
        var bias: Int?, residual: Int?
        var relu: Bool
        /// The steps after the fused ones; nil when cuDNN runs them all.
        var rest: Epilogue?
        /// Every epilogue step as one generated kernel, for when no cuDNN engine fuses them.
        var unfused: Epilogue?

        var epilogue: CUDAConvEpilogue { CUDAConvEpilogue(bias: bias != nil, residual: residual != nil, relu: relu) }
    }

    /// Whether cuDNN runs `op` as a convolution: then every 4-D tensor it reads or writes is
    /// channels-last.
    static func isConvolution(_ op: any Operator) -> Bool {
        op is Conv || (op as? FusedEpilogue)?.anchor is Conv
    }

    static func conv(_ node: CUDANode, multiprocessors: Int) -> Result<CUDAKernelPlan, EmberError> {
        // The node as steps: a plain conv is a one-step body; the conv's own bias becomes an add
        // step after it, so every bias is found by the same scan below.
        var steps: [FusedBody.Step]
        if let fused = node.op as? FusedEpilogue {
            guard node.inputs.allSatisfy({ $0 != nil }) else { return .failure(EmberError(.unsupported, "fused_epilogue has an absent input")) }
            steps = fused.body.steps
        } else {
            var next = 0
            steps = [FusedBody.Step(op: node.op, operands: node.inputs.map { input in
                guard input != nil else { return nil }
                defer { next += 1 }
                return .input(next)
            })]
        }
        let present = node.inputs.compactMap { $0 }
        let anchor = steps[0]
        guard let conv = anchor.op as? Conv, anchor.operands.count >= 2, case .input(let xi)? = anchor.operands[0],
            case .input(let wi)? = anchor.operands[1], present.indices.contains(xi), present.indices.contains(wi)
        else {
            return .failure(EmberError(.unsupported, "expected conv(X, W, B?) reading the node's inputs"))
        }
        // The conv's own bias B [K] is a channel vector, unlike a [K] a later add broadcasts over W.
        var ownBias: Int?
        if anchor.operands.count > 2, let b = anchor.operands[2] {
            guard case .input(let i) = b else { return .failure(EmberError(.unsupported, "the conv's bias must be a node input")) }
            ownBias = i
            let shifted = steps.dropFirst().map { step in
                FusedBody.Step(op: step.op, operands: step.operands.map { operand in
                    if case .step(let j)? = operand { return .step(j + 1) }
                    return operand
                })
            }
            steps = [FusedBody.Step(op: anchor.op, operands: Array(anchor.operands.prefix(2))),
                     FusedBody.Step(op: Add(), operands: [.step(0), b])] + shifted
        }

        let x = present[xi], w = present[wi]
        guard x.shape.count == 4, w.shape.count == 4 else {
            return .failure(EmberError(.unsupported, "only 2-D convolutions run on cuDNN; X has rank \(x.shape.count)"))
        }
        guard x.dtype == w.dtype, [.f32, .f16, .bf16].contains(x.dtype) else {
            return .failure(EmberError(.unsupported, "convolutions of \(x.dtype) and \(w.dtype) are not supported; expected f32, f16 or bf16"))
        }
        guard let output = node.outputs.first, node.outputs.count == 1 else { return .failure(EmberError(.unsupported, "expected one output")) }
        for (t, what) in [(x, "X"), (w, "W"), (output, "the output")] where t.layout != .channelsLast {
            return .failure(EmberError(.unsupported, "\(what) is \(t.layout.rawValue); cuDNN convolutions take channels-last tensors"))
        }
        let shape: CUDAConvShape
        switch geometry(conv, x: x.shape, w: w.shape) {
        case .success(let s): shape = s
        case .failure(let why): return .failure(why)
        }
        if let why = shape.invalid { return .failure(EmberError(.unsupported, why)) }
        guard output.shape == shape.result, output.dtype == x.dtype else {
            return .failure(EmberError(.unsupported, "the output \(output) is not the convolution's \(x.dtype)\(shape.result)"))
        }

        // The steps cuDNN fuses: each reads the one before, which nothing later reads.
        var bias: Int?, residual: Int?, relu = false
        var last = 0
        scan: for (k, step) in steps.enumerated().dropFirst() {
            let readsLast = step.operands.contains(.step(last))
            let onlyHere = !steps[(k + 1)...].contains { $0.operands.contains(.step(last)) }
            guard readsLast, onlyHere else { break }
            if step.op is Add, step.operands.count == 2, !relu {
                guard let other = step.operands.first(where: { $0 != .step(last) }), case .input(let i)? = other,
                    present.indices.contains(i), present[i].dtype == x.dtype
                else { break scan }
                let t = present[i]
                let padded = Array(repeating: 1, count: max(0, 4 - t.shape.count)) + t.shape
                let channelVector = i == ownBias || padded == [1, shape.outChannels, 1, 1]
                if bias == nil, residual == nil, channelVector {
                    bias = i
                } else if residual == nil, t.shape == shape.result, t.layout == .channelsLast {
                    residual = i
                } else {
                    break scan
                }
            } else if step.op is Relu, !relu {
                relu = true
            } else {
                break
            }
            last = k
        }
        let rest: Epilogue?
        let unfused: Epilogue?
        switch (tail(steps, from: last + 1, node, ownBias, multiprocessors), tail(steps, from: 1, node, ownBias, multiprocessors)) {
        case (.success(let r), .success(let u)): (rest, unfused) = (r, u)
        case (.failure(let why), _), (_, .failure(let why)): return .failure(why)
        }
        return .success(.conv(ConvPlan(
            shape: shape, dtype: x.dtype, x: xi, w: wi, bias: bias, residual: residual, relu: relu, rest: rest,
            unfused: unfused)))
    }

    /// The convolution's sizes from its window and group (resolved by the op's own geometry)
    /// and the shapes of X and W.
    static func geometry(_ conv: Conv, x: [Int], w: [Int]) -> Result<CUDAConvShape, EmberError> {
        let window = conv.window
        let kernel = Array(w.dropFirst(2))
        if !window.kernelShape.isEmpty, window.kernelShape != kernel {
            return .failure(EmberError(.unsupported, "kernel_shape \(window.kernelShape) differs from W's \(kernel)"))
        }
        guard window.strides(2).count == 2, window.dilations(2).count == 2 else {
            return .failure(EmberError(.unsupported, "expected 2 strides and dilations"))
        }
        if window.autoPad == .notSet, !window.pads.isEmpty, window.pads.count != 4 {
            return .failure(EmberError(.unsupported, "expected 4 pads, given \(window.pads)"))
        }
        do {
            let g = try window.geometry(input: Array(x.dropFirst(2)), kernel: kernel, op: Conv.name)
            return .success(CUDAConvShape(
                batch: x[0], channels: x[1], height: x[2], width: x[3], outChannels: w[0], kernel: kernel, strides: g.strides,
                dilations: g.dilations, padBegin: g.padBegin, padEnd: g.padEnd, groups: conv.group))
        } catch let error as EmberError {
            return .failure(EmberError(.unsupported, error.message))
        } catch {
            return .failure(EmberError(.unsupported, "\(error)"))
        }
    }

    /// The steps from `first` on as a generated kernel over the channels-last output, in place:
    /// input 0 is the output (holding the result of step `first - 1`), then the node inputs the
    /// steps read, viewed in the output's stored order (the conv's own bias as [K, 1, 1]). nil
    /// when there are no such steps.
    private static func tail(
        _ steps: [FusedBody.Step], from first: Int, _ node: CUDANode, _ ownBias: Int?, _ multiprocessors: Int
    ) -> Result<Epilogue?, EmberError> {
        guard first < steps.count, let output = node.outputs.first else { return .success(nil) }
        let present = node.inputs.compactMap { $0 }
        var reads: [Int] = []
        var rebuilt: [FusedBody.Step] = []
        for step in steps[first...] {
            var operands: [FusedBody.Operand?] = []
            for operand in step.operands {
                switch operand {
                case nil: operands.append(nil)
                case .step(let j)?:
                    guard j >= first - 1 else { return .failure(EmberError(.unsupported, "a step reads a result cuDNN does not keep")) }
                    operands.append(j == first - 1 ? .input(0) : .step(j - first))
                case .input(let i)?:
                    if let at = reads.firstIndex(of: i) {
                        operands.append(.input(at + 1))
                    } else {
                        reads.append(i)
                        operands.append(.input(reads.count))
                    }
                }
            }
            rebuilt.append(FusedBody.Step(op: step.op, operands: operands))
        }
        let body: FusedBody
        do {
            body = try FusedBody(rebuilt, op: FusedEpilogue.name)
        } catch {
            return .failure(EmberError(.unsupported, "\(error)"))
        }
        var types = [CUDATensorType(output.dtype, output.storedShape)]
        for i in reads {
            let view = i == ownBias ? CUDATensorType(present[i].dtype, [present[i].count, 1, 1]) : present.indices.contains(i) ? present[i] : nil
            guard let view, let stored = storedView(view) else {
                return .failure(EmberError(.unsupported, "input \(i) does not broadcast over the channels-last output"))
            }
            types.append(CUDATensorType(view.dtype, stored))
        }
        return CUDAElementwiseGenerator.generate(
            body, inputs: types, output: CUDATensorType(output.dtype, output.storedShape), multiprocessors: multiprocessors,
            inPlace: true
        ).map { Epilogue(kernel: $0, reads: reads) }
    }

    /// `t`'s dims in the order of a channels-last [N, H, W, C] output, when its buffer can be read
    /// that way: channels-last 4-D tensors, and smaller ones whose channel dim is 1 or the last
    /// one that is not (a bias [C, 1, 1], a scale [N, C, 1, 1], a scalar).
    static func storedView(_ t: CUDATensorType) -> [Int]? {
        if t.layout == .channelsLast { return t.storedShape }
        guard t.shape.count <= 4 else { return nil }
        let d = Array(repeating: 1, count: 4 - t.shape.count) + t.shape
        guard d[1] == 1 || (d[2] == 1 && d[3] == 1) else { return nil }
        return [d[0], d[2], d[3], d[1]]
    }
}
