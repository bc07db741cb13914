import EmberDNNL
import EmberIR
import Foundation

/// Where a primitive argument's memory comes from during a run.
enum Source {
    case input(Int)
    case output(Int)
    /// Memory the plan owns: reordered weights, constant operands.
    case buffer(AlignedBuffer)
    /// Scratch memory holding the primitive's result until the plan's reorder converts it.
    case intermediate
    /// Scratch memory holding the plan's staged input at this index, reordered into the format
    /// the primitive chose before it runs.
    case staged(Int)
}

/// An argument the primitive reads in another format than the node's memory holds it: reordered
/// from `source` into scratch memory before each run.
struct StagedInput {
    var source: Source
    var reorder: Primitive
    var from: dnnl_memory_desc_t
    var to: dnnl_memory_desc_t
    /// Whether it fills the `.intermediate` result (a sum post-op's residual) rather than memory of its own.
    var intoIntermediate = false
}

/// One primitive argument: its kind (`DNNL_ARG_SRC`...), its descriptor and its memory.
struct Binding {
    var arg: Int32
    var desc: dnnl_memory_desc_t
    var source: Source
}

/// A primitive made for one set of concrete input shapes, with the memory of each argument.
final class Plan: @unchecked Sendable {
    let primitive: Primitive
    let bindings: [Binding]
    /// The input copied into output 0 before the primitive runs (the residual of a sum post-op),
    /// unless the planner already placed output 0 in that input's buffer.
    let prefill: Int?
    /// A reorder from the `.intermediate` result into output 0, for primitives that are fast
    /// only when their result has their input's layout.
    let reorder: (primitive: Primitive, from: dnnl_memory_desc_t, to: dnnl_memory_desc_t)?
    /// Arguments reordered into scratch memory before the primitive runs, in order (the last may
    /// fill the `.intermediate` result, for a sum post-op's residual).
    let staged: [StagedInput]
    /// Where each part of a run's scratch memory starts.
    let scratchLayout: ScratchLayout

    init(
        _ primitive: Primitive, _ bindings: [Binding], prefill: Int? = nil,
        reorder: (primitive: Primitive, from: dnnl_memory_desc_t, to: dnnl_memory_desc_t)? = nil,
        staged: [StagedInput] = []
    ) {
        self.primitive = primitive
        self.bindings = bindings
        self.prefill = prefill
        self.reorder = reorder
        self.staged = staged
        scratchLayout = ScratchLayout(primitive: primitive, reorder: reorder, staged: staged)
    }

    /// The oneDNN implementations a run of this plan executes: the primitive's, then each reorder's.
    var implementations: [String] {
        [primitive.implementation] + staged.map { "reorder " + $0.reorder.implementation } + (reorder.map { ["reorder " + $0.primitive.implementation] } ?? [])
    }

    /// Scratch bytes a run needs: the primitive's scratchpad, then the intermediate result, each
    /// staged input, and the reorders' scratchpad (they run one at a time), each 64-byte aligned.
    struct ScratchLayout {
        var total: Int
        var intermediate = 0
        var staged: [Int] = []
        var reorderScratch = 0

        init(primitive: Primitive, reorder: (primitive: Primitive, from: dnnl_memory_desc_t, to: dnnl_memory_desc_t)?, staged: [StagedInput]) {
            func aligned(_ n: Int) -> Int { (n + 63) / 64 * 64 }
            guard reorder != nil || !staged.isEmpty else {
                total = primitive.scratchpadBytes
                return
            }
            var offset = aligned(primitive.scratchpadBytes)
            intermediate = offset
            if let reorder { offset += aligned(MemoryDesc.size(reorder.from)) }
            for input in staged {
                self.staged.append(input.intoIntermediate ? intermediate : offset)
                if !input.intoIntermediate { offset += aligned(MemoryDesc.size(input.to)) }
            }
            reorderScratch = offset
            let reorders = staged.map(\.reorder) + (reorder.map { [$0.primitive] } ?? [])
            total = offset + (reorders.map(\.scratchpadBytes).max() ?? 0)
        }
    }
}

/// Makes the plan of one node for concrete input shapes (nil for absent inputs).
protocol PlanBuilder: Sendable {
    func plan(_ shapes: [[Int]?]) throws -> Plan

    /// A plan made only to pack the weights when the kernel is built: it packs them in a format
    /// they can be reordered back from.
    func packingPlan(_ shapes: [[Int]?]) throws -> Plan

    /// The constant input the plans read from a packed copy of their own, if any.
    var packed: (input: Int, weights: PackedWeights)? { get }
}

extension PlanBuilder {
    var packed: (input: Int, weights: PackedWeights)? { nil }

    func packingPlan(_ shapes: [[Int]?]) throws -> Plan { try plan(shapes) }
}

/// A node run by oneDNN: a plan per concrete input shape, made on first use (at once when every
/// shape is known and no weights are packed) and cached, the most recently used kept.
final class OneDNNKernel: CPUKernel, @unchecked Sendable {
    private let builder: any PlanBuilder
    private let location: String
    private let lock = NSLock()
    private var plans = BoundedCache<[[Int]?], Plan>(capacity: PlanCacheCapacity.current)

    init(_ builder: any PlanBuilder, node: KernelNode) throws {
        self.builder = builder
        location = node.location
        if let (_, weights) = builder.packed {
            // Weights are packed now (for a stand-in size 1 of each symbolic dim), in a format they
            // can be had back from, so the program can let their plain copy go; weights an engine
            // file stored packed are not. Plans for runs are made on first use: one whose
            // primitive wants another format reorders the packed copy.
            guard weights.stored == nil else { return }
            let stand = node.inputTypes.map { type in type?.shape.map { dims in dims.map { $0.value ?? 1 } } }
            _ = try? builder.packingPlan(stand)
            return
        }
        // Every shape known (and no empty value, which a run skips): make the plan now.
        let known = node.inputTypes.map { $0.map { $0.knownShape } }
        let allKnown = known.allSatisfy { type in type.map { $0 != nil } ?? true }
        let empty = node.outputTypes.contains { $0.knownShape?.contains(0) ?? false }
        if allKnown, !empty {
            _ = try plan(for: known.map { $0 ?? nil })
        }
    }

    var ownedConstants: [Int] {
        guard let (input, weights) = builder.packed, weights.isPacked else { return [] }
        return [input]
    }

    func restoredConstant(at position: Int) throws -> Tensor {
        guard let (input, weights) = builder.packed, input == position else {
            throw EmberError(.internalError, "[onednn] input \(position) is not a packed weight", at: location)
        }
        return try weights.restored()
    }

    func packedConstant(at position: Int) -> PackedConstant? {
        guard let (input, weights) = builder.packed, input == position, let stored = weights.stored else { return nil }
        return PackedConstant(
            format: MemoryDesc.encoded(stored.format), plain: MemoryDesc.encoded(stored.plainDesc),
            bytes: UnsafeRawBufferPointer(start: stored.buffer.pointer, count: stored.buffer.byteCount), owner: stored.buffer)
    }

    /// The plan for `shapes`, made under the lock when it is not cached yet.
    func plan(for shapes: [[Int]?]) throws -> Plan {
        lock.lock()
        defer { lock.unlock() }
        if let plan = plans[shapes] { return plan }
        do {
            let plan = try builder.plan(shapes)
            plans[shapes] = plan
            return plan
        } catch let error as EmberError where error.code == .unsupported {
            throw EmberError(.unsupported, "[onednn] \(error.message)", at: location)
        } catch let error as EmberError {
            throw error.located(location)
        }
    }

    /// The implementation oneDNN chose for `shapes`, for reports and tests.
    func implementation(for shapes: [[Int]?]) throws -> String { try plan(for: shapes).primitive.implementation }

    func implementation(for shapes: [[Int]?]) -> KernelImplementation {
        do {
            let plan = try plan(for: shapes)
            return KernelImplementation(plan.implementations.joined(separator: " + "), isReference: plan.primitive.isReference)
        } catch {
            return KernelImplementation("onednn (no plan for these shapes: \(error))")
        }
    }

    func run(_ inputs: [TensorView?], _ outputs: [TensorView], _ context: KernelContext) throws {
        guard outputs.allSatisfy({ $0.count > 0 }) else { return }
        let plan = try plan(for: inputs.map { $0?.shape })
        let stream = try context.state { try Stream(try OneDNN.requireEngine()) }
        let bound = try context.state { BoundPlans() }.arguments(for: plan)
        if let r = plan.prefill, let residual = inputs[r], residual.data != outputs[0].data {
            outputs[0].data.copyMemory(from: residual.data, byteCount: outputs[0].byteCount)
        }
        let layout = plan.scratchLayout
        let scratch = layout.total > 0 ? context.scratch(bytes: layout.total) : nil
        func pointer(_ source: Source) throws -> UnsafeMutableRawPointer {
            switch source {
            case .input(let i):
                guard let view = inputs[i] else { throw EmberError(.invalidArgument, "[onednn] input \(i) is missing", at: location) }
                return view.data
            case .output(let i): return outputs[i].data
            case .buffer(let buffer): return buffer.pointer
            case .intermediate, .staged:
                guard let scratch else { throw EmberError(.internalError, "[onednn] no scratch for an intermediate result", at: location) }
                if case .staged(let k) = source { return scratch + layout.staged[k] }
                return scratch + layout.intermediate
            }
        }
        var pointers: [UnsafeMutableRawPointer] = []
        pointers.reserveCapacity(plan.bindings.count)
        for binding in plan.bindings { pointers.append(try pointer(binding.source)) }
        do {
            for (k, input) in plan.staged.enumerated() {
                guard let scratch else { break }
                try bound.staged[k].execute(
                    input.reorder, [try pointer(input.source), scratch + layout.staged[k]], scratch: scratch + layout.reorderScratch, stream: stream)
            }
            try bound.main.execute(plan.primitive, pointers, scratch: scratch, stream: stream)
            if let reorder = plan.reorder, let conversion = bound.reorder, let scratch {
                try conversion.execute(
                    reorder.primitive, [scratch + layout.intermediate, outputs[0].data], scratch: scratch + layout.reorderScratch, stream: stream)
            }
        } catch let error as EmberError {
            throw error.located(location)
        }
    }
}

/// One execution context's bound arguments for each plan it has run. Each entry keeps its plan
/// alive, so no other plan can take its identity.
final class BoundPlans {
    private var arguments = BoundedCache<ObjectIdentifier, (plan: Plan, main: BoundArguments, reorder: BoundArguments?, staged: [BoundArguments])>(
        capacity: PlanCacheCapacity.current)

    func arguments(for plan: Plan) throws -> (main: BoundArguments, reorder: BoundArguments?, staged: [BoundArguments]) {
        if let bound = arguments[ObjectIdentifier(plan)] { return (bound.main, bound.reorder, bound.staged) }
        let main = try BoundArguments(plan.primitive, kinds: plan.bindings.map(\.arg), descs: plan.bindings.map(\.desc))
        let reorder = try plan.reorder.map {
            try BoundArguments($0.primitive, kinds: [DNNL_ARG_SRC, DNNL_ARG_DST], descs: [$0.from, $0.to])
        }
        let staged = try plan.staged.map { try BoundArguments($0.reorder, kinds: [DNNL_ARG_SRC, DNNL_ARG_DST], descs: [$0.from, $0.to]) }
        arguments[ObjectIdentifier(plan)] = (plan, main, reorder, staged)
        return (main, reorder, staged)
    }
}
