import EmberDNNL
import EmberIR
import EmberOps

/// One oneDNN eltwise operation: `algorithm` with its `alpha` and `beta` parameters.
struct Eltwise: Sendable {
    var algorithm: dnnl_alg_kind_t
    var alpha: Float = 0
    var beta: Float = 0

    /// The eltwise operations that compute the unary `op` (reading its first operand), or why
    /// there are none. `others` are the op's operands after the first (clip's bounds, pow's
    /// exponent).
    static func of(_ op: any Operator, others: [Operand]) -> Result<[Eltwise], EmberError> {
        func one(_ a: dnnl_alg_kind_t, _ alpha: Double = 0, _ beta: Double = 0) -> Result<[Eltwise], EmberError> {
            .success([Eltwise(algorithm: a, alpha: Float(alpha), beta: Float(beta))])
        }
        switch op {
        case is Relu: return one(dnnl_eltwise_relu)
        case let op as LeakyRelu: return one(dnnl_eltwise_relu, op.alpha)
        case let op as Elu: return one(dnnl_eltwise_elu, op.alpha)
        case is Sigmoid: return one(dnnl_eltwise_logistic)
        case is Tanh: return one(dnnl_eltwise_tanh)
        case let op as Gelu: return one(op.approximate == .tanh ? dnnl_eltwise_gelu_tanh : dnnl_eltwise_gelu_erf)
        case is Silu: return one(dnnl_eltwise_swish, 1)
        case let op as Swish: return one(dnnl_eltwise_swish, op.alpha)
        case is HardSwish: return one(dnnl_eltwise_hardswish)
        case let op as HardSigmoid:
            return .success([
                Eltwise(algorithm: dnnl_eltwise_linear, alpha: Float(op.alpha), beta: Float(op.beta)),
                Eltwise(algorithm: dnnl_eltwise_clip, alpha: 0, beta: 1),
            ])
        case is Exp: return one(dnnl_eltwise_exp)
        case is Log: return one(dnnl_eltwise_log)
        case is Abs: return one(dnnl_eltwise_abs)
        case is Sqrt: return one(dnnl_eltwise_sqrt)
        case is Neg: return one(dnnl_eltwise_linear, -1, 0)
        case is Mish: return one(dnnl_eltwise_mish)
        case is Clip:
            var bounds = [-Double(Float.greatestFiniteMagnitude), Double(Float.greatestFiniteMagnitude)]
            for (i, operand) in others.prefix(2).enumerated() {
                switch operand {
                case .absent: continue
                case .computed: return .failure(EmberError(.unsupported, "clip with a bound that is not a constant"))
                case .constant(let bound):
                    guard bound.count == 1 else { return .failure(EmberError(.unsupported, "clip bound of shape \(bound.shape), expected a scalar")) }
                    bounds[i] = bound.doubles()[0]
                }
            }
            return one(dnnl_eltwise_clip, bounds[0], bounds[1])
        case is Pow:
            guard case .constant(let exponent)? = others.first, exponent.count == 1 else {
                return .failure(EmberError(.unsupported, "pow with an exponent that is not a constant scalar"))
            }
            let p = exponent.doubles()[0]
            return p == 2 ? one(dnnl_eltwise_square) : one(dnnl_eltwise_pow, 1, p)
        case is Softplus:
            // oneDNN 2.6's soft_relu cancels catastrophically for negative inputs.
            return .failure(EmberError(.unsupported, "softplus: oneDNN's soft_relu is inaccurate below 0"))
        default:
            return .failure(EmberError(.unsupported, "\(op.name) has no oneDNN eltwise form"))
        }
    }
}


/// An operand of a node or fused step as a kernel builder sees it.
enum Operand {
    /// An optional input left out.
    case absent
    /// A graph constant.
    case constant(Tensor)
    /// A value computed at run time, of this type.
    case computed(TensorType?)
}
