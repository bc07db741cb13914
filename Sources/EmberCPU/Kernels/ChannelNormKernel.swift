import EmberIR
import EmberOps

/// `batch_norm` (inference), `instance_norm` and `group_norm` on f32 `[N, C, ...]`: every channel
/// of every image becomes `y = x * a + b` over its spatial positions, with `a` and `b` from the
/// per-channel parameters and, for instance and group norm, the group's mean and deviation
/// (computed with two vector passes over the group's contiguous channels).
struct ChannelNormKernel: CPUKernel {
    enum Kind {
        case batch
        /// Normalized over groups of channels; instance norm has one channel per group.
        case groups(Int?)
    }

    let node: KernelNode
    let kind: Kind
    let epsilon: Float

    init(_ node: KernelNode) throws {
        switch node.op {
        case let op as BatchNorm: (kind, epsilon) = (.batch, Float(op.epsilon))
        case let op as InstanceNorm: (kind, epsilon) = (.groups(nil), Float(op.epsilon))
        case let op as GroupNorm: (kind, epsilon) = (.groups(op.numGroups), Float(op.epsilon))
        default: throw EmberError.op(node.op.name, "not a channel normalization", code: .unsupported)
        }
        guard node.outputTypes.count == 1 else {
            throw EmberError.op(node.op.name, "expected one output", code: .unsupported)
        }
        for case let (i, type?) in node.inputTypes.enumerated() where type.dtype != .f32 {
            throw EmberError.op(node.op.name, "input \(i) has dtype \(type.dtype), expected f32", code: .unsupported)
        }
        self.node = node
    }

    func run(_ inputs: [TensorView?], _ outputs: [TensorView], _ context: KernelContext) throws {
        let x = try inputs.required(0, node.op.name)
        guard x.shape.count >= 2, let y = outputs.first else {
            throw node.error(.shapeMismatch, "input has shape \(x.shape), expected rank 2 or more")
        }
        try y.expect(shape: x.shape, dtype: .f32, node)
        let (images, channels) = (x.shape[0], x.shape[1])
        let spatial = x.shape[2...].reduce(1, *)
        let parameters = try (1..<inputs.count).map { i -> UnsafeMutablePointer<Float> in
            let p = try inputs.required(i, node.op.name)
            guard p.dtype == .f32, p.shape == [channels] else {
                throw node.error(.shapeMismatch, "input \(i) is \(p.dtype)\(p.shape), expected f32[\(channels)]")
            }
            return p.floats
        }
        guard x.count > 0 else { return }
        let groups: Int
        switch kind {
        case .batch: groups = 0
        case .groups(let g): groups = g ?? channels
        }
        guard groups == 0 || channels % groups == 0 else {
            throw node.error(.shapeMismatch, "\(channels) channels do not split into \(groups) groups")
        }
        let shared = Shared((x.floats, y.floats, parameters))
        let epsilon = self.epsilon
        let units = groups == 0 ? images * channels : images * groups
        let perUnit = groups == 0 ? 1 : channels / groups
        let chunks = chunkCount(units, itemCost: perUnit * spatial * 3)
        Parallel.forEach(chunks) { range in
            let (x, y, p) = shared.value
            for chunk in range {
                for unit in (units * chunk / chunks)..<(units * (chunk + 1) / chunks) {
                    let base = unit * perUnit * spatial
                    if groups == 0 {
                        // scale, bias, mean, var
                        let c = unit % channels
                        let a = p[0][c] / (p[3][c] + epsilon).squareRoot()
                        RowMath.scale(x + base, y + base, spatial, a, p[1][c] - p[2][c] * a)
                        continue
                    }
                    let n = perUnit * spatial
                    let mean = RowMath.sum(x + base, n) / Float(n)
                    let rstd = 1 / (RowMath.squaredDeviation(x + base, n, from: mean) / Float(n) + epsilon).squareRoot()
                    let first = (unit % groups) * perUnit
                    for k in 0..<perUnit {
                        let a = rstd * p[0][first + k]
                        let offset = base + k * spatial
                        RowMath.scale(x + offset, y + offset, spatial, a, p[1][first + k] - mean * a)
                    }
                }
            }
        }
    }
}
