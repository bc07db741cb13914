import EmberDNNL
import EmberIR
import EmberOps

/// The CPU backend's oneDNN kernels: convolutions and matrix products with their epilogues fused
/// as post-ops, pools, and the elementwise ops and batch norms found between convolutions, on
/// f32 tensors in plain or channel-blocked layouts.
///
///     let provider = OneDNNKernels()
///     if provider.support(node).isSupported { let kernel = try provider.makeKernel(node) }
public struct OneDNNKernels: CPUKernelProvider {
    public let name = "onednn"

    public init() {}

    /// What oneDNN does with a node.
    enum Kind {
        case conv(Epilogue)
        case matmul(Epilogue)
        case pool
        case eltwise([Eltwise])
        case binary
        case batchNorm(epsilon: Double)
    }

    public func support(_ node: KernelNode) -> KernelSupport {
        do {
            let kind = try Self.kind(node)
            if Self.epilogueNeedsReference(node, kind) {
                return .unsupported("oneDNN runs this epilogue's broadcast operands only with its reference kernel")
            }
            return .supported
        } catch let error as EmberError where error.code == .unsupported {
            return .unsupported(error.message)
        } catch {
            return .unsupported("\(error)")
        }
    }

    /// Whether oneDNN would run `node` with its reference kernel only because of the epilogue's
    /// broadcast operands (its matmul takes no operand broadcast over the batch dims, as a
    /// relative-position bias is), where the anchor alone gets an optimized kernel: the node is
    /// better taken apart, each op on its best kernel. Asked of primitives made for the node's
    /// shapes, a stand-in 2 for each symbolic dim, with its weights read as computed (not packed).
    private static func epilogueNeedsReference(_ node: KernelNode, _ kind: Kind) -> Bool {
        let epilogue: Epilogue
        switch kind {
        case .conv(let e), .matmul(let e): epilogue = e
        default: return false
        }
        guard epilogue.postOps.contains(where: { if case .binary = $0 { true } else { false } }) else { return false }
        var probe = node
        for case let i? in epilogue.operands { probe.constants[i] = nil }
        let shapes = node.inputTypes.map { type in type?.shape.map { dims in dims.map { $0.value ?? 2 } } }
        func runsReference(_ epilogue: Epilogue) -> Bool? {
            let builder: (any PlanBuilder)?
            switch kind {
            case .conv: builder = try? ConvBuilder(probe, epilogue)
            default: builder = try? MatMulBuilder(probe, epilogue)
            }
            return (try? builder?.plan(shapes))?.primitive.isReference
        }
        var bare = epilogue
        bare.postOps = []
        return runsReference(epilogue) == true && runsReference(bare) == false
    }

    public func preferredLayout(_ node: KernelNode, output index: Int) -> CPULayout {
        guard let block = OneDNN.channelBlock, let rank = node.outputTypes[index].rank, (3...5).contains(rank),
            let kind = try? Self.kind(node)
        else { return .plain }
        switch kind {
        case .matmul: return .plain
        // Computed parameters need oneDNN's batch normalization, which keeps one layout.
        case .batchNorm where !(1...4).allSatisfy({ node.constants[$0] != nil }): return .plain
        // Elementwise ops keep the layout they read: blocked between convolutions, plain
        // between the matrix products of a transformer's [batch, tokens, width] tensors.
        case .eltwise, .binary, .batchNorm:
            return node.inputLayouts.contains(.channelBlocked(block)) ? .channelBlocked(block) : .plain
        case .conv, .pool: return .channelBlocked(block)
        }
    }

    public func accepts(_ node: KernelNode, input index: Int, layout: CPULayout) -> Bool {
        if layout == .plain { return true }
        guard let block = OneDNN.channelBlock, layout == .channelBlocked(block),
            let rank = node.inputTypes[index]?.rank, (3...5).contains(rank), node.constants[index] == nil,
            let kind = try? Self.kind(node)
        else { return false }
        let fullShape = node.inputTypes[index]?.shape != nil && node.inputTypes[index]?.shape == node.outputTypes[0].shape
        switch kind {
        case .conv(let epilogue):
            return epilogue.operands[0] == index || (fullShape && epilogue.postOpInputs.contains(index))
        case .matmul: return false
        case .pool, .eltwise: return index == 0
        // Computed parameters need oneDNN's batch normalization, which keeps one layout.
        case .batchNorm: return index == 0 && (1...4).allSatisfy { node.constants[$0] != nil }
        case .binary: return fullShape
        }
    }

    public func inPlaceInput(_ node: KernelNode, output index: Int) -> Int? {
        guard let kind = try? Self.kind(node) else { return nil }
        switch kind {
        case .conv(let epilogue), .matmul(let epilogue):
            let sums = epilogue.postOps.compactMap { op -> Int? in if case .sum(_, let input) = op { input } else { nil } }
            // A sum of the product's own operand (`conv(x) + x`) cannot overwrite it: the product still reads it.
            return sums.count == 1 && !epilogue.operands.contains(sums[0]) ? sums[0] : nil
        case .eltwise, .batchNorm: return 0
        case .binary:
            return node.inputTypes[0]?.shape != nil && node.inputTypes[0]?.shape == node.outputTypes[0].shape ? 0 : nil
        case .pool: return nil
        }
    }

    public func makeKernel(_ node: KernelNode) throws -> any CPUKernel {
        let kind: Kind
        do {
            kind = try Self.kind(node)
        } catch let error as EmberError where error.code == .unsupported {
            throw EmberError(.unsupported, "[onednn] \(error.message)", at: node.location)
        }
        let builder: any PlanBuilder
        do {
            switch kind {
            case .conv(let epilogue): builder = try ConvBuilder(node, epilogue)
            case .matmul(let epilogue): builder = try MatMulBuilder(node, epilogue)
            case .pool: builder = try PoolBuilder(node)
            case .eltwise(let operations): builder = EltwiseBuilder(node, operations)
            case .binary: builder = BinaryBuilder(node)
            case .batchNorm(let epsilon): builder = BatchNormBuilder(node, epsilon: epsilon)
            }
        } catch let error as EmberError where error.code == .unsupported {
            throw EmberError(.unsupported, "[onednn] \(error.message)", at: node.location)
        }
        return try OneDNNKernel(builder, node: node)
    }

    /// A kernel that converts f32 values of `type` from one layout to the other.
    public func conversion(type: TensorType, from: CPULayout, to: CPULayout) -> (any CPUKernel)? {
        try? Self.conversion(type: type, from: from, to: to)
    }

    public static func conversion(type: TensorType, from: CPULayout, to: CPULayout) throws -> any CPUKernel {
        guard OneDNN.status.isAvailable else { throw EmberError(.unsupported, "[onednn] \(OneDNN.status)") }
        guard type.dtype == .f32 else { throw EmberError(.unsupported, "[onednn] layout conversion of \(type.dtype), expected f32") }
        for layout in [from, to] where !layout.allows(rank: type.rank ?? 0) {
            throw EmberError(.unsupported, "[onednn] layout \(layout) for \(type)")
        }
        let node = KernelNode(
            op: Identity(), name: "\(from) to \(to)", inputTypes: [type], outputTypes: [type], inputLayouts: [from], outputLayouts: [to])
        return try OneDNNKernel(ReorderBuilder(from: from, to: to), node: node)
    }

    /// Whether oneDNN would run `node` where the library is loaded: the decision alone, the same
    /// on every machine (for listings such as `ember ops`).
    public static func wouldSupport(_ node: KernelNode) -> KernelSupport {
        do {
            _ = try kind(node, whereAvailable: true)
            return .supported
        } catch let error as EmberError where error.code == .unsupported {
            return .unsupported(error.message)
        } catch {
            return .unsupported("\(error)")
        }
    }

    /// What oneDNN does with `node`, or why it does not run it.
    static func kind(_ node: KernelNode, whereAvailable: Bool = false) throws -> Kind {
        guard whereAvailable || OneDNN.status.isAvailable else { throw EmberError(.unsupported, "\(OneDNN.status)") }
        let op = node.op
        let families: [any Operator.Type] = [
            FusedEpilogue.self, Conv.self, ConvTranspose.self, Gemm.self, MatMul.self, Linear.self, MaxPool.self, AveragePool.self, GlobalMaxPool.self,
            GlobalAveragePool.self, Add.self, Sub.self, Mul.self, Div.self, BatchNorm.self, Clip.self, Pow.self,
        ]
        let eltwise = Eltwise.of(op, others: [])
        if case .failure = eltwise, !families.contains(where: { $0 == Swift.type(of: op) }) {
            throw EmberError(.unsupported, "no oneDNN kernel for \(op.name)")
        }
        for case let type? in node.inputTypes where type.dtype != .f32 {
            throw EmberError(.unsupported, "input of \(type.dtype); oneDNN kernels run f32")
        }
        guard node.outputTypes.count == 1, node.outputTypes[0].dtype == .f32 else {
            throw EmberError(.unsupported, "expected one f32 output")
        }
        for case let type? in node.inputTypes + node.outputTypes where (type.rank ?? 0) > Int(DNNL_MAX_NDIMS) {
            throw EmberError(.unsupported, "rank above \(DNNL_MAX_NDIMS)")
        }
        switch op {
        case is FusedEpilogue, is Conv, is ConvTranspose, is Gemm, is MatMul, is Linear:
            let epilogue = try Epilogue(node)
            switch epilogue.anchor {
            case let transposed as ConvTranspose:
                if !transposed.outputShape.isEmpty { throw EmberError(.unsupported, "conv_transpose with output_shape") }
                if ![.notSet, .valid].contains(transposed.window.autoPad) {
                    throw EmberError(.unsupported, "conv_transpose with auto_pad SAME_UPPER or SAME_LOWER")
                }
                if let rank = epilogue.operands[0].flatMap({ node.inputTypes[$0]?.rank }), !(3...5).contains(rank) {
                    throw EmberError(.unsupported, "conv_transpose of rank \(rank); oneDNN runs 1-D to 3-D convolutions")
                }
                return .conv(epilogue)
            case is Conv:
                if let rank = epilogue.operands[0].flatMap({ node.inputTypes[$0]?.rank }), !(3...5).contains(rank) {
                    throw EmberError(.unsupported, "conv of rank \(rank); oneDNN runs 1-D to 3-D convolutions")
                }
                return .conv(epilogue)
            case let gemm as Gemm:
                if epilogue.operands.count > 2, let c = epilogue.operands[2], gemm.beta != 0, gemm.beta != 1, node.constants[c] == nil {
                    throw EmberError(.unsupported, "gemm with beta \(gemm.beta) and a computed C")
                }
                return .matmul(epilogue)
            case is MatMul, is Linear:
                return .matmul(epilogue)
            default:
                throw EmberError(.unsupported, "fused_epilogue anchored on \(epilogue.anchor.name); oneDNN fuses conv, conv_transpose, gemm, matmul and linear")
            }
        case is MaxPool, is AveragePool, is GlobalMaxPool, is GlobalAveragePool:
            if let rank = node.inputTypes[0]?.rank, !(3...5).contains(rank) { throw EmberError(.unsupported, "pooling of rank \(rank)") }
            if let pool = op as? AveragePool, pool.countIncludePad, pool.window.ceilMode {
                throw EmberError(.unsupported, "average_pool with both count_include_pad and ceil_mode")
            }
            return .pool
        case _ where op is BatchNorm || op is Clip || op.traits.contains(.elementwise):
            // Alone, an elementwise op gains from oneDNN only on the channel-blocked tensors between
            // convolutions; elsewhere Ember's own kernels run it.
            guard let rank = node.outputTypes[0].rank, (3...5).contains(rank), node.outputTypes[0].shape?.count == rank,
                node.outputTypes[0].knownShape.map({ !$0.contains(0) }) ?? true
            else {
                throw EmberError(.unsupported, "\(op.name) outside an image-like (rank 3 to 5, non-empty) tensor")
            }
            return try elementwiseKind(node)
        default:
            throw EmberError(.unsupported, "no oneDNN kernel for \(op.name)")
        }
    }

    /// The kind of an elementwise op or batch norm run alone.
    private static func elementwiseKind(_ node: KernelNode) throws -> Kind {
        let op = node.op
        switch op {
        case is Add, is Sub, is Mul, is Div:
            guard let output = node.outputTypes[0].shape else { throw EmberError(.unsupported, "\(op.name) of unknown shape") }
            let shapes = node.inputTypes.map { $0?.shape }
            let commutative = op is Add || op is Mul
            guard shapes[0] == output || commutative && shapes[1] == output else {
                throw EmberError(.unsupported, "\(op.name) whose first operand is broadcast to the output")
            }
            return .binary
        case let bn as BatchNorm:
            guard node.inputTypes.count == 5, node.inputTypes.allSatisfy({ $0 != nil }) else { throw EmberError(.unsupported, "batch_norm without its 5 inputs") }
            return .batchNorm(epsilon: bn.epsilon)
        default:
            let others: [Operand] = node.inputTypes.indices.dropFirst().map { i in
                guard let type = node.inputTypes[i] else { return .absent }
                return node.constants[i].map { .constant($0) } ?? .computed(type)
            }
            switch Eltwise.of(op, others: others) {
            case .success(let operations): return .eltwise(operations)
            case .failure(let error): throw error
            }
        }
    }
}
